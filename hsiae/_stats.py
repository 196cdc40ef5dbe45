"""Streaming per-column moments: mean and squared deviations of many rows, never held whole."""

import numpy as np

# Rows per block of the streamed computations: 8,192 rows of 512 float64 values are 32 MB.
ROW_BLOCK = 8192


class RunningMoments:
    """Per-column count, mean and sum of squared deviations, updated block by block.

    Blocks are merged with the pairwise update of Chan, Golub and LeVeque
    (1979) in float64, which stays accurate on data far from zero, where a
    running sum of squares would lose the variance.
    """

    def __init__(self, n_columns):
        self.count = 0
        self.mean = np.zeros(n_columns)
        self.m2 = np.zeros(n_columns)

    def update(self, block):
        """Add the rows of ``block`` (2-D, any float dtype)."""
        n_b = len(block)
        if n_b == 0:
            return self
        block = np.array(block, dtype=np.float64)  # a copy: centred in place below
        mean_b = block.mean(axis=0)
        block -= mean_b
        m2_b = np.einsum("ij,ij->j", block, block)
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / total)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n_b / total)
        self.count = total
        return self

    @property
    def std(self):
        """Population standard deviation (``ddof=0``, as ``numpy.std``); 0 without rows."""
        return np.sqrt(self.m2 / self.count) if self.count else np.zeros_like(self.m2)

"""Checks of the arrays the estimators and functions take, shared so that every one words them alike."""

import numpy as np


def refuse_cube(X, who):
    """Refuse a 3-D cube passed where spectra as rows are expected, saying how to turn one into the other.

    Passing the cube itself is the usual slip; scikit-learn's own message
    ("Found array with dim 3") says neither what was expected nor what to do.
    """
    if hasattr(X, "shape"):
        shape = X.shape
    elif isinstance(X, (list, tuple)):
        try:
            shape = np.shape(X)
        except ValueError:  # ragged: scikit-learn's validation says so
            return
    else:  # other array-likes: scikit-learn's validation converts them
        return
    if len(shape) == 3:
        raise ValueError(
            f"{who} takes spectra as rows, an array of shape (n_pixels, n_bands), but got a 3-D array of "
            f"shape {tuple(shape)}; for a cube of shape (rows, cols, bands) pass "
            f"cube.reshape(-1, cube.shape[-1]), or hsiae.pixel_spectra(cube) to leave out its no-data pixels."
        )

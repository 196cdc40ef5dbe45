"""Quality measures for segmentations, spectra and denoising."""

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "match_clusters",
    "cluster_accuracy",
    "spectral_angles",
    "mean_spectral_angle",
    "psnr",
]


def _labelled(y_true, y_pred, ignore):
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true has {y_true.size} labels but y_pred has {y_pred.size}; pass one label per pixel in both."
        )
    if ignore is not None:
        keep = y_true != ignore
        y_true, y_pred = y_true[keep], y_pred[keep]
    if y_true.size == 0:
        raise ValueError("No labelled pixel to score: every y_true value equals the ignored label.")
    return y_true, y_pred


def match_clusters(y_true, y_pred, *, ignore=None):
    """Best one-to-one matching of predicted clusters to classes (Hungarian).

    Parameters
    ----------
    y_true : array-like of shape (n_pixels,)
        Ground-truth classes.
    y_pred : array-like of shape (n_pixels,)
        Predicted clusters.
    ignore : int or None, default=None
        Class value in ``y_true`` to leave out (e.g. 0 for unlabelled).

    Returns
    -------
    mapping : dict
        ``{cluster: class}`` for each matched cluster. With more clusters
        than classes, the unmatched clusters are missing.
    """
    y_true, y_pred = _labelled(y_true, y_pred, ignore)
    classes, t = np.unique(y_true, return_inverse=True)
    clusters, p = np.unique(y_pred, return_inverse=True)
    counts = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(counts, (p, t), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return {clusters[r].item(): classes[c].item() for r, c in zip(rows, cols)}


def cluster_accuracy(y_true, y_pred, *, ignore=None):
    """Overall accuracy after the best one-to-one matching of clusters to classes.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_pixels,)
    ignore : int or None, default=None
        Class value in ``y_true`` to leave out (e.g. 0 for unlabelled).

    Returns
    -------
    accuracy : float
        Share of labelled pixels whose matched cluster is their class.

    Examples
    --------
    >>> from hsiae.metrics import cluster_accuracy
    >>> cluster_accuracy([1, 1, 2, 2], [5, 5, 3, 3])
    1.0
    """
    mapping = match_clusters(y_true, y_pred, ignore=ignore)
    y_true, y_pred = _labelled(y_true, y_pred, ignore)
    hits = sum(np.sum((y_pred == c) & (y_true == k)) for c, k in mapping.items())
    return float(hits / y_true.size)


def spectral_angles(A, B):
    """Spectral angle (radians) between matching spectra of ``A`` and ``B`` (along the last axis).

    Computed as Kahan's ``2 atan2(|u - v|, |u + v|)`` on the unit vectors,
    which stays accurate for small angles, where the arccos of the cosine
    loses half the digits (spectra 1e-9 rad apart come out as 1e-9, not 0).

    Parameters
    ----------
    A, B : array-like of shape (..., n_bands)
        Spectra to compare, for example ``(n_spectra, n_bands)`` or a cube
        ``(n_rows, n_cols, n_bands)``.

    Returns
    -------
    angles : ndarray of shape (...)
        In ``[0, pi]``; 0 for two all-zero spectra, ``pi / 2`` when one is.

    See Also
    --------
    hsiae.losses.spectral_angle : The differentiable angle the encoder trains on.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.shape != B.shape:
        raise ValueError(f"A has shape {A.shape} but B has {B.shape}; pass spectra of the same shape.")
    unit = []
    for v in (A, B):
        norm = np.linalg.norm(v, axis=-1, keepdims=True)
        unit.append(np.divide(v, norm, out=np.zeros_like(v), where=norm > 0))
    return 2.0 * np.arctan2(np.linalg.norm(unit[0] - unit[1], axis=-1),
                            np.linalg.norm(unit[0] + unit[1], axis=-1))
def mean_spectral_angle(A, B):
    """Mean of :func:`spectral_angles` (radians)."""
    return float(np.mean(spectral_angles(A, B)))


def psnr(clean, estimate, *, data_range=None):
    """Peak signal-to-noise ratio (dB) of ``estimate`` against ``clean``.

    Parameters
    ----------
    clean, estimate : array-like of the same shape
    data_range : float or None, default=None
        Peak-to-peak range of the signal; by default ``clean.max() - clean.min()``.

    Returns
    -------
    psnr : float
        ``inf`` when the two are equal.
    """
    clean = np.asarray(clean, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if clean.shape != estimate.shape:
        raise ValueError(
            f"clean has shape {clean.shape} but estimate has {estimate.shape}; pass arrays of the same shape."
        )
    if data_range is None:
        data_range = float(clean.max() - clean.min())
    mse = float(np.mean((clean - estimate) ** 2))
    if mse == 0:
        return float("inf")
    return float(10 * np.log10(data_range**2 / mse))

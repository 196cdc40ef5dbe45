"""Quality measures for segmentations, spectra, denoising and unmixing."""

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "match_clusters",
    "cluster_accuracy",
    "spectral_angles",
    "mean_spectral_angle",
    "psnr",
    "match_endmembers",
    "endmember_angles",
    "mean_endmember_angle",
    "abundance_rmse",
    "reconstruction_rmse",
    "reconstruction_sam",
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
    return 2.0 * np.arctan2(np.linalg.norm(unit[0] - unit[1], axis=-1), np.linalg.norm(unit[0] + unit[1], axis=-1))


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


# -- unmixing ---------------------------------------------------------------------------------


def _endmember_rows(E, what):
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array of shape (n_endmembers, n_bands), got shape {E.shape}.")
    return E


def match_endmembers(endmembers_true, endmembers_pred):
    """Best one-to-one matching of estimated endmembers to true ones, by spectral angle (Hungarian).

    Unmixing finds endmembers in an arbitrary order; before they (and their
    abundances) are scored, each true endmember is paired with the estimate
    that minimises the sum of the spectral angles over all pairs.

    Parameters
    ----------
    endmembers_true : array-like of shape (n_endmembers, n_bands)
        Reference spectra as rows (``scene.endmembers.T`` for a scene from
        :func:`hsiae.load_scene`).
    endmembers_pred : array-like of shape (n_estimated, n_bands)
        Estimated spectra as rows (``AEUnmixer.endmembers_``), at least as
        many as the true ones.

    Returns
    -------
    order : ndarray of int64 of shape (n_endmembers,)
        ``endmembers_pred[order[i]]`` is the estimate matched to true
        endmember ``i``; ``abundances_pred[:, order]`` aligns abundances.
    """
    T = _endmember_rows(endmembers_true, "endmembers_true")
    P = _endmember_rows(endmembers_pred, "endmembers_pred")
    if T.shape[1] != P.shape[1]:
        raise ValueError(
            f"endmembers_true has {T.shape[1]} bands but endmembers_pred has {P.shape[1]}; pass both "
            f"as rows (n_endmembers, n_bands) over the same bands (load_scene's are columns: use .T)."
        )
    if P.shape[0] < T.shape[0]:
        raise ValueError(
            f"endmembers_pred has {P.shape[0]} endmembers, fewer than the {T.shape[0]} true ones; "
            f"estimate at least as many as there are to match."
        )
    angles = spectral_angles(np.repeat(T, len(P), axis=0), np.tile(P, (len(T), 1))).reshape(len(T), len(P))
    rows, cols = linear_sum_assignment(angles)
    return cols[np.argsort(rows)].astype(np.int64)


def endmember_angles(endmembers_true, endmembers_pred, *, order=None):
    """Spectral angle (radians) of each true endmember to its matched estimate.

    Parameters
    ----------
    endmembers_true : array-like of shape (n_endmembers, n_bands)
    endmembers_pred : array-like of shape (n_estimated, n_bands)
    order : array-like of int or None, default=None
        The matching; None computes :func:`match_endmembers`.

    Returns
    -------
    angles : ndarray of shape (n_endmembers,)
        Scale invariant, so it compares ground truth that is normalised
        (Samson's endmembers have a maximum of 1) with estimates in the data's units.
    """
    T = _endmember_rows(endmembers_true, "endmembers_true")
    P = _endmember_rows(endmembers_pred, "endmembers_pred")
    if order is None:
        order = match_endmembers(T, P)
    return spectral_angles(T, P[np.asarray(order)])


def mean_endmember_angle(endmembers_true, endmembers_pred, *, order=None):
    """Mean of :func:`endmember_angles` (radians), the field's mean spectral angle distance (mSAD)."""
    return float(np.mean(endmember_angles(endmembers_true, endmembers_pred, order=order)))


def abundance_rmse(abundances_true, abundances_pred, *, order=None, per_endmember=False):
    """Root mean squared error of abundances, after matching the estimated endmembers to the true ones.

    Parameters
    ----------
    abundances_true : array-like of shape (n_pixels, n_endmembers) or (n_rows, n_cols, n_endmembers)
    abundances_pred : array-like of shape (n_pixels, n_estimated) or (n_rows, n_cols, n_estimated)
        In the same pixel order as ``abundances_true``.
    order : array-like of int or None, default=None
        Column ``order[i]`` of the estimate is matched to true endmember
        ``i``; pass the :func:`match_endmembers` of the endmembers, so that
        both metrics use the same matching. None matches the columns by their
        squared error (Hungarian), the most favourable matching.
    per_endmember : bool, default=False
        Return one RMSE per true endmember instead of the overall one.

    Returns
    -------
    rmse : float or ndarray of shape (n_endmembers,)
        Over all pixels and endmembers: ``sqrt(mean((A - A_hat) ** 2))``.
    """
    T = np.asarray(abundances_true, dtype=np.float64)
    P = np.asarray(abundances_pred, dtype=np.float64)
    T = T.reshape(-1, T.shape[-1])
    P = P.reshape(-1, P.shape[-1])
    if T.shape[0] != P.shape[0]:
        raise ValueError(
            f"abundances_true has {T.shape[0]} pixels but abundances_pred has {P.shape[0]}; pass the "
            f"abundances of the same pixels, in the same order."
        )
    if order is None:
        if P.shape[1] < T.shape[1]:
            raise ValueError(f"abundances_pred has {P.shape[1]} endmembers, fewer than the {T.shape[1]} true ones.")
        cost = ((T[:, :, None] - P[:, None, :]) ** 2).mean(axis=0)
        rows, cols = linear_sum_assignment(cost)
        order = cols[np.argsort(rows)]
    order = np.asarray(order)
    if order.shape != (T.shape[1],):
        raise ValueError(
            f"order must give one estimated column per true endmember ({T.shape[1]}), got shape {order.shape}."
        )
    per = np.sqrt(np.mean((T - P[:, order]) ** 2, axis=0))
    if per_endmember:
        return per
    return float(np.sqrt(np.mean(per**2)))


def reconstruction_rmse(X, X_hat):
    """Root mean squared error between spectra and their reconstructions, over all pixels and bands."""
    X = np.asarray(X, dtype=np.float64)
    X_hat = np.asarray(X_hat, dtype=np.float64)
    if X.shape != X_hat.shape:
        raise ValueError(f"X has shape {X.shape} but X_hat has {X_hat.shape}; pass arrays of the same shape.")
    return float(np.sqrt(np.mean((X - X_hat) ** 2)))


def reconstruction_sam(X, X_hat):
    """Mean spectral angle (radians) between spectra and their reconstructions."""
    return mean_spectral_angle(X, X_hat)

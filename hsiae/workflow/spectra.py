"""Spectra of a fitted pipeline: decoded cluster centres, mean spectra of each cluster, denoised spectra."""

import numpy as np
from sklearn.utils.validation import check_array

from hsiae._checks import refuse_cube
from hsiae._stats import ROW_BLOCK, RunningMoments
from hsiae.workflow.recipes import pipeline_parts

__all__ = ["representative_spectra", "cluster_mean_spectra", "denoise"]


def _segmenter_with_means(pipe):
    """(head, segmenter) of a fitted pipeline whose segmenter has cluster centres ``means_``."""
    head, seg = pipeline_parts(pipe, segmenter="required")
    if not hasattr(seg, "means_"):
        raise TypeError(
            f"The pipeline's last step {type(seg).__name__} is not a clusterer with means_; "
            f"end the pipeline with a SpatialGMMSegmenter."
        )
    return head, seg


def representative_spectra(pipe):
    """One decoded spectrum per cluster, in the original bands and units.

    The cluster centres in latent space (``means_`` of the final segmenter)
    are decoded by the encoder and mapped back through the resampler.

    Parameters
    ----------
    pipe : Pipeline
        A fitted pipeline ``resampler -> encoder -> segmenter``.

    Returns
    -------
    spectra : ndarray of shape (n_clusters, n_bands)

    See Also
    --------
    cluster_mean_spectra : The average input spectrum of each cluster.

    Notes
    -----
    A decoded centre is what the model considers the typical spectrum of the
    cluster: smooth and noise-free, but shaped by the decoder, which can bend
    it where the cluster is spread out in latent space. The mean input
    spectrum is the plain average of the measured pixels: faithful to the
    data, noise averaged down, but blurred where a cluster mixes materials.
    Where both agree, the cluster is well described by the model.
    """
    head, seg = _segmenter_with_means(pipe)
    return head.inverse_transform(np.asarray(seg.means_))


def cluster_mean_spectra(pipe, X, labels=None, *, return_std=False):
    """Mean (and standard deviation) of the input spectra of each cluster.

    Parameters
    ----------
    pipe : Pipeline
        A fitted pipeline ending in a segmenter.
    X : array-like of shape (n_pixels, n_bands)
        The input spectra, in the original bands and units.
    labels : array-like of shape (n_pixels,), default=None
        Cluster of each row; by default ``pipe.predict(X)``.
    return_std : bool, default=False
        Also return the per-band standard deviation.

    Returns
    -------
    means : ndarray of shape (n_clusters, n_bands)
        Rows of empty clusters are NaN-free zeros.
    std : ndarray of shape (n_clusters, n_bands)
        Only with ``return_std=True``.

    See Also
    --------
    representative_spectra : The decoded cluster centres.
    """
    _, seg = _segmenter_with_means(pipe)
    refuse_cube(X, "cluster_mean_spectra")
    X = check_array(X, dtype=[np.float64, np.float32])
    labels = pipe.predict(X) if labels is None else np.asarray(labels).ravel()
    if labels.shape[0] != X.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} values but X has {X.shape[0]} rows; pass one per row.")
    k = seg.means_.shape[0]
    _check_labels(labels, k)
    labels = labels.astype(np.intp, copy=False)
    # Streamed over blocks of rows: a copy of a large cluster's spectra (and numpy.std's
    # deviations from their mean) would each be as large as that part of the image.
    moments = [RunningMoments(X.shape[1]) for _ in range(k)]
    for start in range(0, X.shape[0], ROW_BLOCK):
        block, block_labels = X[start : start + ROW_BLOCK], labels[start : start + ROW_BLOCK]
        for c in np.unique(block_labels):
            moments[c].update(block[block_labels == c])
    means = np.stack([m.mean for m in moments])
    std = np.stack([m.std for m in moments])
    return (means, std) if return_std else means


def _check_labels(labels, k):
    """Labels must be cluster indices 0..k-1: shifted or fractional ones would move spectra."""
    if labels.size == 0:
        return
    numeric = labels.dtype.kind in "iub" or (
        labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))
    )
    if not numeric or labels.min() < 0 or labels.max() >= k:
        found = (
            f"got values from {labels.min()} to {labels.max()}"
            if labels.dtype.kind in "iufb"
            else f"got dtype {labels.dtype}"
        )
        raise ValueError(
            f"labels must be integers in 0..{k - 1} (the segmenter's clusters), {found}; labels "
            f"read from a labels.tif written by hsiae are 1..{k} with 0 for no data: drop the "
            f"0s and subtract 1."
        )


def denoise(pipe, X):
    """Encode and decode spectra: ``pipe[:-1].inverse_transform(pipe[:-1].transform(X))``.

    Parameters
    ----------
    pipe : Pipeline
        A fitted pipeline; a final clusterer is skipped.
    X : array-like of shape (n_pixels, n_bands)

    Returns
    -------
    X_denoised : ndarray of shape (n_pixels, n_bands)
        In the original bands and units.
    """
    head = pipeline_parts(pipe).head
    return head.inverse_transform(head.transform(X))

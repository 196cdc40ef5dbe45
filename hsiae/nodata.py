"""No-data pixels of a cube: find them, train and segment without them, label them 0.

Real cubes have pixels without a measurement: NaN or infinite values, a fill
value (the file's no-data value, in every band) or an explicit mask. They
must neither train the encoder nor be scored, yet the spatial prior of
:class:`~hsiae.SpatialGMMSegmenter` needs a value at every pixel of the
image. :func:`pixel_spectra` splits a cube into its spectra, the mask of
usable pixels and a filled copy in which the unusable rows hold the mean
usable spectrum, so that they pass through the model harmlessly;
:func:`segment_cube` trains on the usable pixels only, segments the whole
image and labels the others 0.
"""

import logging
import math

import numpy as np
from sklearn.base import ClusterMixin
from sklearn.pipeline import Pipeline

from hsiae._stats import ROW_BLOCK
from hsiae.pipeline import SegmentationPipeline, _fit_segmenter

__all__ = ["pixel_spectra", "segment_cube", "segment_pixels"]

logger = logging.getLogger(__name__)

def _usable_rows(X, valid):
    """``X[valid]``, but ``X`` itself, not a copy, when every row is usable.

    Boolean indexing always copies; for a cube without no-data pixels that
    copy would double the memory its spectra take.
    """
    return X if valid.all() else X[valid]


def pixel_spectra(cube, *, nodata=None, mask=None):
    """Spectra of a cube, the mask of usable pixels, and the spectra with no-data filled.

    A pixel is unusable when any of its bands is NaN or infinite, when every
    band equals ``nodata``, or where ``mask`` is False.

    Parameters
    ----------
    cube : array-like of shape (n_rows, n_cols, n_bands)
        The cube, in any numeric dtype (e.g. from :func:`hsiae.read_cube`).
    nodata : float or None, default=None
        Fill value marking missing pixels (``CubeInfo.nodata``); NaN is the
        same as None, since NaN pixels are always unusable.
    mask : array-like of bool of shape (n_rows, n_cols), default=None
        True where a pixel may be used; None uses all that are not no-data.

    Returns
    -------
    X : ndarray of shape (n_rows * n_cols, n_bands), float32
        One spectrum per pixel, row-major.
    valid : ndarray of bool of shape (n_rows * n_cols,)
        True for usable pixels.
    filled : ndarray of shape (n_rows * n_cols, n_bands), float32
        ``X`` with every unusable row replaced by the mean usable spectrum
        (``X`` itself when every pixel is usable).

    Raises
    ------
    ValueError
        If ``cube`` is not 3-D, ``mask`` does not match its image, or no
        pixel is usable.
    """
    cube = np.asarray(cube)
    if cube.ndim != 3 or cube.dtype.kind not in "biuf" or cube.size == 0:
        raise ValueError(
            f"Expected a non-empty numeric cube of shape (n_rows, n_cols, n_bands), got an array "
            f"of shape {cube.shape} and dtype {cube.dtype}; reshape spectra to the image first."
        )
    H, W, B = cube.shape
    X = np.ascontiguousarray(cube, dtype=np.float32).reshape(H * W, B)
    valid = np.empty(H * W, dtype=bool)
    fill = nodata is not None and not math.isnan(nodata)
    flat = cube.reshape(H * W, B)
    # In blocks of rows: a mask of the whole cube would be one byte per value (57 MB for a
    # 550 x 400 x 270 cube), the same again for the comparison with the fill value.
    for start in range(0, H * W, ROW_BLOCK):
        rows = slice(start, start + ROW_BLOCK)
        valid[rows] = np.all(np.isfinite(X[rows]), axis=1)
        if fill:
            valid[rows] &= ~np.all(flat[rows] == nodata, axis=1)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (H, W) or mask.dtype != bool:
            raise ValueError(
                f"mask must be a boolean array of shape {(H, W)} (the cube's image), got an "
                f"array of shape {mask.shape} and dtype {mask.dtype}."
            )
        valid &= mask.ravel()
    n_bad = int((~valid).sum())
    if n_bad == valid.size:
        raise ValueError(
            "every pixel of the cube is no-data or non-finite; there is nothing to learn from"
        )
    filled = X
    if n_bad:
        logger.info("%d of %d pixels are no-data or non-finite: left out, labelled 0",
                    n_bad, valid.size)
        filled = X.copy()
        filled[~valid] = X[valid].mean(axis=0)
    return X, valid, filled


def segment_pixels(head, segmenter, X, valid, filled, *, fit_head=True):
    """Fit ``head`` on the usable pixels, then ``segmenter`` on every pixel's code.

    Parameters
    ----------
    head : Pipeline
        Resampler and encoder; fitted here when ``fit_head``.
    segmenter : SpatialGMMSegmenter
        Fitted here on the codes of every pixel (the spatial prior needs the
        whole image) with the unusable pixels at ``sample_weight`` 0: their
        filled rows only hold the image's place and take no part in the
        mixture nor in their neighbours' spatial term.
    X, valid, filled : ndarray
        From :func:`pixel_spectra`.
    fit_head : bool, default=True
        False uses an already fitted head (say, from a saved model).

    Returns
    -------
    pipeline : Pipeline
        ``head``'s steps followed by the fitted segmenter.
    codes : ndarray of shape (n_pixels, zdims)
        Latent codes of ``filled``.
    labels : ndarray of int of shape (n_pixels,)
        Segments ``0 .. n_clusters - 1``, and -1 for unusable pixels (the
        convention of :func:`hsiae.write_labels`).
    """
    if fit_head:
        head.fit(_usable_rows(X, valid))
    codes = head.transform(filled)
    _fit_segmenter(segmenter, head, codes, sample_weight=valid.astype(np.float64))
    labels = segmenter.labels_.copy()
    labels[~valid] = -1
    pipeline = SegmentationPipeline(list(head.steps) + [("spatialgmmsegmenter", segmenter)])
    return pipeline, codes, labels


def segment_cube(pipe, cube, *, nodata=None, mask=None, fit=True):
    """Segment a cube, training and clustering on its usable pixels only.

    Parameters
    ----------
    pipe : Pipeline
        Resampler, encoder and a final segmenter (for example
        :func:`hsiae.make_segmentation_pipeline`) whose ``image_shape`` is the
        cube's image or None. The segmenter is always fitted; the resampler
        and encoder are fitted on the usable pixels when ``fit``.
    cube : array-like of shape (n_rows, n_cols, n_bands)
    nodata : float or None, default=None
        Fill value marking missing pixels, as in :func:`pixel_spectra`.
    mask : array-like of bool of shape (n_rows, n_cols), default=None
        True where a pixel may be used.
    fit : bool, default=True
        False keeps the fitted resampler and encoder of ``pipe``.

    Returns
    -------
    labels : ndarray of int of shape (n_rows, n_cols)
        Segments ``1 .. n_clusters``, and 0 for no-data pixels, as in the
        ``labels.tif`` that ``hsiae segment`` writes.

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae import make_segmentation_pipeline, make_synthetic_scene, segment_cube
    >>> cube = make_synthetic_scene(32, shape=(12, 12), random_state=0).cube
    >>> cube[0, :3] = np.nan  # three pixels without data
    >>> pipe = make_segmentation_pipeline(3, image_shape=cube.shape[:2], random_state=0,
    ...                                   aedencoder__max_epochs=2)
    >>> labels = segment_cube(pipe, cube)
    >>> labels.shape, labels[0, :4].tolist()[:3], sorted(np.unique(labels[1:]).tolist())
    ((12, 12), [0, 0, 0], [1, 2, 3])

    For a cube read from a file, pass the file's no-data value:
    ``cube, info = read_cube("scene.tif")``, then
    ``segment_cube(pipe, cube, nodata=info.nodata)``.
    """
    if not isinstance(pipe, Pipeline) or not isinstance(pipe.steps[-1][1], ClusterMixin):
        raise TypeError(
            f"Expected a Pipeline ending in a SpatialGMMSegmenter, got {type(pipe).__name__}; "
            f"build one with hsiae.make_segmentation_pipeline."
        )
    X, valid, filled = pixel_spectra(cube, nodata=nodata, mask=mask)
    _, _, labels = segment_pixels(pipe[:-1], pipe[-1], X, valid, filled, fit_head=fit)
    H, W = np.shape(cube)[:2]
    return (labels + 1).reshape(H, W)

"""Fitting a segmentation pipeline on a whole image or on a sample of a cube's pixels.

:func:`segment_pixels` and :func:`segment_cube` train on the usable pixels of
an image held in memory and segment all of it, no-data pixels labelled 0;
:func:`sample_pixels`, :func:`fit_on_pixels` and :func:`fit_on_sample` fit
on a random sample of a cube's pixels, for cubes larger than memory (which
:mod:`hsiae.workflow.blocks` then labels chunk by chunk).
"""

import logging
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from hsiae.exceptions import Param, ParameterError
from hsiae.io import as_lazy_cube
from hsiae.workflow.recipes import fit_segmenter, join, pipeline_parts
from hsiae.workflow.usable import (
    check_mask,
    check_nodata,
    pixel_spectra,
    usable_mask,
    usable_rows,
)

__all__ = ["segment_pixels", "segment_cube", "sample_index", "sample_pixels", "fit_on_pixels", "fit_on_sample"]

logger = logging.getLogger(__name__)


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
        head.fit(usable_rows(X, valid))
    codes = head.transform(filled)
    fit_segmenter(segmenter, head, codes, sample_weight=valid.astype(np.float64))
    labels = segmenter.labels_.copy()
    labels[~valid] = -1
    return join(head, segmenter), codes, labels


def segment_cube(pipe, cube, *, nodata=None, mask=None, fit=True):
    """Segment a cube, training and clustering on its usable pixels only.

    Parameters
    ----------
    pipe : Pipeline
        Resampler, encoder and a final segmenter (for example
        :func:`hsiae.make_segmentation_pipeline`), fitted in place. The
        segmenter is always fitted; the resampler and encoder are fitted on
        the usable pixels when ``fit``. Its ``image_shape`` must be the
        cube's ``(n_rows, n_cols)`` or None; None is set to the cube's (with
        ``set_params`` on the pipeline's segmenter, as :func:`fit_on_sample`
        does), so that the spatial prior joins the cube's neighbours and the
        fitted ``pipe.predict`` applies it to this cube as the fit did. To
        segment without the prior, set ``spatial_weight=0``.
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

    Raises
    ------
    ValueError
        If the segmenter's ``image_shape`` is another image's, even of the
        same pixel count (a transposed shape, say): its prior would join
        pixels that are not neighbours in the cube. Raised before any
        training.

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
    head, seg = pipeline_parts(pipe, segmenter="required", fitted=False)
    X, valid, filled = pixel_spectra(cube, nodata=nodata, mask=mask)
    H, W = np.shape(cube)[:2]
    _set_image_shape(seg, pipe.steps[-1][0], (H, W))
    _, _, labels = segment_pixels(head, seg, X, valid, filled, fit_head=fit)
    return (labels + 1).reshape(H, W)


def _set_image_shape(segmenter, step, shape):
    """Give ``segmenter`` the image ``shape`` when its ``image_shape`` is None; refuse another image's."""
    if "image_shape" not in segmenter.get_params(deep=False):
        return  # a segmenter without a spatial prior
    current = segmenter.image_shape
    if current is None:
        segmenter.set_params(image_shape=tuple(shape))
        return
    pair = isinstance(current, (tuple, list)) and len(current) == 2
    if pair and all(isinstance(n, Integral) and not isinstance(n, bool) for n in current):
        if tuple(int(n) for n in current) == tuple(shape):
            return
    shown = f"({current[0]}, {current[1]})" if pair else repr(current)
    H, W = shape
    raise ValueError(
        f"The segmenter's image_shape={shown} does not match the cube's {H} x {W} image; its "
        f"spatial prior would join pixels that are not neighbours in the cube. Set "
        f"{step}__image_shape=None or ({H}, {W})."
    )


def sample_index(n_pixels, n_samples, random_state=None):
    """Row-major indices of ``min(n_samples, n_pixels)`` pixels drawn without replacement, sorted.

    The draw of :func:`sample_pixels`, for pixels already in memory: the same
    ``random_state`` draws the same pixels of an image either way.
    """
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    # Generator.choice draws without replacement without shuffling the whole population
    return np.sort(np.random.default_rng(seed).choice(n_pixels, min(n_samples, n_pixels), replace=False))


def sample_pixels(cube, n_samples, *, nodata=None, mask=None, random_state=None):
    """The usable spectra of a random sample of pixels drawn across the whole cube.

    Pixels are drawn uniformly without replacement from the whole image, so
    every chunk contributes in proportion to its size; only the chunks that
    hold drawn pixels are read, one at a time. The sample depends on the
    cube's shape and ``random_state``, not on its chunks.

    Parameters
    ----------
    cube : dask.array.Array or array-like of shape (n_rows, n_cols, n_bands)
        From :func:`hsiae.open_cube`, for instance.
    n_samples : int
        Pixels to draw (all of them when the image has fewer). Drawn pixels
        that are no data (non-finite, ``nodata`` in every band, or False in
        ``mask``) are left out, so a few less may be returned.
    nodata : float or None, default=None
        Fill value marking missing pixels (``CubeInfo.nodata``).
    mask : array-like of bool of shape (n_rows, n_cols), default=None
        True where a pixel may be used. The draw does not depend on it: the
        same pixels are drawn, and those it excludes are left out.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    X : ndarray of shape (n_usable, n_bands), float32
        Spectra of the usable drawn pixels, in row-major pixel order.
    index : ndarray of int64 of shape (n_usable,)
        Their row-major pixel index (``row * n_cols + col``).

    Raises
    ------
    ValueError
        If ``n_samples`` is not a positive integer, ``mask`` is not the
        image's, or every drawn pixel is no data.
    """
    if not isinstance(n_samples, Integral) or isinstance(n_samples, bool) or n_samples < 1:
        raise ParameterError(
            "{name} must be a positive integer, got {value!r}", name=Param("n_samples"), value=n_samples
        )
    nodata = check_nodata(nodata)
    cube = as_lazy_cube(cube)
    H, W, _ = cube.shape
    mask = check_mask(mask, (H, W))
    n_pixels = H * W
    index = sample_index(n_pixels, n_samples, random_state)
    raw = np.asarray(cube.vindex[index // W, index % W].compute())
    X = np.asarray(raw, dtype=np.float32)
    valid = usable_mask(raw, nodata, float32=X, mask=None if mask is None else mask.ravel()[index])
    if not valid.any():
        masked = "" if mask is None else ", or outside the mask"
        raise ValueError(
            f"all {len(index)} sampled pixels are no data (non-finite or {nodata} in every "
            f"band{masked}); check nodata{' and mask' if masked else ''}, or draw more pixels"
        )
    if not valid.all():
        logger.info("%d of %d sampled pixels are no data: left out", int((~valid).sum()), len(index))
    return X[valid], index[valid]


def fit_on_sample(pipe, cube, *, n_samples=100_000, nodata=None, mask=None, fit_head=True, random_state=None):
    """Fit a segmentation pipeline on a random sample of a cube's pixels.

    The resampler and the encoder (when ``fit_head``) and then the mixture
    of the final :class:`~hsiae.SpatialGMMSegmenter` are fitted on the
    spectra of :func:`sample_pixels`. The sampled pixels are scattered over
    the image, so the mixture is fitted without the spatial prior
    (``image_shape=None`` while fitting); its ``image_shape`` is then set to
    the cube's image, so that :func:`predict_blocks` and ``pipe.predict`` on
    the whole image apply the prior with the fitted clusters.

    Parameters
    ----------
    pipe : Pipeline
        Resampler, encoder and a final segmenter (for example
        :func:`hsiae.make_segmentation_pipeline`), fitted in place.
    cube : dask.array.Array or array-like of shape (n_rows, n_cols, n_bands)
    n_samples : int, default=100_000
        Pixels drawn; more fit better and cost more memory and time (the
        encoder's training holds a few float32 copies of them).
    nodata : float or None, default=None
        Fill value marking missing pixels; they are never drawn.
    mask : array-like of bool of shape (n_rows, n_cols), default=None
        True where a pixel may be used; the others are never drawn.
    fit_head : bool, default=True
        False keeps the fitted resampler and encoder of ``pipe`` (from a
        saved model, say) and fits only the mixture.
    random_state : int, RandomState instance or None, default=None
        Seeds the sample (the estimators keep their own ``random_state``).

    Returns
    -------
    pipe : Pipeline
        The same pipeline, fitted.

    Raises
    ------
    TypeError
        If ``pipe`` is not a Pipeline ending in a segmenter.
    ValueError
        For a bad cube, ``n_samples``, ``nodata`` or ``mask``, or a pipeline fitted on
        another band count (with ``fit_head=False``); before any pixel is read.
    """
    head, seg = pipeline_parts(pipe, segmenter="required", fitted=False)
    if not isinstance(n_samples, Integral) or isinstance(n_samples, bool) or n_samples < 2:
        raise ParameterError("{name} must be an integer >= 2, got {value!r}", name=Param("n_samples"), value=n_samples)
    cube = as_lazy_cube(cube)
    H, W, B = cube.shape
    if not fit_head:
        pipeline_parts(head, n_bands=B)
    if seg.n_clusters > min(n_samples, H * W):
        raise ParameterError(
            "{n_clusters} must be <= the pixels sampled ({n}); draw more pixels or ask for fewer clusters",
            n_clusters=Param("n_clusters", seg.n_clusters),
            n=min(n_samples, H * W),
        )
    X, _ = sample_pixels(cube, n_samples, nodata=nodata, mask=mask, random_state=random_state)
    logger.info("Fitting on a sample of %d pixels of the %d x %d image", len(X), H, W)
    fit_on_pixels(head, seg, X, (H, W), fit_head=fit_head)
    return pipe


def fit_on_pixels(head, segmenter, X, image_shape, *, fit_head=True):
    """Fit ``head`` (when ``fit_head``) and then ``segmenter`` on pixels scattered over an image.

    The mixture is fitted without the spatial prior (the pixels are not an
    image), with the shade point of ``head`` when it needs one; its
    ``image_shape`` is then set to the image's, so that labelling the whole
    image applies the prior with the fitted clusters.

    Parameters
    ----------
    head : Pipeline
        Resampler and encoder.
    segmenter : SpatialGMMSegmenter
    X : ndarray of shape (n_samples, n_bands)
        Usable spectra, e.g. from :func:`sample_pixels`.
    image_shape : tuple (n_rows, n_cols)
    fit_head : bool, default=True

    Returns
    -------
    pipeline : SegmentationPipeline
        ``head``'s steps followed by ``segmenter``.
    """
    if fit_head:
        head.fit(X)
    segmenter.set_params(image_shape=None)
    fit_segmenter(segmenter, head, head.transform(X))
    segmenter.set_params(image_shape=tuple(image_shape))
    return join(head, segmenter)

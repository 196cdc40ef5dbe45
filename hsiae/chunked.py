"""Cubes larger than memory: fit on a sample of pixels, apply a fitted pipeline chunk by chunk.

A cube from :func:`hsiae.open_cube` is a lazy dask array chunked over space
with the bands whole. :func:`fit_on_sample` trains the resampler, the encoder
and the mixture of a pipeline on a random sample of its pixels drawn across
all chunks; :func:`transform_blocks`, :func:`predict_blocks`,
:func:`predict_proba_blocks` and :func:`denoise_blocks` apply a fitted
pipeline chunk by chunk and return lazy dask arrays, which
:func:`hsiae.store_labels` and :func:`hsiae.store_cube` compute into a TIFF
or Zarr on disk. Any dask scheduler runs them: threads (the default),
processes, or a dask.distributed cluster.

Why the labels of a chunked run equal those of the whole image: the
resampler and the encoder work on each spectrum alone, and the spatial prior
of :class:`~hsiae.SpatialGMMSegmenter` runs ``spatial_iter`` mean-field
sweeps, each of which moves information one pixel further, so a pixel's
label depends only on the ``(2 * spatial_iter + 1)``-pixel window around it.
Each chunk of latent codes is therefore segmented with a halo of
``spatial_iter`` pixels from its neighbours (none beyond the image's
borders, where the whole-image run has no neighbours either), and the halo
is cut off again.
"""

import copy
import logging
import math
import uuid
from numbers import Integral

import numpy as np
from sklearn.base import ClusterMixin
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from hsiae.io._lazy import _check_chunks, _import_dask
from hsiae.pipeline import _fit_segmenter

__all__ = [
    "denoise_blocks",
    "fit_on_sample",
    "predict_blocks",
    "predict_proba_blocks",
    "sample_pixels",
    "transform_blocks",
]

logger = logging.getLogger(__name__)

_DEFAULT_CHUNKS = 512


# -- validation -------------------------------------------------------------------------------


def _as_cube(cube, chunks=None, what="cube"):
    """``cube`` as a 3-D numeric dask array with the band axis in one chunk."""
    da = _import_dask(f"hsiae.chunked ({what})")
    if not isinstance(cube, da.Array):
        array = np.asarray(cube)
        if array.ndim == 3:
            rows, cols = _check_chunks(_DEFAULT_CHUNKS if chunks is None else chunks)
            cube = da.from_array(array, chunks=(rows, cols, -1))
        else:
            cube = array
    if cube.ndim != 3 or cube.dtype.kind not in "biuf" or 0 in cube.shape:
        raise ValueError(
            f"Expected a non-empty numeric cube of shape (n_rows, n_cols, n_bands), got an "
            f"array of shape {cube.shape} and dtype {cube.dtype}; open files with "
            f"hsiae.open_cube"
        )
    if chunks is not None:
        rows, cols = _check_chunks(chunks)
        cube = cube.rechunk((rows, cols, -1))
    elif len(cube.chunks[2]) > 1:
        cube = cube.rechunk({2: -1})
    return cube


def _check_nodata(nodata):
    if nodata is None:
        return None
    try:
        nodata = float(nodata)
    except (TypeError, ValueError):
        raise ValueError(f"nodata must be a number or None, got {nodata!r}") from None
    return None if math.isnan(nodata) else nodata


def _split_pipeline(pipe, n_bands, *, segmenter):
    """(head, segmenter or None) of a fitted pipeline whose input has ``n_bands`` bands."""
    if not isinstance(pipe, Pipeline):
        raise TypeError(
            f"Expected a fitted sklearn Pipeline (e.g. from hsiae.make_segmentation_pipeline), "
            f"got {type(pipe).__name__}."
        )
    last = pipe.steps[-1][1]
    has_segmenter = isinstance(last, ClusterMixin)
    if segmenter and not has_segmenter:
        raise TypeError(
            f"The pipeline's last step {type(last).__name__} is not a segmenter; end the "
            f"pipeline with a SpatialGMMSegmenter."
        )
    head = pipe[:-1] if has_segmenter else pipe
    for _, step in (pipe if segmenter else head).steps:
        check_is_fitted(step)
    n_in = getattr(pipe.steps[0][1], "n_features_in_", None)
    if n_in is not None and n_in != n_bands:
        raise ValueError(
            f"The pipeline was fitted on spectra of {n_in} bands but the cube has {n_bands}; "
            f"apply it to a cube of the same sensor and band set."
        )
    return head, (last if segmenter else None)


def _check_fill(fill, n_bands):
    fill = np.asarray(fill, dtype=np.float64)
    if fill.shape != (n_bands,) or not np.all(np.isfinite(fill)):
        raise ValueError(
            f"fill must be a finite spectrum of shape ({n_bands},) (the cube's bands), got an "
            f"array of shape {fill.shape}; pass None for the mean usable spectrum"
        )
    return fill.astype(np.float32)


def _usable(X, nodata):
    """Boolean mask of the rows of X (a block's spectra, float32) that are usable pixels."""
    valid = np.all(np.isfinite(X), axis=1)
    if nodata is not None:
        valid &= ~np.all(X == np.float32(nodata), axis=1)
    return valid


def _spectra(block):
    h, w, b = block.shape
    return np.ascontiguousarray(block, dtype=np.float32).reshape(h * w, b)


# Pixels a block is processed in at a time: the resampler and the encoder hold a few float32
# copies of their input, which for a whole chunk of 512 x 512 pixels x 100 bands is 100 MiB each.
_SLAB_PIXELS = 1 << 16


def _slabs(block):
    """Yield (first row, last row + 1, float32 spectra of those rows) over a block's rows."""
    h, w, _ = block.shape
    rows = max(1, _SLAB_PIXELS // max(w, 1))
    for start in range(0, h, rows):
        part = block[start : start + rows]
        X = _spectra(part)
        if np.shares_memory(X, block):  # never write into the cube's chunk
            X = X.copy()
        yield start, start + part.shape[0], X


# -- sampling and fitting ---------------------------------------------------------------------


def sample_pixels(cube, n_samples, *, nodata=None, random_state=None):
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
        that are no data (non-finite, or ``nodata`` in every band) are left
        out, so a few less may be returned.
    nodata : float or None, default=None
        Fill value marking missing pixels (``CubeInfo.nodata``).
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
        If ``n_samples`` is not a positive integer, or every drawn pixel is
        no data.
    """
    if not isinstance(n_samples, Integral) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    nodata = _check_nodata(nodata)
    cube = _as_cube(cube)
    H, W, _ = cube.shape
    n_pixels = H * W
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    # Generator.choice draws without replacement without shuffling the whole population
    index = np.sort(np.random.default_rng(seed).choice(n_pixels, min(n_samples, n_pixels),
                                                       replace=False))
    X = np.asarray(cube.vindex[index // W, index % W].compute(), dtype=np.float32)
    valid = _usable(X, nodata)
    if not valid.any():
        raise ValueError(
            f"all {len(index)} sampled pixels are no data (non-finite or {nodata} in every "
            f"band); check nodata, or draw more pixels"
        )
    if not valid.all():
        logger.info("%d of %d sampled pixels are no data: left out", int((~valid).sum()),
                    len(index))
    return X[valid], index[valid]


def fit_on_sample(pipe, cube, *, n_samples=100_000, nodata=None, fit_head=True,
                  random_state=None):
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
        For a bad cube, ``n_samples`` or ``nodata``, or a pipeline fitted on
        another band count (with ``fit_head=False``); before any pixel is read.
    """
    if not isinstance(pipe, Pipeline) or not isinstance(pipe.steps[-1][1], ClusterMixin):
        raise TypeError(
            f"Expected a Pipeline ending in a SpatialGMMSegmenter, got {type(pipe).__name__}; "
            f"build one with hsiae.make_segmentation_pipeline."
        )
    if not isinstance(n_samples, Integral) or isinstance(n_samples, bool) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    cube = _as_cube(cube)
    H, W, B = cube.shape
    head, seg = pipe[:-1], pipe.steps[-1][1]
    if not fit_head:
        for _, step in head.steps:
            check_is_fitted(step)
        _split_pipeline(head, B, segmenter=False)
    if seg.n_clusters > min(n_samples, H * W):
        raise ValueError(
            f"n_clusters={seg.n_clusters} must be <= the pixels sampled "
            f"({min(n_samples, H * W)}); draw more pixels or ask for fewer clusters"
        )
    X, _ = sample_pixels(cube, n_samples, nodata=nodata, random_state=random_state)
    logger.info("Fitting on a sample of %d pixels of the %d x %d image", len(X), H, W)
    if fit_head:
        head.fit(X)
    seg.set_params(image_shape=None)
    _fit_segmenter(seg, head, head.transform(X))
    seg.set_params(image_shape=(H, W))
    return pipe


# -- blockwise application -------------------------------------------------------------------


def _codes_block(block, head, nodata, fill):
    """Latent codes of a block's spectra, and a last column: 1 for usable pixels, 0 for others."""
    h, w, _ = block.shape
    out = None
    for start, stop, X in _slabs(block):
        valid = _usable(X, nodata)
        X[~valid] = fill
        Z = np.asarray(head.transform(X), dtype=np.float32)
        if out is None:
            out = np.empty((h, w, Z.shape[1] + 1), dtype=np.float32)
        out[start:stop, :, :-1] = Z.reshape(stop - start, w, -1)
        out[start:stop, :, -1] = valid.reshape(stop - start, w)
    return out


def _label_dtype(n_clusters):
    return next(t for t in (np.int8, np.int16, np.int32) if n_clusters <= np.iinfo(t).max)


def _segment_block(block, seg, depth, proba, block_info=None):
    """Posterior (or labels, -1 for no data) of a block of codes, cut from its halo."""
    h, w, d = block.shape
    Z, valid = block[..., :-1].reshape(h * w, d - 1), block[..., -1].reshape(h * w) > 0
    seg = copy.copy(seg)  # shallow: shares the fitted arrays, holds this block's image shape
    if depth:
        seg.image_shape = (h, w)
    # No-data pixels do not vote for their neighbours, as in SpatialGMMSegmenter.fit with
    # sample_weight 0 (what hsiae.segment_cube does on a whole image).
    Z = seg._validated(Z)
    p = seg._predict_proba(Z, seg._grid(len(Z)), valid.astype(np.float64)).reshape(h, w, -1)
    keep = valid.reshape(h, w)
    if depth:
        (i, j), (n_i, n_j) = block_info[0]["chunk-location"][:2], block_info[0]["num-chunks"][:2]
        top, left = (depth if i > 0 else 0), (depth if j > 0 else 0)
        bottom, right = h - (depth if i < n_i - 1 else 0), w - (depth if j < n_j - 1 else 0)
        p, keep = p[top:bottom, left:right], keep[top:bottom, left:right]
    if proba:
        return p
    labels = p.argmax(axis=2).astype(_label_dtype(p.shape[2]))
    labels[~keep] = -1
    return labels


def _halo_chunks(sizes, depth):
    """Chunk sizes along an axis with every chunk at least ``depth`` long (dask's overlap needs it)."""
    if depth == 0 or min(sizes) >= depth or len(sizes) == 1:
        return tuple(sizes)
    size = max(max(sizes), depth)
    total = sum(sizes)
    out = [size] * (total // size)
    rest = total - sum(out)
    if rest:
        if rest < depth and out:
            out[-1] += rest
        else:
            out.append(rest)
    return tuple(out)


def _fill_spectrum(cube, nodata):
    """Mean usable spectrum of the whole cube (one pass over it), as pixel_spectra fills."""

    def partial(block):
        out = np.zeros((1, 1, block.shape[2] + 1))
        for _, _, X in _slabs(block):
            valid = _usable(X, nodata)
            out[0, 0, :-1] += X[valid].sum(axis=0, dtype=np.float64)
            out[0, 0, -1] += valid.sum()
        return out

    B = cube.shape[2]
    sums = cube.map_blocks(partial, chunks=((1,) * len(cube.chunks[0]), (1,) * len(cube.chunks[1]),
                                            (B + 1,)), dtype=np.float64).sum(axis=(0, 1)).compute()
    if sums[-1] == 0:
        raise ValueError(
            "every pixel of the cube is no-data or non-finite; there is nothing to segment"
        )
    return (sums[:-1] / sums[-1]).astype(np.float32)


def _codes(pipe, cube, nodata, fill, chunks, segmenter):
    """(lazy codes with a last column 1 for usable pixels, the segmenter, its halo depth)."""
    cube = _as_cube(cube, chunks)
    nodata = _check_nodata(nodata)
    head, seg = _split_pipeline(pipe, cube.shape[2], segmenter=segmenter)
    depth = _spatial_depth(seg) if seg is not None else 0
    if depth:
        shape = tuple(int(n) for n in seg.image_shape)
        if shape != cube.shape[:2]:
            raise ValueError(
                f"The segmenter's image_shape={tuple(seg.image_shape)} does not match the cube's "
                f"{cube.shape[0]} x {cube.shape[1]} image; set "
                f"spatialgmmsegmenter__image_shape=None or to the cube's image"
            )
    if depth:
        cube = cube.rechunk((_halo_chunks(cube.chunks[0], depth),
                             _halo_chunks(cube.chunks[1], depth), -1))
    fill = (_fill_spectrum(cube, nodata) if fill is None
            else _check_fill(fill, cube.shape[2]))
    zdims = len(head.transform(np.asarray(fill, dtype=np.float32)[None, :])[0])
    codes = cube.map_blocks(
        _codes_block, head=head, nodata=nodata, fill=fill, dtype=np.float32,
        chunks=(cube.chunks[0], cube.chunks[1], (zdims + 1,)),
        name=f"hsiae-codes-{uuid.uuid4().hex}",
    )  # fmt: skip
    return codes, seg, depth


def _spatial_depth(seg):
    """Halo (in pixels) the segmenter's prior needs around a chunk: 0 without the prior."""
    if getattr(seg, "image_shape", None) is None or getattr(seg, "spatial_weight", 0) == 0:
        return 0
    return int(seg.spatial_iter)


def _segment(pipe, cube, nodata, fill, chunks, proba):
    da = _import_dask("hsiae.chunked")
    codes, seg, depth = _codes(pipe, cube, nodata, fill, chunks, segmenter=True)
    k = seg.n_clusters
    if depth:
        source = da.overlap.overlap(codes, depth={0: depth, 1: depth, 2: 0}, boundary="none")
    else:
        source = codes
    name = f"hsiae-{'proba' if proba else 'labels'}-{uuid.uuid4().hex}"
    if proba:
        return source.map_blocks(_segment_block, seg=seg, depth=depth, proba=True,
                                 chunks=(codes.chunks[0], codes.chunks[1], (k,)),
                                 dtype=np.float64, name=name)
    return source.map_blocks(_segment_block, seg=seg, depth=depth, proba=False, drop_axis=2,
                             chunks=codes.chunks[:2], dtype=_label_dtype(k), name=name)


_COMMON_PARAMETERS = """
    pipe : Pipeline
        A fitted pipeline (resampler, encoder{segmenter}), e.g. from
        :func:`fit_on_sample`, :func:`hsiae.load_model` or a whole-image fit.
    cube : dask.array.Array or array-like of shape (n_rows, n_cols, n_bands)
        From :func:`hsiae.open_cube`, for instance; NumPy arrays are wrapped.
    nodata : float or None, default=None
        Fill value marking missing pixels (``CubeInfo.nodata``); they and
        non-finite pixels are no data."""

_FILL = """
    fill : array-like of shape (n_bands,) or None, default=None
        Spectrum that no-data pixels are given before encoding, so that the
        spatial prior has a value there (as :func:`hsiae.pixel_spectra`
        fills). None takes the mean usable spectrum of the whole cube, which
        costs one extra pass over it before the lazy result is returned; pass
        one (e.g. the mean of :func:`sample_pixels`) to skip that pass."""

_CHUNKS = """
    chunks : int or tuple (rows, cols) or None, default=None
        Rechunk the cube over space first; None keeps its chunks."""


def transform_blocks(pipe, cube, *, nodata=None, fill=None, chunks=None):
    """Latent codes of every pixel, computed chunk by chunk.

    Parameters
    ----------{common}{fill}{chunks}

    Returns
    -------
    codes : dask.array.Array of shape (n_rows, n_cols, zdims), float32
        Lazy; equal to ``pipe[:-1].transform`` of the cube's spectra (with
        no-data rows filled).
    """
    codes, _, _ = _codes(pipe, cube, nodata, fill, chunks, segmenter=False)
    return codes[..., :-1]


def predict_blocks(pipe, cube, *, nodata=None, fill=None, chunks=None):
    """Segment labels of every pixel, computed chunk by chunk with a halo.

    The result equals ``pipe.predict`` of the whole image's spectra: with
    the segmenter's spatial prior on (an ``image_shape``, which must then be
    the cube's image, and ``spatial_weight > 0``), each chunk of codes is
    segmented with a halo of ``spatial_iter`` pixels, all a label depends on.

    Parameters
    ----------{common}{fill}{chunks}

    Returns
    -------
    labels : dask.array.Array of shape (n_rows, n_cols)
        Lazy; segments ``0 .. n_clusters - 1`` and -1 for no-data pixels, in
        the smallest signed integer type that holds them (int8 up to 127
        clusters). :func:`hsiae.store_labels` writes them to disk.

    Raises
    ------
    TypeError
        If ``pipe`` is not a Pipeline ending in a segmenter.
    ValueError
        If the pipeline is not fitted for this cube's bands, the segmenter's
        ``image_shape`` is another image, or ``cube``, ``nodata``, ``fill`` or
        ``chunks`` are invalid; before any chunk is computed.

    Examples
    --------
    >>> from hsiae import make_segmentation_pipeline, open_cube, store_labels
    >>> from hsiae.chunked import fit_on_sample, predict_blocks
    >>> cube, info = open_cube("flightline.tif", chunks=1024)  # doctest: +SKIP
    >>> pipe = fit_on_sample(make_segmentation_pipeline(8, random_state=0), cube,
    ...                      nodata=info.nodata, random_state=0)  # doctest: +SKIP
    >>> store_labels("labels.tif", predict_blocks(pipe, cube, nodata=info.nodata))  # doctest: +SKIP
    """
    return _segment(pipe, cube, nodata, fill, chunks, proba=False)


def predict_proba_blocks(pipe, cube, *, nodata=None, fill=None, chunks=None):
    """Segment probabilities of every pixel, computed chunk by chunk with a halo.

    Parameters
    ----------{common}{fill}{chunks}

    Returns
    -------
    proba : dask.array.Array of shape (n_rows, n_cols, n_clusters), float64
        Lazy; equal to ``pipe.predict_proba`` of the whole image's spectra
        (rows of no-data pixels included).
    """
    return _segment(pipe, cube, nodata, fill, chunks, proba=True)


def _denoise_block(block, head, nodata):
    from hsiae.pipeline import denoise

    h, w, b = block.shape
    out = np.empty((h, w, b), dtype=np.float32)
    for start, stop, X in _slabs(block):
        valid = _usable(X, nodata)
        if valid.any():
            X[valid] = denoise(head, X[valid])
        out[start:stop] = X.reshape(stop - start, w, b)  # no-data pixels keep their values
    return out


def denoise_blocks(pipe, cube, *, nodata=None, chunks=None):
    """Denoised spectra of every pixel, computed chunk by chunk.

    Parameters
    ----------{common}{chunks}

    Returns
    -------
    denoised : dask.array.Array of shape (n_rows, n_cols, n_bands), float32
        Lazy; usable pixels equal :func:`hsiae.denoise` of their spectra,
        no-data pixels keep their values. :func:`hsiae.store_cube` writes it.
    """
    cube = _as_cube(cube, chunks)
    nodata = _check_nodata(nodata)
    head, _ = _split_pipeline(pipe, cube.shape[2], segmenter=False)
    if isinstance(pipe.steps[-1][1], ClusterMixin):
        head = pipe[:-1]
    return cube.map_blocks(_denoise_block, head=head, nodata=nodata, dtype=np.float32,
                           name=f"hsiae-denoised-{uuid.uuid4().hex}")


for _function, _segmenter in ((transform_blocks, ""), (predict_blocks, " and segmenter"),
                              (predict_proba_blocks, " and segmenter"), (denoise_blocks, "")):
    _function.__doc__ = _function.__doc__.format(
        common=_COMMON_PARAMETERS.format(segmenter=_segmenter), fill=_FILL, chunks=_CHUNKS)
del _function, _segmenter

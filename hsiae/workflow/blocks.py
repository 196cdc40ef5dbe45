"""Cubes larger than memory: apply a fitted pipeline chunk by chunk.

A cube from :func:`hsiae.open_cube` is a lazy dask array chunked over space
with the bands whole; :func:`hsiae.fit_on_sample` trains a pipeline on a
random sample of its pixels. :func:`transform_blocks`, :func:`predict_blocks`,
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
import uuid

import numpy as np

from hsiae.io import as_lazy_cube
from hsiae.workflow.recipes import pipeline_parts
from hsiae.workflow.spectra import denoise
from hsiae.workflow.usable import check_mask, check_nodata, lazy_mask, usable_mask

__all__ = ["denoise_blocks", "predict_blocks", "predict_proba_blocks", "transform_blocks"]


def _check_fill(fill, n_bands):
    fill = np.asarray(fill, dtype=np.float64)
    if fill.shape != (n_bands,) or not np.all(np.isfinite(fill)):
        raise ValueError(
            f"fill must be a finite spectrum of shape ({n_bands},) (the cube's bands), got an "
            f"array of shape {fill.shape}; pass None for the mean usable spectrum"
        )
    return fill.astype(np.float32)


# Pixels a block is processed in at a time: the resampler and the encoder hold a few float32
# copies of their input, which for a whole chunk of 512 x 512 pixels x 100 bands is 100 MiB each.
_SLAB_PIXELS = 1 << 16


def _slabs(block, nodata, mask=None):
    """Yield (first row, last row + 1, float32 spectra of those rows, usable rows) over a block's rows.

    ``mask`` is the block's part of the mask, of shape (rows, cols, 1), or None.
    """
    h, w, b = block.shape
    rows = max(1, _SLAB_PIXELS // max(w, 1))
    for start in range(0, h, rows):
        part = block[start : start + rows]
        raw = np.ascontiguousarray(part).reshape(-1, b)
        X = np.asarray(raw, dtype=np.float32)
        if np.shares_memory(X, block):  # never write into the cube's chunk
            X = X.copy()
        keep = None if mask is None else mask[start : start + rows].reshape(-1)
        yield start, start + part.shape[0], X, usable_mask(raw, nodata, float32=X, mask=keep)


def _map_blocks(function, cube, mask, **kwargs):
    """``cube.map_blocks(function, ...)`` with the mask's blocks, if any, as a second argument."""
    import dask.array as da

    arrays = (cube,) if mask is None else (cube, lazy_mask(mask, cube))
    return da.map_blocks(function, *arrays, **kwargs)


def _codes_block(block, mask=None, *, head, nodata, fill):
    """Latent codes of a block's spectra, and a last column: 1 for usable pixels, 0 for others."""
    h, w, _ = block.shape
    out = None
    for start, stop, X, valid in _slabs(block, nodata, mask):
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
    if depth:  # a shallow copy shares the fitted arrays and holds this block's image shape
        seg = copy.copy(seg).set_params(image_shape=(h, w))
    # No-data pixels do not vote for their neighbours, as in SpatialGMMSegmenter.fit with
    # sample_weight 0 (what hsiae.segment_cube does on a whole image).
    p = seg.predict_proba(Z, sample_weight=valid.astype(np.float64)).reshape(h, w, -1)
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


def _fill_spectrum(cube, nodata, mask):
    """Mean usable spectrum of the whole cube (one pass over it), as pixel_spectra fills."""

    def partial(block, mask=None):
        out = np.zeros((1, 1, block.shape[2] + 1))
        for _, _, X, valid in _slabs(block, nodata, mask):
            out[0, 0, :-1] += X[valid].sum(axis=0, dtype=np.float64)
            out[0, 0, -1] += valid.sum()
        return out

    B = cube.shape[2]
    chunks = ((1,) * len(cube.chunks[0]), (1,) * len(cube.chunks[1]), (B + 1,))
    sums = _map_blocks(partial, cube, mask, chunks=chunks, dtype=np.float64).sum(axis=(0, 1)).compute()
    if sums[-1] == 0:
        raise ValueError("every pixel of the cube is no-data or non-finite; there is nothing to segment")
    return (sums[:-1] / sums[-1]).astype(np.float32)


def _codes(pipe, cube, nodata, mask, fill, chunks, segmenter):
    """(lazy codes with a last column 1 for usable pixels, the segmenter, its halo depth)."""
    cube = as_lazy_cube(cube, chunks)
    nodata = check_nodata(nodata)
    mask = check_mask(mask, cube.shape[:2])
    head, seg = pipeline_parts(pipe, segmenter="required" if segmenter else "optional", n_bands=cube.shape[2])
    seg = seg if segmenter else None
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
        cube = cube.rechunk((_halo_chunks(cube.chunks[0], depth), _halo_chunks(cube.chunks[1], depth), -1))
    fill = _fill_spectrum(cube, nodata, mask) if fill is None else _check_fill(fill, cube.shape[2])
    zdims = len(head.transform(np.asarray(fill, dtype=np.float32)[None, :])[0])
    codes = _map_blocks(
        _codes_block, cube, mask, head=head, nodata=nodata, fill=fill, dtype=np.float32,
        chunks=(cube.chunks[0], cube.chunks[1], (zdims + 1,)),
        name=f"hsiae-codes-{uuid.uuid4().hex}",
    )  # fmt: skip
    return codes, seg, depth


def _spatial_depth(seg):
    """Halo (in pixels) the segmenter's prior needs around a chunk: 0 without the prior."""
    if getattr(seg, "image_shape", None) is None or getattr(seg, "spatial_weight", 0) == 0:
        return 0
    return int(seg.spatial_iter)


def _segment(pipe, cube, nodata, mask, fill, chunks, proba):
    import dask.array as da

    codes, seg, depth = _codes(pipe, cube, nodata, mask, fill, chunks, segmenter=True)
    k = seg.n_clusters
    if depth:
        source = da.overlap.overlap(codes, depth={0: depth, 1: depth, 2: 0}, boundary="none")
    else:
        source = codes
    name = f"hsiae-{'proba' if proba else 'labels'}-{uuid.uuid4().hex}"
    if proba:
        return source.map_blocks(
            _segment_block,
            seg=seg,
            depth=depth,
            proba=True,
            chunks=(codes.chunks[0], codes.chunks[1], (k,)),
            dtype=np.float64,
            name=name,
        )
    return source.map_blocks(
        _segment_block,
        seg=seg,
        depth=depth,
        proba=False,
        drop_axis=2,
        chunks=codes.chunks[:2],
        dtype=_label_dtype(k),
        name=name,
    )


_COMMON_PARAMETERS = """
    pipe : Pipeline
        A fitted pipeline (resampler, encoder{segmenter}), e.g. from
        :func:`hsiae.fit_on_sample`, :func:`hsiae.load_model` or a whole-image fit.
    cube : dask.array.Array or array-like of shape (n_rows, n_cols, n_bands)
        From :func:`hsiae.open_cube`, for instance; NumPy arrays are wrapped.
    nodata : float or None, default=None
        Fill value marking missing pixels (``CubeInfo.nodata``); they and
        non-finite pixels are no data.
    mask : array-like of bool of shape (n_rows, n_cols), default=None
        True where a pixel may be used; the others are no data too."""

_FILL = """
    fill : array-like of shape (n_bands,) or None, default=None
        Spectrum that no-data pixels are given before encoding, so that the
        spatial prior has a value there (as :func:`hsiae.pixel_spectra`
        fills). None takes the mean usable spectrum of the whole cube, which
        costs one extra pass over it before the lazy result is returned; pass
        one (e.g. the mean of :func:`hsiae.sample_pixels`) to skip that pass."""

_CHUNKS = """
    chunks : int or tuple (rows, cols) or None, default=None
        Rechunk the cube over space first; None keeps its chunks."""


def transform_blocks(pipe, cube, *, nodata=None, mask=None, fill=None, chunks=None):
    """Latent codes of every pixel, computed chunk by chunk.

    Parameters
    ----------
    ----------{common}{fill}{chunks}

    Returns
    -------
    codes : dask.array.Array of shape (n_rows, n_cols, zdims), float32
        Lazy; equal to ``pipe[:-1].transform`` of the cube's spectra (with
        no-data rows filled).
    """
    codes, _, _ = _codes(pipe, cube, nodata, mask, fill, chunks, segmenter=False)
    return codes[..., :-1]


def predict_blocks(pipe, cube, *, nodata=None, mask=None, fill=None, chunks=None):
    """Segment labels of every pixel, computed chunk by chunk with a halo.

    The result equals ``pipe.predict`` of the whole image's spectra: with
    the segmenter's spatial prior on (an ``image_shape``, which must then be
    the cube's image, and ``spatial_weight > 0``), each chunk of codes is
    segmented with a halo of ``spatial_iter`` pixels, all a label depends on.

    Parameters
    ----------
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
        ``image_shape`` is another image, or ``cube``, ``nodata``, ``mask``,
        ``fill`` or ``chunks`` are invalid; before any chunk is computed.

    Examples
    --------
    >>> from hsiae import fit_on_sample, make_segmentation_pipeline, open_cube, predict_blocks, store_labels
    >>> cube, info = open_cube("flightline.tif", chunks=1024)  # doctest: +SKIP
    >>> pipe = fit_on_sample(make_segmentation_pipeline(8, random_state=0), cube,
    ...                      nodata=info.nodata, random_state=0)  # doctest: +SKIP
    >>> store_labels("labels.tif", predict_blocks(pipe, cube, nodata=info.nodata))  # doctest: +SKIP
    """
    return _segment(pipe, cube, nodata, mask, fill, chunks, proba=False)


def predict_proba_blocks(pipe, cube, *, nodata=None, mask=None, fill=None, chunks=None):
    """Segment probabilities of every pixel, computed chunk by chunk with a halo.

    Parameters
    ----------
    ----------{common}{fill}{chunks}

    Returns
    -------
    proba : dask.array.Array of shape (n_rows, n_cols, n_clusters), float64
        Lazy; equal to ``pipe.predict_proba`` of the whole image's spectra
        (rows of no-data pixels included).
    """
    return _segment(pipe, cube, nodata, mask, fill, chunks, proba=True)


def _denoise_block(block, mask=None, *, head, nodata):
    h, w, b = block.shape
    out = np.empty((h, w, b), dtype=np.float32)
    for start, stop, X, valid in _slabs(block, nodata, mask):
        if valid.any():
            X[valid] = denoise(head, X[valid])
        out[start:stop] = X.reshape(stop - start, w, b)  # no-data pixels keep their values
    return out


def denoise_blocks(pipe, cube, *, nodata=None, mask=None, chunks=None):
    """Denoised spectra of every pixel, computed chunk by chunk.

    Parameters
    ----------
    ----------{common}{chunks}

    Returns
    -------
    denoised : dask.array.Array of shape (n_rows, n_cols, n_bands), float32
        Lazy; usable pixels equal :func:`hsiae.denoise` of their spectra,
        no-data pixels keep their values. :func:`hsiae.store_cube` writes it.
    """
    cube = as_lazy_cube(cube, chunks)
    nodata = check_nodata(nodata)
    mask = check_mask(mask, cube.shape[:2])
    head = pipeline_parts(pipe, n_bands=cube.shape[2]).head
    return _map_blocks(
        _denoise_block,
        cube,
        mask,
        head=head,
        nodata=nodata,
        dtype=np.float32,
        name=f"hsiae-denoised-{uuid.uuid4().hex}",
    )


for _function, _segmenter in (
    (transform_blocks, ""),
    (predict_blocks, " and segmenter"),
    (predict_proba_blocks, " and segmenter"),
    (denoise_blocks, ""),
):
    _function.__doc__ = _function.__doc__.format(
        common=_COMMON_PARAMETERS.format(segmenter=_segmenter), fill=_FILL, chunks=_CHUNKS
    )
del _function, _segmenter

"""Unmixing a whole cube: fit on a random sample of its pixels, abundances for every pixel, chunk by chunk.

The cube may be a NumPy array, a memory map or a lazy dask array
(:func:`hsiae.open_cube`) larger than memory. Fitting reads only the sampled
pixels (:func:`hsiae.sample_pixels`); :func:`unmix_blocks` then computes the
abundances of each chunk on its own, so memory is bounded by the sample, a
few chunks and the output. No-data pixels follow the usable-pixel rule of
:mod:`hsiae.workflow.usable` (non-finite values, or ``nodata`` in every
band) and False in ``mask``: they are never drawn, and their abundances are
NaN.
"""

import logging
import uuid
from numbers import Integral

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from hsiae.exceptions import Param, ParameterError
from hsiae.io import as_lazy_cube
from hsiae.unmixer import AEUnmixer
from hsiae.workflow.fitting import sample_pixels
from hsiae.workflow.usable import (
    check_mask,
    check_nodata,
    lazy_mask,
    usable_mask,
    usable_rows,
)

__all__ = ["unmix_blocks", "unmix_cube"]

logger = logging.getLogger(__name__)

# Pixels of a chunk unmixed at a time: a resampler before the unmixer holds a few float32 copies.
_SLAB_PIXELS = 1 << 16


def _final_unmixer(unmixer):
    final = unmixer[-1] if isinstance(unmixer, Pipeline) else unmixer
    if not isinstance(final, AEUnmixer):
        raise TypeError(f"Expected an AEUnmixer or a Pipeline ending in one, got {type(final).__name__}.")
    return final


def _check_bands(unmixer, n_bands):
    first = unmixer[0] if isinstance(unmixer, Pipeline) else unmixer
    n_in = getattr(first, "n_features_in_", None)
    if n_in is not None and n_in != n_bands:
        raise ValueError(
            f"The unmixer was fitted on spectra of {n_in} bands but the cube has {n_bands}; "
            f"apply it to a cube of the same sensor and band set."
        )


def _unmix_block(block, mask=None, *, unmixer, nodata, k):
    """Abundances of a chunk's pixels, NaN for the unusable ones (``mask``: its part of the mask)."""
    h, w, b = block.shape
    flat = np.ascontiguousarray(block).reshape(h * w, b)
    keep = None if mask is None else mask.reshape(h * w)
    out = np.full((h * w, k), np.nan, dtype=np.float32)
    for start in range(0, h * w, _SLAB_PIXELS):
        raw = flat[start : start + _SLAB_PIXELS]
        X = np.asarray(raw, dtype=np.float32)
        valid = usable_mask(raw, nodata, float32=X, mask=None if keep is None else keep[start : start + _SLAB_PIXELS])
        if valid.any():
            out[start : start + len(raw)][valid] = unmixer.transform(usable_rows(X, valid))
    return out.reshape(h, w, k)


def unmix_blocks(unmixer, cube, *, nodata=None, mask=None, chunks=None):
    """Abundances of every pixel of a cube, computed chunk by chunk by a fitted unmixer.

    Parameters
    ----------
    unmixer : AEUnmixer or Pipeline
        A fitted :class:`~hsiae.AEUnmixer`, or a fitted Pipeline ending in
        one. Its ``solver`` decides how abundances are found.
    cube : dask.array.Array or array-like of shape (n_rows, n_cols, n_bands)
        From :func:`hsiae.open_cube`, for instance; NumPy arrays are wrapped.
    nodata : float or None, default=None
        Fill value marking missing pixels (``CubeInfo.nodata``).
    mask : array-like of bool of shape (n_rows, n_cols), default=None
        True where a pixel may be used; the others are no data too.
    chunks : int or tuple (rows, cols) or None, default=None
        Rechunk the cube over space first; None keeps its chunks.

    Returns
    -------
    abundances : dask.array.Array of shape (n_rows, n_cols, n_endmembers), float32
        Lazy; equal to ``unmixer.transform`` of the usable pixels' spectra,
        NaN for no-data pixels. :func:`hsiae.store_cube` writes it to disk.

    Raises
    ------
    TypeError
        If ``unmixer`` is not an AEUnmixer or a Pipeline ending in one.
    ValueError
        If it is not fitted, or fitted on another band count, or ``cube``,
        ``nodata``, ``mask`` or ``chunks`` are invalid; before any chunk is
        computed.
    """
    import dask.array as da

    final = _final_unmixer(unmixer)
    check_is_fitted(final)
    cube = as_lazy_cube(cube, chunks)
    nodata = check_nodata(nodata)
    mask = check_mask(mask, cube.shape[:2])
    _check_bands(unmixer, cube.shape[2])
    k = final.n_endmembers
    arrays = (cube,) if mask is None else (cube, lazy_mask(mask, cube))
    return da.map_blocks(
        _unmix_block,
        *arrays,
        unmixer=unmixer,
        nodata=nodata,
        k=k,
        dtype=np.float32,
        chunks=(cube.chunks[0], cube.chunks[1], (k,)),
        name=f"hsiae-abundances-{uuid.uuid4().hex}",
    )


def unmix_cube(
    unmixer, cube, *, n_samples=100_000, nodata=None, mask=None, fit=True, chunks=None, out=None, random_state=None
):
    """Fit an unmixer on a sample of a cube's pixels and return the abundances of every pixel.

    Parameters
    ----------
    unmixer : AEUnmixer or Pipeline
        An :class:`~hsiae.AEUnmixer`, or a Pipeline ending in one (for
        example after a :class:`~hsiae.SpectralResampler` with
        ``scaling=None``). With ``fit=True`` it is fitted in place. Its
        ``solver`` decides how the abundances are found.
    cube : dask.array.Array or array-like of shape (n_rows, n_cols, n_bands)
        Any numeric dtype; a memory map or a dask array is read a chunk at a
        time.
    n_samples : int, default=100_000
        Pixels drawn at random (without replacement, over the whole image)
        to fit on.
    nodata : float or None, default=None
        Fill value marking missing pixels (``CubeInfo.nodata``).
    mask : array-like of bool of shape (n_rows, n_cols) or None, default=None
        True where a pixel may be used.
    fit : bool, default=True
        False uses ``unmixer`` as fitted (e.g. from :func:`hsiae.load_model`).
    chunks : int or tuple (rows, cols) or None, default=None
        Chunks over space in which abundances are computed; None keeps a
        dask array's chunks and cuts a NumPy array into 512 x 512 pixels.
    out : ndarray of shape (n_rows, n_cols, n_endmembers) or None, default=None
        Where to write the abundances (e.g. a ``numpy.memmap`` for images
        whose abundances do not fit in memory); None allocates float32.
    random_state : int, RandomState instance or None, default=None
        Seeds the sample (the unmixer keeps its own ``random_state``).

    Returns
    -------
    abundances : ndarray of shape (n_rows, n_cols, n_endmembers)
        ``out`` if given. Usable pixels hold their abundances (non-negative,
        summing to one); no-data pixels hold NaN.

    Raises
    ------
    TypeError
        If ``unmixer`` is not an AEUnmixer or a Pipeline ending in one.
    ValueError
        For a bad cube, mask, ``n_samples`` or ``out``, an unfitted unmixer
        with ``fit=False``, or when every sampled pixel is no data; before
        the unmixer is fitted.

    See Also
    --------
    unmix_blocks : The lazy abundances of a fitted unmixer.

    Examples
    --------
    >>> from hsiae import AEUnmixer, make_unmixing_scene, unmix_cube
    >>> scene = make_unmixing_scene(3, n_bands=30, shape=(40, 40), random_state=0)
    >>> A = unmix_cube(AEUnmixer(3, max_epochs=2, random_state=0), scene.cube, n_samples=500,
    ...                random_state=0)
    >>> A.shape
    (40, 40, 3)
    """
    final = _final_unmixer(unmixer)
    lazy = as_lazy_cube(cube, chunks)
    H, W, B = lazy.shape
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 2:
        raise ParameterError("{name} must be an integer >= 2, got {value!r}", name=Param("n_samples"), value=n_samples)
    nodata = check_nodata(nodata)
    mask = check_mask(mask, (H, W))
    k = final.n_endmembers
    if out is not None and (getattr(out, "ndim", None) != 3 or tuple(out.shape) != (H, W, k)):
        raise ParameterError(
            "{out} must be an array of shape {shape} (the image and the {k} endmembers), got {got}.",
            out=Param("out"),
            shape=(H, W, k),
            k=k,
            got=getattr(out, "shape", type(out).__name__),
        )
    if not fit:
        check_is_fitted(final)
        _check_bands(unmixer, B)
    else:
        X, _ = sample_pixels(lazy, n_samples, nodata=nodata, mask=mask, random_state=random_state)
        if len(X) < 2:
            raise ValueError(
                f"only {len(X)} of the {min(n_samples, H * W)} sampled pixels are usable; check nodata "
                f"and mask, or draw more pixels."
            )
        logger.info("Fitting %s on %d sampled pixels of the %d x %d image", type(unmixer).__name__, len(X), H, W)
        unmixer.fit(X)
    import dask.array as da

    abundances = unmix_blocks(unmixer, lazy, nodata=nodata, mask=mask)
    if out is None:
        out = np.empty((H, W, k), dtype=np.float32)
    da.store(abundances, out, lock=False)  # chunks write disjoint parts of out
    return out

"""Unmix a whole cube: fit on a random sample of its pixels, abundances for every pixel, block by block.

This is the orchestration a command line or a batch job calls: the cube may
be a numpy array, a memory map or a lazy dask array (:func:`hsiae.open_cube`)
larger than memory. Fitting reads only the sampled pixels
(:func:`hsiae.sample_pixels`); abundances are computed on blocks of image
rows, so memory is bounded by the sample, one block and the output.
No-data pixels follow hsiae's usable-pixel rule (:func:`hsiae.pixel_spectra`):
non-finite values, ``nodata`` in every band, or False in ``mask``; they are
never drawn and their abundances are NaN.
"""

import logging
from numbers import Integral

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from hsiae.chunked import sample_pixels
from hsiae.nodata import pixel_spectra
from hsiae.unmixer import AEUnmixer

__all__ = ["unmix_cube"]

logger = logging.getLogger(__name__)

# Pixels per block of rows when abundances are computed.
_BLOCK_PIXELS = 1 << 16


def _check_cube(cube):
    shape = getattr(cube, "shape", None)
    dtype = getattr(cube, "dtype", None)
    if shape is None or len(shape) != 3 or 0 in shape or np.dtype(dtype).kind not in "biuf":
        raise ValueError(
            f"Expected a non-empty numeric cube of shape (n_rows, n_cols, n_bands), got "
            f"{type(cube).__name__} of shape {shape} and dtype {dtype}; open files with "
            f"hsiae.read_cube or hsiae.open_cube."
        )
    return tuple(int(s) for s in shape)


def unmix_cube(unmixer, cube, *, n_samples=100_000, nodata=None, mask=None, fit=True,
               block_pixels=_BLOCK_PIXELS, out=None, random_state=None):
    """Fit an unmixer on a sample of a cube's pixels and return the abundances of every pixel.

    Parameters
    ----------
    unmixer : AEUnmixer or Pipeline
        An :class:`~hsiae.AEUnmixer`, or a Pipeline ending in one (for
        example after a :class:`~hsiae.SpectralResampler` with
        ``scaling=None``). With ``fit=True`` it is fitted in place. Its
        ``solver`` decides how the abundances of the blocks are found.
    cube : array-like or dask.array.Array of shape (n_rows, n_cols, n_bands)
        Any numeric dtype; a memory map or a dask array is read a block at a
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
    block_pixels : int, default=65_536
        Pixels per block (whole image rows) when abundances are computed.
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
        For a bad cube, mask, ``n_samples``, ``block_pixels`` or ``out``, an
        unfitted unmixer with ``fit=False``, or when every sampled pixel is
        no data; before any block is unmixed.

    Examples
    --------
    >>> from hsiae import AEUnmixer, make_unmixing_scene
    >>> from hsiae.cube_unmixing import unmix_cube
    >>> scene = make_unmixing_scene(3, n_bands=30, shape=(40, 40), random_state=0)
    >>> A = unmix_cube(AEUnmixer(3, max_epochs=2, random_state=0), scene.cube, n_samples=500,
    ...                random_state=0)
    >>> A.shape
    (40, 40, 3)
    """
    H, W, B = _check_cube(cube)
    for name, value, low in (("n_samples", n_samples, 2), ("block_pixels", block_pixels, 1)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (H, W) or mask.dtype != bool:
            raise ValueError(
                f"mask must be a boolean array of shape {(H, W)} (the cube's image), got an array of "
                f"shape {mask.shape} and dtype {mask.dtype}."
            )
    final = unmixer[-1] if isinstance(unmixer, Pipeline) else unmixer
    if not isinstance(final, AEUnmixer):
        raise TypeError(
            f"Expected an AEUnmixer or a Pipeline ending in one, got {type(final).__name__}."
        )
    k = final.n_endmembers
    if out is not None and (getattr(out, "ndim", None) != 3 or tuple(out.shape) != (H, W, k)):
        raise ValueError(
            f"out must be an array of shape ({H}, {W}, {k}) (the image and the {k} endmembers), got "
            f"{getattr(out, 'shape', type(out).__name__)}."
        )
    if not fit:
        check_is_fitted(final)
    else:
        X, index = sample_pixels(cube, n_samples, nodata=nodata, random_state=random_state)
        if mask is not None:
            keep = mask.ravel()[index]
            X = X[keep]
        if len(X) < 2:
            raise ValueError(
                f"only {len(X)} of the {min(n_samples, H * W)} sampled pixels are usable; check nodata "
                f"and mask, or draw more pixels."
            )
        logger.info("Fitting %s on %d sampled pixels of the %d x %d image", type(unmixer).__name__,
                    len(X), H, W)
        unmixer.fit(X)
    if out is None:
        out = np.empty((H, W, k), dtype=np.float32)
    rows = max(1, block_pixels // W)
    for start in range(0, H, rows):
        block = np.asarray(cube[start : start + rows])
        block_mask = None if mask is None else mask[start : start + rows]
        try:
            X, valid, _ = pixel_spectra(block, nodata=nodata, mask=block_mask)
        except ValueError:  # every pixel of this block is no data (the cube's shape was checked above)
            out[start : start + rows] = np.nan
            continue
        A = np.full((len(X), out.shape[2]), np.nan, dtype=out.dtype)
        if valid.any():
            A[valid] = unmixer.transform(X[valid] if not valid.all() else X)
        out[start : start + rows] = A.reshape(block.shape[0], W, -1)
    return out

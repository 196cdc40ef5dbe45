"""The usable-pixel rule: which pixels of a cube hold a measurement, and their spectra.

Real cubes have pixels without a measurement: NaN or infinite values, a fill
value (the file's no-data value, in every band) or an explicit mask. They
must neither train the encoder nor be scored, yet the spatial prior of
:class:`~hsiae.SpatialGMMSegmenter` needs a value at every pixel of the
image. :func:`usable_mask` is the one rule, for whole cubes and for the
chunks of a lazy one alike; :func:`pixel_spectra` splits a cube into its
spectra, the mask of usable pixels and a filled copy in which the unusable
rows hold the mean usable spectrum, so that they pass through the model
harmlessly.

The fill value is compared with the pixels as the file stores them, never
after a cast to float32: in a float cube's own dtype (the fill value as the
file holds it), in an integer cube exactly (in float64, exact up to 2**53).
An int32 cube's fill value 2**24 + 1 and a pixel of 2**24 are told apart,
which float32 cannot do. Every path, in memory or chunk by chunk, uses
:func:`usable_mask`.
"""

import logging
import math

import numpy as np

from hsiae._stats import ROW_BLOCK
from hsiae.exceptions import Param, ParameterError

__all__ = ["check_mask", "check_nodata", "lazy_mask", "usable_mask", "usable_rows", "pixel_spectra"]

logger = logging.getLogger(__name__)


def check_nodata(nodata):
    """``nodata`` as a float, or None for None and NaN (NaN pixels are always unusable).

    Raises
    ------
    ValueError
        If ``nodata`` is not a number.
    """
    if nodata is None:
        return None
    try:
        nodata = float(nodata)
    except (TypeError, ValueError):
        raise ValueError(f"nodata must be a number or None, got {nodata!r}") from None
    return None if math.isnan(nodata) else nodata


def check_mask(mask, image_shape):
    """``mask`` as a boolean array of the image's shape, or None.

    Parameters
    ----------
    mask : array-like of bool of shape (n_rows, n_cols) or None
        True where a pixel may be used.
    image_shape : tuple (n_rows, n_cols)
        The cube's image.

    Raises
    ------
    ValueError
        If ``mask`` is not a boolean array of that shape.
    """
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != tuple(image_shape) or mask.dtype != bool:
        raise ParameterError(
            "{mask} must be a boolean array of shape {shape} (the cube's image), got an array of "
            "shape {got} and dtype {dtype}.",
            mask=Param("mask"),
            shape=tuple(image_shape),
            got=mask.shape,
            dtype=mask.dtype,
        )
    return mask


def lazy_mask(mask, cube):
    """``mask`` as a dask array of shape (n_rows, n_cols, 1) chunked as the lazy ``cube`` is.

    The second array of a ``cube.map_blocks`` call: each block of the cube
    meets the block of the mask over the same pixels. None stays None.
    """
    if mask is None:
        return None
    import dask.array as da

    return da.from_array(mask[..., None], chunks=(cube.chunks[0], cube.chunks[1], 1))


def usable_mask(spectra, nodata=None, *, float32=None, mask=None):
    """Which rows of ``spectra`` are usable pixels: finite in every band, and not ``nodata`` in all.

    Parameters
    ----------
    spectra : ndarray of shape (n_pixels, n_bands)
        In the cube's own dtype: the fill value is compared in that dtype, so
        that an integer cube's fill value and a pixel one count away from it
        are told apart (float32 cannot, above 2**24).
    nodata : float or None, default=None
        The fill value (from :func:`check_nodata`).
    float32 : ndarray of shape (n_pixels, n_bands), default=None
        The same rows in float32, as the model receives them, if at hand:
        values finite in a wider dtype but not in float32 are unusable too.
    mask : ndarray of bool of shape (n_pixels,), default=None
        False for rows that may not be used whatever they hold (the rows'
        part of a mask from :func:`check_mask`).

    Returns
    -------
    valid : ndarray of bool of shape (n_pixels,)
    """
    if float32 is None:
        float32 = spectra if spectra.dtype == np.float32 else spectra.astype(np.float32)
    valid = np.all(np.isfinite(float32), axis=1)
    if nodata is not None:
        valid &= ~np.all(spectra == nodata, axis=1)
    if mask is not None:
        valid &= mask
    return valid


def usable_rows(X, valid):
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
    nodata = check_nodata(nodata)
    mask = check_mask(mask, (H, W))
    X = np.ascontiguousarray(cube, dtype=np.float32).reshape(H * W, B)
    valid = np.empty(H * W, dtype=bool)
    flat = cube.reshape(H * W, B)
    # In blocks of rows: a mask of the whole cube would be one byte per value (57 MB for a
    # 550 x 400 x 270 cube), the same again for the comparison with the fill value.
    for start in range(0, H * W, ROW_BLOCK):
        rows = slice(start, start + ROW_BLOCK)
        valid[rows] = usable_mask(flat[rows], nodata, float32=X[rows])
    if mask is not None:
        valid &= mask.ravel()
    n_bad = int((~valid).sum())
    if n_bad == valid.size:
        raise ValueError("every pixel of the cube is no-data or non-finite; there is nothing to learn from")
    filled = X
    if n_bad:
        logger.info("%d of %d pixels are no-data or non-finite: left out, labelled 0", n_bad, valid.size)
        filled = X.copy()
        filled[~valid] = X[valid].mean(axis=0)
    return X, valid, filled

"""read_mask: which pixels of a cube may be used, from a 2-D image file."""

import os
from pathlib import Path

import numpy as np

from hsiae.io._common import (
    _TIFF_SUFFIXES,
    CubeFormatError,
    _library_errors,
    _raise_if_damaged,
    _tifffile_log,
    logger,
)

_MASK_SUFFIXES = (*_TIFF_SUFFIXES, ".npy")


def read_mask(path):
    """Read a mask of usable pixels: a 2-D image, True where its value is nonzero.

    The convention of GDAL's mask bands and of :func:`hsiae.pixel_spectra`'s
    ``mask``: nonzero (or True) marks a pixel that may be used, zero (or
    False) one that may not. It is the opposite of :class:`numpy.ma.MaskedArray`,
    whose True hides a value. NaN counts as zero, since a float mask often
    holds NaN outside the area it covers.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.tif``/``.tiff`` file (its first image) or a ``.npy`` file
        holding one value per pixel: a 2-D array of the cube's
        ``(n_rows, n_cols)``; axes of length 1 are dropped, so
        ``(1, n_rows, n_cols)`` is read as ``(n_rows, n_cols)``. The
        ``labels.tif`` of ``hsiae segment`` (0 = no data) is one.

    Returns
    -------
    mask : ndarray of bool of shape (n_rows, n_cols)
        True where a pixel may be used.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    CubeFormatError
        If the file is not a readable TIFF or ``.npy`` file, or does not
        hold a 2-D numeric or boolean array.
    """
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"No such mask file: '{path}'; check the path")
    suffix = path.suffix.lower()
    if suffix in _TIFF_SUFFIXES:
        import tifffile

        with _library_errors(path, "a TIFF file", {"TIFF"}), _tifffile_log() as records:
            values = tifffile.imread(path, series=0, level=0)
            _raise_if_damaged(path, records)
    elif suffix == ".npy":
        expected = "a NumPy .npy file"
        with _library_errors(path, expected, {expected}):
            values = np.load(path, mmap_mode="r", allow_pickle=False)
    else:
        raise CubeFormatError(
            f"Expected a mask image with a suffix of {', '.join(_MASK_SUFFIXES)} but got "
            f"'{path}'; save the mask as a 2-D TIFF or .npy array (nonzero = usable pixel)"
        )
    shape = values.shape
    if values.ndim > 2:
        values = values.reshape([n for n in shape if n != 1] or [1])
    if values.ndim != 2 or values.dtype.kind not in "biuf":
        raise CubeFormatError(
            f"Expected a mask image at '{path}', one number or boolean per pixel (a 2-D array of "
            f"the cube's rows x columns), but it holds a {len(shape)}-D array of shape {shape} "
            f"and dtype {values.dtype}; save one value per pixel, nonzero where a pixel may be "
            f"used"
        )
    mask = np.asarray(values != 0)
    if values.dtype.kind == "f":
        mask &= ~np.isnan(values)
    logger.info("Read mask '%s': %d of %d pixels usable", path, int(mask.sum()), mask.size)
    return mask

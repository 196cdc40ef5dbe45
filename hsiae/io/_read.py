"""read_cube: choose the reader from the file's suffix and check what it returns."""

import os
from pathlib import Path

import numpy as np

from hsiae.exceptions import Param, ParameterError
from hsiae.io._common import _TIFF_SUFFIXES, CubeFormatError, logger
from hsiae.io._envi import (
    _ENVI_DATA_SUFFIXES,
    _envi_header_candidates,
    _envi_header_for,
    _read_envi,
)
from hsiae.io._mat import _read_mat
from hsiae.io._npy import _read_npy
from hsiae.io._tiff import _read_tiff

_READ_SUFFIXES = (*_TIFF_SUFFIXES, ".mat", ".npy", ".hdr", *_ENVI_DATA_SUFFIXES)


def read_cube(path, *, band_axis=None, variable=None, mmap=True, before_load=None):
    """Read a hyperspectral cube as an array of shape (n_rows, n_cols, n_bands).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.tif``/``.tiff``, ``.mat``, ``.npy`` or ENVI file. For ENVI, pass
        the ``.hdr`` header or the data file beside it (no suffix, ``.img``,
        ``.dat``, ``.raw``, ``.bsq``, ``.bil`` or ``.bip``).
    band_axis : {None, 0, 2}, default=None
        Axis of the 3-D array as stored in the file that holds the bands: 0
        for ``(bands, rows, cols)``, 2 for ``(rows, cols, bands)``. None
        reads it from the file's metadata or, failing that, from the shape
        (see the :mod:`hsiae.io` docstring). An explicit value always wins.
    variable : str, default=None
        For ``.mat`` files, the variable to read. None takes the only 3-D
        numeric variable.
    mmap : bool, default=True
        Memory-map the data when the file stores it raw and contiguous (not
        for MAT v5 files, which are always read). False reads it into memory.
    before_load : callable, default=None
        Called as ``before_load(shape, dtype)`` with the cube's
        ``(n_rows, n_cols, n_bands)`` and dtype once the header is read and
        before the pixels are copied into memory (not for memory-mapped
        data, which are paged in as they are used). It may raise to stop the
        read, for instance when the pixels would not fit in memory.

    Returns
    -------
    cube : ndarray of shape (n_rows, n_cols, n_bands)
        The pixels in the file's dtype and byte order, never converted to
        float. Memory-mapped data are a read-only :class:`numpy.memmap` or a
        transposed view of one, so ``cube`` may not be C-contiguous.
    info : CubeInfo
        Wavelengths, no-data value, format and layout of the file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CubeFormatError
        If the file cannot be read as a cube: unknown suffix, damaged or
        truncated content, inconsistent ENVI header, missing or ambiguous MAT
        variable, an array that is not 3-D, or an ambiguous band axis.

    See Also
    --------
    write_cube : Write a cube as a TIFF file that this function reads back.

    Examples
    --------
    >>> cube, info = read_cube("scene.tif")  # doctest: +SKIP
    >>> cube.shape, info.wavelengths[:2]  # doctest: +SKIP
    ((83, 86, 204), array([400., 410.]))
    """
    return _read_cube(path, band_axis=band_axis, variable=variable, mmap=mmap, before_load=before_load)


def _read_cube(path, *, band_axis=None, variable=None, mmap=True, before_load=None):
    """:func:`read_cube`; also for :func:`hsiae.open_cube`.

    ``mmap="lazy"`` (for :func:`hsiae.open_cube`) maps what can be mapped and
    returns a compressed or non-contiguous TIFF as a ``_TiffZarrSource``, whose
    pixels are decoded box by box, instead of loading it.
    """
    path = Path(os.fspath(path))
    if band_axis not in (None, 0, 2):
        raise ValueError(f"band_axis must be None, 0 (bands, rows, cols) or 2 (rows, cols, bands), got {band_axis!r}")
    if not path.exists():
        raise FileNotFoundError(f"No such cube file: '{path}'; check the path")
    if path.is_dir():
        raise CubeFormatError(f"Expected a cube file but '{path}' is a directory; pass one of the files in it")
    fmt = _format_from_suffix(path)
    if variable is not None and fmt != "mat":
        raise ParameterError(
            "{given} only applies to .mat files, but '{path}' is read as {fmt}; drop {option}",
            given=Param("variable", variable),
            path=path,
            fmt=fmt,
            option=Param("variable"),
        )
    reader = {"tiff": _read_tiff, "mat": _read_mat, "npy": _read_npy, "envi": _read_envi}[fmt]
    if before_load is None:

        def before_load(shape, dtype):
            pass

    if fmt == "mat":
        cube, info = reader(path, band_axis, mmap, before_load, variable)
    else:
        cube, info = reader(path, band_axis, mmap, before_load)
    if cube.dtype.kind not in "uif":
        raise CubeFormatError(
            f"Expected a numeric (integer or float) cube but '{path}' holds {cube.dtype} "
            f"data; convert it to a real numeric type first"
        )
    if cube.size == 0:
        raise CubeFormatError(
            f"Expected a non-empty cube but '{path}' holds an array of shape {cube.shape}; "
            f"pass a file with at least one pixel and one band"
        )
    logger.info(
        "Read %s cube %s %s from '%s' (bands on axis %d in the file, memory-mapped: %s)",
        info.format, cube.shape, cube.dtype, info.path, info.band_axis,
        isinstance(cube, np.memmap),
    )  # fmt: skip
    return cube, info


def _format_from_suffix(path):
    """Return "tiff", "mat", "npy" or "envi" for ``path``, or raise."""
    suffix = path.suffix.lower()
    if suffix in _TIFF_SUFFIXES:
        return "tiff"
    if suffix in (".mat", ".npy"):
        return suffix[1:]
    if suffix == ".hdr" or (suffix in ("", *_ENVI_DATA_SUFFIXES) and _envi_header_for(path)):
        return "envi"
    if suffix in _ENVI_DATA_SUFFIXES or suffix == "":
        raise CubeFormatError(
            f"Expected an ENVI header beside the data file '{path}' "
            f"(tried {', '.join(p.name for p in _envi_header_candidates(path))}) but found "
            f"none; put the .hdr file next to it or pass the header path"
        )
    raise CubeFormatError(
        f"Cannot read '{path}': the suffix {path.suffix!r} is not supported; use one of "
        f"{', '.join(_READ_SUFFIXES)} (or an ENVI data file with its .hdr beside it)"
    )

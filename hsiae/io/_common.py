"""Errors, :class:`CubeInfo` and the helpers every reader and writer of :mod:`hsiae.io` shares.

Layout helpers apply the band-axis rule of the :mod:`hsiae.io` docstring.
"""

import contextlib
import logging
import math
import struct
import threading
import tokenize
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.io.matlab import MatReadError

from hsiae.exceptions import Param, ParameterMessage

if TYPE_CHECKING:  # hsiae.io._geo imports this module
    from hsiae.io._geo import Georeference

# One logger for all of hsiae.io, so records keep the name "hsiae.io" that callers filter on.
logger = logging.getLogger("hsiae.io")

_TIFF_SUFFIXES = (".tif", ".tiff")
_METADATA_KEY = "hsiae"
# tifffile's own records about the GDAL_NODATA tag: hsiae reads that tag itself (_parse_nodata)
_TIFFFILE_NODATA_RECORD = "GDAL_NODATA"
_GDAL_METADATA_TAG = 42112
_GDAL_NODATA_TAG = 42113

# Exceptions the readers (tifffile, h5py, scipy, numpy) raise for bad files.
_LIBRARY_ERRORS = (
    ArithmeticError,  # tifffile divides by sizes read from damaged headers
    AssertionError,  # tifffile asserts what a damaged header can contradict
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OSError,
    EOFError,
    RuntimeError,
    struct.error,
    zlib.error,
    MatReadError,
    SyntaxError,  # numpy parses the header of a .npy file as a Python literal
    tokenize.TokenError,
)

_UNIT_ALIASES = {
    "nanometers": "nm", "nanometer": "nm", "nm": "nm",
    "micrometers": "um", "micrometer": "um", "microns": "um", "micron": "um",
    "um": "um", "µm": "um",
    "millimeters": "mm", "mm": "mm", "centimeters": "cm", "cm": "cm",
    "meters": "m", "m": "m", "wavenumber": "cm-1",
    "unknown": None, "index": None, "": None,
}  # fmt: skip


class CubeFormatError(ParameterMessage, ValueError):
    """A file cannot be read as a hyperspectral cube, or written as asked.

    Raised for unsupported suffixes, damaged or truncated files, inconsistent
    headers, missing variables and arrays that are not 3-D. The message is one
    sentence saying what was expected, what was found and what to do; the
    library error it replaces, if any, is chained as ``__cause__``.
    """


@dataclass(frozen=True, eq=False)
class CubeInfo:
    """What :func:`read_cube` learnt about a cube besides its pixels.

    Attributes
    ----------
    path : pathlib.Path or None
        The file the pixels were read from (the data file for ENVI); None
        for a cube that came from memory (:func:`from_xarray`).
    format : {"tiff", "mat", "npy", "envi", "zarr", "xarray"}
        The file format ("zarr" only from :func:`open_cube`, "xarray" from
        :func:`from_xarray`).
    band_axis : int
        Axis of the array as stored in the file that holds the bands: 0 for
        ``(bands, rows, cols)``, 2 for ``(rows, cols, bands)``, 1 only for
        ENVI BIL ``(rows, bands, cols)``. Pass it to :func:`write_cube` to
        keep the layout (BIL has no TIFF equivalent).
    wavelengths : ndarray of shape (n_bands,) or None
        Band centres as float64 (read-only), when the file gives them.
    wavelength_units : str or None
        Units of ``wavelengths`` ("nm", "um", ...) when the file gives them.
    nodata : float or None
        Pixel value that marks missing data, when the file declares one.
    variable : str or None
        Name of the MATLAB variable read, for ``.mat`` files.
    fwhm : ndarray of shape (n_bands,) or None
        Full width at half maximum of each band, in the units of
        ``wavelengths`` (read-only), when the file gives them (ENVI ``fwhm``).
    georeference : Georeference or None
        Where the pixels lie on the map (CRS and affine transform), from a
        GeoTIFF's tags, an ENVI header's ``map info`` or a DataArray's
        coordinates; None when the file says nothing.
    dropped_bands : tuple of int
        Bands of the file left out as bad (ENVI ``bbl``), numbered from 0
        in the file; the cube, ``wavelengths`` and ``fwhm`` hold the others.
    """

    path: Path | None
    format: str
    band_axis: int
    wavelengths: np.ndarray | None = None
    wavelength_units: str | None = None
    nodata: float | None = None
    variable: str | None = None
    fwhm: np.ndarray | None = None
    georeference: "Georeference | None" = None
    dropped_bands: tuple = ()

    @property
    def crs(self):
        """The coordinate reference system ("EPSG:<code>" or WKT), or None: ``georeference.crs``."""
        return None if self.georeference is None else self.georeference.crs

    @property
    def transform(self):
        """The affine transform (a, b, c, d, e, f) from pixel to map coordinates, or None."""
        return None if self.georeference is None else self.georeference.transform


class _TifffileRecords(logging.Filter):
    """Take the records tifffile logs in one thread, so they are neither printed nor lost.

    A filter on tifffile's logger rather than a handler: the records of this
    thread reach no handler at all (not the root logger's, nor Python's last
    resort, which prints them on stderr even under ``hsiae -q``); the reader
    says in its own words what they mean.
    """

    def __init__(self):
        super().__init__()
        self.thread = threading.get_ident()
        self.errors = []
        self.warnings = []

    def filter(self, record):
        if record.thread != self.thread:
            return True
        # "<tifffile.TiffPages @8> invalid page offset 744" -> "invalid page offset 744"
        message = record.getMessage().rpartition("> ")[2]
        if record.levelno >= logging.ERROR:
            self.errors.append(message)
        elif record.levelno >= logging.WARNING and _TIFFFILE_NODATA_RECORD not in message:
            self.warnings.append(message)
        return False


@contextlib.contextmanager
def _tifffile_log():
    """While tifffile reads or writes a file in this thread, collect its log records instead.

    Yields the :class:`_TifffileRecords`, whose ``errors`` (damage tifffile
    worked around, such as a cut page chain) and ``warnings`` (metadata it
    could not use) the caller reports. Records about the GDAL_NODATA tag are
    dropped: hsiae parses that tag itself and warns about an unreadable one.
    """
    records = _TifffileRecords()
    log = logging.getLogger("tifffile")
    log.addFilter(records)
    try:
        yield records
    finally:
        log.removeFilter(records)


def _raise_if_damaged(path, records):
    """Refuse a TIFF file in which tifffile found damage (an ERROR record of :func:`_tifffile_log`)."""
    if records.errors:
        raise CubeFormatError(
            f"Expected an intact TIFF file at '{path}' but tifffile found it damaged "
            f"({records.errors[0]}); pages or bands may be missing, so copy or export it again"
        )


def _sniff(path):
    """Name the format the first bytes of ``path`` look like, or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1032)
    except OSError:
        return None
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (such as a NumPy .npz file)"
    if head.startswith(b"MATLAB 7.3"):
        return "a MATLAB v7.3 (HDF5) .mat file"
    if head.startswith(b"MATLAB"):
        return "a MATLAB v5 .mat file"
    if any(head[i : i + 8] == b"\x89HDF\r\n\x1a\n" for i in (0, 512, 1024)):
        return "an HDF5 file"
    if head.lstrip().startswith(b"ENVI"):
        return "an ENVI header"
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    return None


@contextlib.contextmanager
def _library_errors(path, expected, looks_right):
    """Re-raise errors of the reading libraries as one-sentence CubeFormatErrors.

    ``looks_right`` is the set of :func:`_sniff` answers that match ``expected``.
    """
    try:
        yield
    except (CubeFormatError, PermissionError, MemoryError):
        raise
    except _LIBRARY_ERRORS as exc:
        found = _sniff(path)
        reason = str(exc).strip().rstrip(".") or type(exc).__name__
        if isinstance(exc, tokenize.TokenError):
            reason = f"its header is not a Python literal: {exc.args[0]}"
        if found is not None and found not in looks_right:
            message = (
                f"Expected {expected} at '{path}' but its content looks like {found}; "
                f"give the file the suffix that matches its content"
            )
        elif "imagecodecs" in reason:
            message = (
                f"Expected {expected} that tifffile can decode at '{path}' but it is "
                f"compressed with a codec that needs the imagecodecs package ({reason}); "
                f"save it uncompressed or with zlib/deflate, or install imagecodecs"
            )
        else:
            message = (
                f"Expected {expected} at '{path}' but it could not be read ({reason}); "
                f"the file may be truncated or damaged, so copy or export it again"
            )
        raise CubeFormatError(message) from exc


def _memmap(path, dtype, shape, offset, what):
    """Memory-map ``shape`` items of ``dtype`` at ``offset``, after checking the size."""
    needed = offset + int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size
    if size < needed:
        raise CubeFormatError(
            f"Expected {needed} bytes in {what} '{path}' for {shape} {dtype} values at "
            f"offset {offset}, but the file has {size}; it is truncated, so copy or export "
            f"it again"
        )
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape))


def _not_a_cube(path, shape, axes=None):
    """Return the CubeFormatError for an array that is not 3-D."""
    axes_text = f" (axes {axes!r})" if axes else ""
    if len(shape) < 3:
        what_to_do = (
            "a cube needs a band axis; pass a multi-band file (a (bands, pixels) matrix becomes a cube "
            "with hsiae.io.matrix_to_cube; a single-band image is not a cube)"
        )
    else:
        what_to_do = (
            "only one axis besides rows and columns may be longer than 1; split the "
            "file into one cube per extra axis first"
        )
    return CubeFormatError(
        f"Expected a 3-D cube (rows, cols, bands) but '{path}' holds a {len(shape)}-D "
        f"array of shape {tuple(shape)}{axes_text}; {what_to_do}"
    )


def _band_axis_from_shape(path, shape):
    """Apply the shape rule of the :mod:`hsiae.io` docstring, or raise."""
    n0, n1, n2 = shape
    if n1 == n2 != n0:
        return 0
    if n0 == n1 != n2:
        return 2
    raise CubeFormatError(
        "Cannot tell which axis of the {shape} array in '{path}' holds the bands: the file does "
        "not record its layout and the shape does not settle it; pass {first} for (bands, rows, "
        "cols) or {last} for (rows, cols, bands)",
        shape=tuple(shape),
        path=path,
        first=Param("band_axis", 0),
        last=Param("band_axis", 2),
    )


def _permutation(band_axis):
    """Axes order that turns a stored array into (rows, cols, bands)."""
    return (1, 2, 0) if band_axis == 0 else (0, 1, 2)


def _resolve_layout(path, shape, explicit, found, found_from):
    """Return (band axis in the file, permutation to (rows, cols, bands)).

    ``found`` is ``(band_axis, permutation)`` from the file's metadata or None.
    """
    if len(shape) != 3:
        raise _not_a_cube(path, shape)
    if explicit is not None:
        if found is not None and found[0] != explicit:
            logger.warning(
                "the bands are read from axis %d, as asked, against the layout recorded in '%s' "
                "(%s puts them on axis %d)", explicit, path, found_from, found[0],
            )  # fmt: skip
        return explicit, _permutation(explicit)
    if found is not None:
        return found
    axis = _band_axis_from_shape(path, shape)
    logger.info("'%s' records no layout; bands on axis %d inferred from its shape", path, axis)
    return axis, _permutation(axis)


def _normalise_units(units):
    if units is None:
        return None
    text = str(units).strip()
    return _UNIT_ALIASES.get(text.lower(), text)


def _checked_wavelengths(path, values, n_bands, source):
    """Return ``values`` as read-only floats if there is one per band, else None."""
    if values is None:
        return None
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        logger.warning("Ignoring unreadable wavelengths in %s of '%s'", source, path)
        return None
    if array.size != n_bands:
        logger.warning(
            "Ignoring the %d wavelengths in %s of '%s': the cube has %d bands",
            array.size, source, path, n_bands,
        )  # fmt: skip
        return None
    array.flags.writeable = False
    return array


def _per_band(values, n_bands, what):
    """``values`` as a list of one float per band, or None; raise ValueError for another count."""
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n_bands,):
        raise ValueError(
            f"Expected one {what} per band, shape ({n_bands},), but got shape {values.shape}; "
            f"pass the {what}s of this cube's bands"
        )
    return values.tolist()


def _cube_metadata(band_axis, n_bands, wavelengths, wavelength_units, nodata, fwhm=None):
    """The metadata hsiae stores with a cube it writes, and the TIFF tag of its no-data value.

    Returns ``(meta, extratags)``: the dict written as JSON beside the
    pixels, and tifffile's ``extratags`` (GDAL's no-data tag when ``nodata``
    is given). Raises ValueError for wavelengths or widths that are not one
    per band or a no-data value that is not a number.
    """
    meta = {"band_axis": band_axis}
    if wavelengths is not None:
        meta["wavelengths"] = _per_band(wavelengths, n_bands, "wavelength")
        meta["wavelength_units"] = wavelength_units
    if fwhm is not None:
        meta["fwhm"] = _per_band(fwhm, n_bands, "fwhm")
    extratags = []
    if nodata is not None:
        try:
            nodata = float(nodata)
        except (TypeError, ValueError):
            raise ValueError(f"Expected a number for nodata but got {nodata!r}; pass a float or None") from None
        meta["nodata"] = nodata
        extratags.append((_GDAL_NODATA_TAG, "s", 0, _nodata_text(nodata), True))
    return meta, extratags


def _nodata_text(value):
    """The GDAL_NODATA text of a no-data value: whole numbers as integers ("0", not "0.0").

    GDAL and tifffile parse the tag of an integer cube with ``int()``, which
    refuses "0.0"; whole numbers are written as integers whatever the dtype,
    as GDAL writes them.
    """
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    return repr(value)


def _parse_nodata(path, value):
    if value is None:
        return None
    try:
        return float(str(value).strip().strip("\x00"))
    except ValueError:
        logger.warning("Ignoring the unreadable no-data value %r in '%s'", value, path)
        return None

"""Read hyperspectral cubes and write cubes and label maps.

:func:`read_cube` reads TIFF (multi-page, interleaved, planar, ImageJ, OME),
MATLAB ``.mat`` (v4/v5 and v7.3), NumPy ``.npy`` and ENVI files and always
returns an array of shape ``(n_rows, n_cols, n_bands)`` in the file's own
dtype, memory-mapped where the file allows it, plus a :class:`CubeInfo`.
:func:`write_cube` and :func:`write_labels` write TIFF files atomically.

Band-axis rule
--------------
A 3-D array is stored either band-first ``(bands, rows, cols)`` or band-last
``(rows, cols, bands)``; ``band_axis`` (0 or 2) names the axis of the array
*as stored in the file* that holds the bands. It is decided, first rule first:

1. ``band_axis=`` passed by the caller;
2. the file's own layout: our JSON metadata, TIFF axes (``series.axes``:
   pages, ImageJ/OME ``Z``/``C``/``T`` and planar samples are band-first,
   interleaved samples are band-last) or the ENVI ``interleave``;
3. the shape, only when it leaves no doubt: of a ``(n0, n1, n2)`` array,
   axis 0 is the band axis when ``n1 == n2 != n0`` (a square image stored
   band-first), axis 2 when ``n0 == n1 != n2``.

Anything else (``.npy`` and ``.mat`` files with a non-square image, say) is
ambiguous and raises :class:`CubeFormatError` asking for ``band_axis=0`` or
``band_axis=2``. Sizes alone prove nothing: scenes have 100 to 300 bands and
as many rows or columns (Indian Pines is 145 x 145 x 200, Pavia University
610 x 340 x 103), so "the shortest axis holds the bands" would be wrong.

The band axis found is returned as :attr:`CubeInfo.band_axis`; it is 1 only
for ENVI BIL files, stored ``(rows, bands, cols)``.
"""

import contextlib
import logging
import os
import struct
import uuid
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import scipy.io
import tifffile
from scipy.io.matlab import MatReadError

logger = logging.getLogger(__name__)

__all__ = ["CubeFormatError", "CubeInfo", "read_cube", "write_cube", "write_labels"]

_TIFF_SUFFIXES = (".tif", ".tiff")
_ENVI_DATA_SUFFIXES = (".img", ".dat", ".raw", ".bsq", ".bil", ".bip")
_READ_SUFFIXES = (*_TIFF_SUFFIXES, ".mat", ".npy", ".hdr", *_ENVI_DATA_SUFFIXES)

# Some readers treat TIFF offsets as signed 32-bit: switch to BigTIFF well before 2 GiB.
_BIGTIFF_BYTES = 2**31 - 2**25
_STRIP_BYTES = 2**23  # strips of interleaved TIFFs written by write_cube
_METADATA_KEY = "hsiae"
_GDAL_METADATA_TAG = 42112
_GDAL_NODATA_TAG = 42113

# Exceptions the readers (tifffile, h5py, scipy, numpy) raise for bad files.
_LIBRARY_ERRORS = (
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
)

# ENVI "data type" codes (6 and 9 are complex, 0 undefined)
_ENVI_DTYPES = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8", 15: "u8"}
# interleave -> (stored axes as (rows, cols, bands) positions, band axis in the file)
_ENVI_LAYOUTS = {"bsq": ((1, 2, 0), 0), "bil": ((0, 2, 1), 1), "bip": ((0, 1, 2), 2)}

_MATLAB_NUMERIC = {
    "double", "single", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
}  # fmt: skip

_UNIT_ALIASES = {
    "nanometers": "nm", "nanometer": "nm", "nm": "nm",
    "micrometers": "um", "micrometer": "um", "microns": "um", "micron": "um",
    "um": "um", "µm": "um",
    "millimeters": "mm", "mm": "mm", "centimeters": "cm", "cm": "cm",
    "meters": "m", "m": "m", "wavenumber": "cm-1",
    "unknown": None, "index": None, "": None,
}  # fmt: skip


class CubeFormatError(ValueError):
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
    path : pathlib.Path
        The file the pixels were read from (the data file for ENVI).
    format : {"tiff", "mat", "npy", "envi"}
        The file format.
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
    """

    path: Path
    format: str
    band_axis: int
    wavelengths: np.ndarray | None = None
    wavelength_units: str | None = None
    nodata: float | None = None
    variable: str | None = None


# --------------------------------------------------------------------------- reading


def read_cube(path, *, band_axis=None, variable=None, mmap=True):
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
        (see the module docstring). An explicit value always wins.
    variable : str, default=None
        For ``.mat`` files, the variable to read. None takes the only 3-D
        numeric variable.
    mmap : bool, default=True
        Memory-map the data when the file stores it raw and contiguous (not
        for MAT v5 files, which are always read). False reads it into memory.

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
    path = Path(os.fspath(path))
    if band_axis not in (None, 0, 2):
        raise ValueError(
            f"band_axis must be None, 0 (bands, rows, cols) or 2 (rows, cols, bands), "
            f"got {band_axis!r}"
        )
    if not path.exists():
        raise FileNotFoundError(f"No such cube file: '{path}'; check the path")
    if path.is_dir():
        raise CubeFormatError(
            f"Expected a cube file but '{path}' is a directory; pass one of the files in it"
        )
    fmt = _format_from_suffix(path)
    if variable is not None and fmt != "mat":
        raise ValueError(
            f"variable={variable!r} only applies to .mat files, but '{path}' is read as "
            f"{fmt}; drop variable="
        )
    reader = {"tiff": _read_tiff, "mat": _read_mat, "npy": _read_npy, "envi": _read_envi}[fmt]
    if fmt == "mat":
        cube, info = reader(path, band_axis, mmap, variable)
    else:
        cube, info = reader(path, band_axis, mmap)
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
            "a cube needs a band axis; pass a multi-band file (a single-band image or a "
            "(bands, pixels) matrix must be reshaped to (rows, cols, bands) first)"
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
    """Apply the shape rule of the module docstring, or raise."""
    n0, n1, n2 = shape
    if n1 == n2 != n0:
        return 0
    if n0 == n1 != n2:
        return 2
    raise CubeFormatError(
        f"Cannot tell which axis of the {tuple(shape)} array in '{path}' holds the bands: "
        f"the file does not record its layout and the shape does not settle it; pass "
        f"band_axis=0 for (bands, rows, cols) or band_axis=2 for (rows, cols, bands)"
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
                "band_axis=%d overrides the layout recorded in '%s' (%s puts the bands on "
                "axis %d)", explicit, path, found_from, found[0],
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


# ---- TIFF


def _read_tiff(path, band_axis, mmap):
    expected = "a TIFF file"
    with _library_errors(path, expected, {"TIFF"}), tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise CubeFormatError(
                f"Expected {expected} with image data at '{path}' but it holds no images; "
                f"check the file"
            )
        if len(tif.series) > 1:
            logger.info("'%s' holds %d image series; reading the first", path, len(tif.series))
        series = tif.series[0]
        shape, axes = tuple(series.shape), series.axes
        if series.dtype is None:
            raise CubeFormatError(
                f"Expected {expected} with a numeric pixel type at '{path}' but tifffile "
                f"cannot map its sample format to a NumPy dtype; convert the file"
            )
        dtype = np.dtype(tif.byteorder + series.dtype.char)
        ours = _our_tiff_metadata(tif)
        if ours is not None and ours.get("band_axis") in (0, 2) and len(shape) == 3:
            found = (ours["band_axis"], _permutation(ours["band_axis"]))
            found_from = "its hsiae metadata"
        else:
            found, found_from = _layout_from_axes(path, shape, axes), f"axes {axes!r}"
        axis, perm = _resolve_layout(path, shape, band_axis, found, found_from)
        n_bands = shape[axis]

        wavelengths, units, source = None, None, None
        if ours is not None and ours.get("wavelengths") is not None:
            wavelengths, units = ours["wavelengths"], ours.get("wavelength_units")
            source = "the hsiae metadata"
        elif tif.is_ome and "C" in axes and axes.index("C") == axis:
            wavelengths, units = _ome_wavelengths(tif.ome_metadata)
            source = "the OME-XML channels"
        if wavelengths is None and tif.is_gdal:
            wavelengths, units = _gdal_wavelengths(tif.gdal_metadata)
            source = "the GDAL metadata"
        wavelengths = _checked_wavelengths(path, wavelengths, n_bands, source)
        nodata = ours.get("nodata") if ours is not None else None
        if nodata is None:
            nodata = tif.pages.first.tags.valueof(_GDAL_NODATA_TAG)
        nodata = _parse_nodata(path, nodata)

        offset = series.dataoffset
        can_map = offset is not None and not series.is_multifile and series.transform is None
        data = None
        if not (mmap and can_map):
            if mmap:
                logger.info(
                    "'%s' is compressed or not contiguous; reading it into memory", path
                )
            data = series.asarray()
    if data is None:
        data = _memmap(path, dtype, shape, offset, "the TIFF file")
    info = CubeInfo(
        path=path, format="tiff", band_axis=axis, wavelengths=wavelengths,
        wavelength_units=_normalise_units(units) if wavelengths is not None else None,
        nodata=nodata,
    )  # fmt: skip
    return np.transpose(data, perm), info


def _our_tiff_metadata(tif):
    """Return the dict written by :func:`write_cube`, or None."""
    shaped = tif.shaped_metadata
    if not shaped or not isinstance(shaped[0], dict):
        return None
    ours = shaped[0].get(_METADATA_KEY)
    return ours if isinstance(ours, dict) else None


def _layout_from_axes(path, shape, axes):
    """Read the band axis from tifffile's axes codes, or None if they say nothing."""
    if len(shape) != 3:
        raise _not_a_cube(path, shape, axes)
    if len(axes) != 3 or axes.count("Y") != 1 or axes.count("X") != 1:
        return None
    rows, cols = axes.index("Y"), axes.index("X")
    (bands,) = {0, 1, 2} - {rows, cols}
    return bands, (rows, cols, bands)


def _ome_wavelengths(xml):
    """Emission wavelengths of the first image's channels in OME-XML, if all have one."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None, None
    pixels = next((e for e in root.iter() if e.tag.rpartition("}")[2] == "Pixels"), None)
    if pixels is None:
        return None, None
    channels = [c for c in pixels if c.tag.rpartition("}")[2] == "Channel"]
    values = [c.get("EmissionWavelength") for c in channels]
    if not channels or None in values:
        return None, None
    # OME's default unit for EmissionWavelength is nm
    return values, channels[0].get("EmissionWavelengthUnit", "nm")


def _gdal_wavelengths(xml):
    """Per-band ``wavelength`` items of GDAL_METADATA, as GDAL writes them for ENVI data."""
    try:
        root = ET.fromstring(xml)
    except (ET.ParseError, TypeError):
        return None, None
    values, units = {}, None
    for item in root.iter("Item"):
        name, sample = (item.get("name") or "").lower(), item.get("sample")
        if name == "wavelength" and sample is not None and sample.isdigit():
            values[int(sample)] = item.text
        elif name == "wavelength_units":
            units = item.text
    if not values or sorted(values) != list(range(len(values))):
        return None, None
    return [values[i] for i in range(len(values))], units


def _parse_nodata(path, value):
    if value is None:
        return None
    try:
        return float(str(value).strip().strip("\x00"))
    except ValueError:
        logger.warning("Ignoring the unreadable no-data value %r in '%s'", value, path)
        return None


# ---- NumPy


def _read_npy(path, band_axis, mmap):
    expected = "a NumPy .npy file"
    with _library_errors(path, expected, {expected}):
        if _sniff(path) != expected:
            raise ValueError("no .npy magic string")
        data = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    axis, perm = _resolve_layout(path, data.shape, band_axis, None, None)
    return np.transpose(data, perm), CubeInfo(path=path, format="npy", band_axis=axis)


# ---- MATLAB


def _read_mat(path, band_axis, mmap, variable):
    if h5py.is_hdf5(path):
        expected = "a MATLAB v7.3 (HDF5) .mat file"
        with _library_errors(path, expected, {expected, "an HDF5 file"}):
            name, data = _read_mat73(path, variable, mmap)
    else:
        expected = "a MATLAB .mat file"
        with _library_errors(path, expected, {"a MATLAB v5 .mat file"}):
            name, data = _read_mat5(path, variable)
    axis, perm = _resolve_layout(path, data.shape, band_axis, None, None)
    info = CubeInfo(path=path, format="mat", band_axis=axis, variable=name)
    return np.transpose(data, perm), info


def _pick_variable(path, variable, described):
    """Choose the variable to read; ``described`` maps names to (shape, class)."""
    listing = "; ".join(f"{n} {tuple(s)} {c}" for n, (s, c) in described.items()) or "none"
    if variable is not None:
        if variable not in described:
            raise CubeFormatError(
                f"Expected a variable {variable!r} in '{path}' but it has: {listing}; "
                f"pass one of these as variable="
            )
        return variable
    cubes = [n for n, (s, c) in described.items() if len(s) == 3 and c in _MATLAB_NUMERIC]
    if len(cubes) == 1:
        return cubes[0]
    if cubes:
        found, what_to_do = f"{len(cubes)} 3-D numeric variables", "pass variable= to choose one"
    else:
        found = "none"
        what_to_do = (
            "pass variable= if one of them is the cube, or reshape a (bands, pixels) "
            "matrix to (rows, cols, bands) first"
        )
    raise CubeFormatError(
        f"Expected exactly one 3-D numeric variable in '{path}' but found {found} "
        f"(variables: {listing}); {what_to_do}"
    )


def _read_mat5(path, variable):
    # whosmat lists shapes and classes without reading the data
    described = {name: (shape, cls) for name, shape, cls in scipy.io.whosmat(path)}
    name = _pick_variable(path, variable, described)
    # Keep the stored dtype: MATLAB stores integer-valued doubles losslessly as
    # smaller integers, and mat_dtype=True would widen them to float64.
    data = scipy.io.loadmat(path, variable_names=[name])[name]
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "biuf":
        raise CubeFormatError(
            f"Expected a numeric array in variable {name!r} of '{path}' but found "
            f"{type(data).__name__} of {getattr(data, 'dtype', 'unknown type')}; "
            f"pass variable= naming a real numeric array"
        )
    return name, data


def _matlab_class(dataset):
    value = dataset.attrs.get("MATLAB_class")
    if value is None:  # plain HDF5: name the dtype as MATLAB would
        name = dataset.dtype.name if dataset.dtype.kind in "iuf" else "unknown"
        return {"float64": "double", "float32": "single"}.get(name, name)
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_mat73(path, variable, mmap):
    with h5py.File(path, "r") as f:
        described = {}
        for name, obj in f.items():
            if name.startswith("#"):  # MATLAB's #refs# and #subsystem# groups
                continue
            if isinstance(obj, h5py.Dataset):
                # h5py shows MATLAB's column-major arrays with the axes reversed
                described[name] = (obj.shape[::-1], _matlab_class(obj))
            else:
                described[name] = ((), "struct")
        name = _pick_variable(path, variable, described)
        dataset = f[name]
        if (
            not isinstance(dataset, h5py.Dataset)
            or dataset.dtype.kind not in "iuf"
            or described[name][1] not in _MATLAB_NUMERIC
        ):
            raise CubeFormatError(
                f"Expected a numeric array in variable {name!r} of '{path}' but found "
                f"MATLAB class {described[name][1]!r}; pass variable= naming a numeric array"
            )
        offset = dataset.id.get_offset()
        if mmap and dataset.chunks is None and dataset.compression is None and offset:
            shape, dtype = dataset.shape, dataset.dtype
            data = None
        else:
            data = dataset[()]
    if data is None:
        data = _memmap(path, dtype, shape, offset, "the MAT file")
    return name, data.T


# ---- ENVI


def _envi_header_candidates(data_path):
    names = [data_path.with_suffix(".hdr") if data_path.suffix else None,
             data_path.with_name(data_path.name + ".hdr")]  # fmt: skip
    names += [p.with_name(p.stem + ".HDR") for p in names if p is not None]
    return list(dict.fromkeys(p for p in names if p is not None))


def _envi_header_for(data_path):
    return next((p for p in _envi_header_candidates(data_path) if p.is_file()), None)


def _envi_data_for(header_path):
    base = header_path.with_suffix("")  # scene.hdr -> scene, scene.img.hdr -> scene.img
    candidates = [base] + [base.with_name(base.name + ext) for ext in _ENVI_DATA_SUFFIXES]
    candidates += [base.with_name(base.name + ext.upper()) for ext in _ENVI_DATA_SUFFIXES]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        tried = ", ".join(p.name for p in candidates[: 1 + len(_ENVI_DATA_SUFFIXES)])
        raise CubeFormatError(
            f"Expected the ENVI data file of header '{header_path}' beside it but found "
            f"none (tried {tried}); put the data file next to the header"
        )
    return found


def _parse_envi_header(path):
    """Return the fields of an ENVI header as a dict of lower-case key -> text."""
    lines = [line for line in path.read_bytes().decode("latin-1").splitlines() if line.strip()]
    if not lines or lines[0].strip() != "ENVI":
        found = _sniff(path)
        raise CubeFormatError(
            f"Expected an ENVI header starting with the line 'ENVI' at '{path}' but "
            f"{'its content looks like ' + found if found else 'it starts differently'}; "
            f"pass the .hdr file of an ENVI image"
        )
    fields, lines = {}, iter(lines[1:])
    for line in lines:
        if "=" not in line or line.lstrip().startswith(";"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if value.startswith("{"):
            while "}" not in value:
                try:
                    value += " " + next(lines).strip()
                except StopIteration:
                    raise CubeFormatError(
                        f"Expected a closing '}}' for the field '{key.strip()}' in ENVI "
                        f"header '{path}' but the file ended; repair the header"
                    ) from None
            value = value[1 : value.rindex("}")]
        fields[" ".join(key.lower().split())] = value.strip()
    return fields


def _envi_int(path, fields, key, default=None):
    text = fields.get(key)
    if text is None and default is not None:
        return default
    try:
        return int(text)
    except (TypeError, ValueError):
        raise CubeFormatError(
            f"Expected an integer '{key}' in ENVI header '{path}' but found "
            f"{'nothing' if text is None else repr(text)}; repair the header"
        ) from None


def _read_envi(path, band_axis, mmap):
    if path.suffix.lower() == ".hdr":
        header_path, data_path = path, _envi_data_for(path)
    else:
        header_path, data_path = _envi_header_for(path), path
    fields = _parse_envi_header(header_path)
    samples, lines_, bands = (
        _envi_int(header_path, fields, key) for key in ("samples", "lines", "bands")
    )
    if min(samples, lines_, bands) < 1:
        raise CubeFormatError(
            f"Expected positive samples, lines and bands in ENVI header '{header_path}' but "
            f"found {samples}, {lines_} and {bands}; repair the header"
        )
    code = _envi_int(header_path, fields, "data type")
    if code not in _ENVI_DTYPES:
        raise CubeFormatError(
            f"Expected an ENVI data type among {sorted(_ENVI_DTYPES)} in '{header_path}' but "
            f"found {code} (6 and 9 are complex, which a cube cannot hold); convert the data"
        )
    byte_order = _envi_int(header_path, fields, "byte order", default=0)
    if byte_order not in (0, 1):
        raise CubeFormatError(
            f"Expected 'byte order' 0 (little-endian) or 1 (big-endian) in '{header_path}' "
            f"but found {byte_order}; repair the header"
        )
    dtype = np.dtype(("<", ">")[byte_order] + _ENVI_DTYPES[code])
    offset = _envi_int(header_path, fields, "header offset", default=0)
    interleave = fields.get("interleave", "bsq").strip().lower()
    if interleave not in _ENVI_LAYOUTS:
        raise CubeFormatError(
            f"Expected 'interleave' bsq, bil or bip in '{header_path}' but found "
            f"{interleave!r}; repair the header"
        )
    if band_axis is not None and band_axis != _ENVI_LAYOUTS[interleave][1]:
        logger.warning(
            "band_axis=%d overrides 'interleave = %s' in '%s'", band_axis, interleave, header_path
        )
        interleave = "bsq" if band_axis == 0 else "bip"
    perm, axis = _ENVI_LAYOUTS[interleave]
    stored = {
        "bsq": (bands, lines_, samples),
        "bil": (lines_, bands, samples),
        "bip": (lines_, samples, bands),
    }[interleave]

    expected = offset + samples * lines_ * bands * dtype.itemsize
    size = data_path.stat().st_size
    if size != expected:
        raise CubeFormatError(
            f"Expected {expected} bytes in ENVI data file '{data_path}' ({lines_} lines x "
            f"{samples} samples x {bands} bands of {dtype.itemsize}-byte {dtype.name} after "
            f"a {offset}-byte header offset) but it has {size}; check samples, lines, "
            f"bands, data type and header offset in '{header_path.name}', or copy the data again"
        )
    with _library_errors(data_path, "an ENVI data file", {None}):
        if mmap:
            data = np.memmap(data_path, dtype=dtype, mode="r", offset=offset, shape=stored)
        else:
            count = samples * lines_ * bands
            data = np.fromfile(data_path, dtype=dtype, count=count, offset=offset).reshape(stored)

    wavelengths = None
    if "wavelength" in fields:
        values = [v for v in fields["wavelength"].split(",") if v.strip()]
        wavelengths = _checked_wavelengths(header_path, values, bands, "'wavelength'")
    units = _normalise_units(fields.get("wavelength units")) if wavelengths is not None else None
    nodata = _parse_nodata(header_path, fields.get("data ignore value"))
    info = CubeInfo(
        path=data_path, format="envi", band_axis=axis, wavelengths=wavelengths,
        wavelength_units=units, nodata=nodata,
    )  # fmt: skip
    return np.transpose(data, perm), info


# --------------------------------------------------------------------------- writing


def write_cube(
    path,
    cube,
    *,
    band_axis=0,
    wavelengths=None,
    wavelength_units=None,
    nodata=None,
    force=False,
):
    """Write a cube of shape (n_rows, n_cols, n_bands) as an uncompressed TIFF.

    The file is written to a temporary file in the same directory and renamed
    over ``path`` only once complete, so a failure never leaves a partial file.
    Pixels go out one page or strip at a time in native byte order, so a
    memory-mapped cube is never loaded whole. Files over about 2 GB are
    written as BigTIFF.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; its suffix must be ``.tif`` or ``.tiff``.
    cube : array-like of shape (n_rows, n_cols, n_bands)
        Integer or float pixels, written in their own dtype (the layout
        :func:`read_cube` returns, whatever ``band_axis`` is).
    band_axis : {0, 2}, default=0
        Layout in the file: 0 writes one page per band, ``(bands, rows, cols)``,
        as hyperspectral cameras do; 2 writes one page with ``n_bands``
        interleaved samples per pixel, ``(rows, cols, bands)``.
    wavelengths : array-like of shape (n_bands,), default=None
        Band centres, stored in the TIFF's ImageDescription (JSON).
    wavelength_units : str, default=None
        Units of ``wavelengths``, such as "nm".
    nodata : float, default=None
        Value marking missing pixels, stored in the JSON and in the
        GDAL_NODATA tag (42113) that GDAL and QGIS read.
    force : bool, default=False
        Overwrite ``path`` if it exists.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``force`` is False.
    FileNotFoundError
        If the folder of ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    CubeFormatError
        If the suffix of ``path`` is not ``.tif`` or ``.tiff``.
    ValueError
        If ``cube``, ``band_axis``, ``wavelengths`` or ``nodata`` are invalid.

    See Also
    --------
    read_cube : Read the cube and its metadata back.
    write_labels : Write a segment map.

    Examples
    --------
    >>> cube, info = read_cube("scene.mat", band_axis=2)  # doctest: +SKIP
    >>> write_cube("scene.tif", cube, wavelengths=info.wavelengths)  # doctest: +SKIP
    """
    path = _tiff_output_path(path)
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise ValueError(
            f"Expected a cube of shape (n_rows, n_cols, n_bands) but got a {cube.ndim}-D "
            f"array of shape {cube.shape}; reshape it first"
        )
    if cube.dtype.kind not in "uif" or cube.size == 0:
        raise ValueError(
            f"Expected a non-empty integer or float cube but got {cube.dtype} data of shape "
            f"{cube.shape}; convert it with cube.astype(...)"
        )
    if band_axis not in (0, 2):
        raise ValueError(
            f"band_axis must be 0 (one page per band) or 2 (interleaved bands), "
            f"got {band_axis!r}"
        )
    n_bands = cube.shape[2]
    meta = {"band_axis": band_axis}
    if wavelengths is not None:
        wavelengths = np.asarray(wavelengths, dtype=np.float64)
        if wavelengths.shape != (n_bands,):
            raise ValueError(
                f"Expected one wavelength per band, shape ({n_bands},), but got shape "
                f"{wavelengths.shape}; pass the band centres of this cube"
            )
        meta["wavelengths"] = wavelengths.tolist()
        meta["wavelength_units"] = wavelength_units
    extratags = []
    if nodata is not None:
        try:
            nodata = float(nodata)
        except (TypeError, ValueError):
            raise ValueError(
                f"Expected a number for nodata but got {nodata!r}; pass a float or None"
            ) from None
        meta["nodata"] = nodata
        extratags.append((_GDAL_NODATA_TAG, "s", 0, repr(nodata), True))

    # Feed tifffile one page or strip at a time: given a whole array that is not
    # C-contiguous (a transposed memmap, say), it would copy all of it first.
    native = cube.dtype.newbyteorder("=")
    if band_axis == 0:
        shape, layout = (n_bands, *cube.shape[:2]), {}
        segments = (np.ascontiguousarray(cube[:, :, b], dtype=native) for b in range(n_bands))
    else:
        rows = max(1, _STRIP_BYTES // (cube.shape[1] * n_bands * cube.itemsize))
        shape, layout = cube.shape, {"rowsperstrip": rows}
        if n_bands > 1:  # tifffile refuses planarconfig='contig' for a single sample
            layout["planarconfig"] = "contig"
        segments = (
            np.ascontiguousarray(cube[start : start + rows], dtype=native).tobytes()
            for start in range(0, cube.shape[0], rows)
        )
    bigtiff = cube.nbytes > _BIGTIFF_BYTES

    def write(fh):
        tifffile.imwrite(
            fh, segments, shape=shape, dtype=native, bigtiff=bigtiff,
            photometric="minisblack", metadata={_METADATA_KEY: meta},
            extratags=extratags, **layout,
        )  # fmt: skip

    _atomic_write(path, force, write)
    logger.info(
        "Wrote cube %s %s to '%s' (bands on axis %d%s)",
        cube.shape, cube.dtype, path, band_axis, ", BigTIFF" if bigtiff else "",
    )  # fmt: skip


def write_labels(path, labels, *, force=False, nodata_mask=None):
    """Write a segment map as a single-page TIFF, clusters numbered from 1.

    Clusterers number clusters ``0 .. k-1`` and may mark unassigned pixels
    with a negative label. In the file, 0 is reserved for no data, so each
    label ``c >= 0`` is written as ``c + 1``, and negative labels and pixels
    where ``nodata_mask`` is True are written as 0. The dtype is the smallest
    of uint8, uint16 and uint32 that holds ``k``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; its suffix must be ``.tif`` or ``.tiff``.
    labels : array-like of shape (n_rows, n_cols)
        Integer cluster labels, 0-based, negative for no data.
    force : bool, default=False
        Overwrite ``path`` if it exists.
    nodata_mask : array-like of bool of shape (n_rows, n_cols), default=None
        True where the pixel has no data; written as 0 whatever its label.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``force`` is False.
    FileNotFoundError
        If the folder of ``path`` does not exist.
    CubeFormatError
        If the suffix of ``path`` is not ``.tif`` or ``.tiff``.
    ValueError
        If ``labels`` is not a 2-D integer array, ``nodata_mask`` does not
        match it, or there are more clusters than uint32 can number.

    See Also
    --------
    write_cube : Write a cube.

    Examples
    --------
    >>> write_labels("segments.tif", model.labels_.reshape(83, 86))  # doctest: +SKIP
    """
    path = _tiff_output_path(path)
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "iu" or labels.size == 0:
        raise ValueError(
            f"Expected a non-empty 2-D integer label image (n_rows, n_cols) but got "
            f"{labels.dtype} data of shape {labels.shape}; reshape the labels to the image "
            f"and cast them with labels.astype(int)"
        )
    top = int(labels.max())
    if top >= np.iinfo(np.uint32).max:
        raise ValueError(
            f"Expected labels below {np.iinfo(np.uint32).max} but the largest is {top}; "
            f"renumber the clusters from 0"
        )
    out = labels.astype(np.int64) + 1
    out[labels < 0] = 0
    if nodata_mask is not None:
        nodata_mask = np.asarray(nodata_mask)
        if nodata_mask.shape != labels.shape or nodata_mask.dtype != bool:
            raise ValueError(
                f"Expected a boolean nodata_mask of shape {labels.shape} like the labels but "
                f"got {nodata_mask.dtype} of shape {nodata_mask.shape}; pass a boolean mask of "
                f"the same image"
            )
        out[nodata_mask] = 0
    dtype = next(t for t in (np.uint8, np.uint16, np.uint32) if out.max() <= np.iinfo(t).max)
    out = out.astype(dtype)
    meta = {"labels": "cluster c (0-based) is stored as c + 1; 0 means no data"}

    def write(fh):
        tifffile.imwrite(
            fh, out, photometric="minisblack", metadata={_METADATA_KEY: meta},
            extratags=[(_GDAL_NODATA_TAG, "s", 0, "0", True)],
        )  # fmt: skip

    _atomic_write(path, force, write)
    logger.info("Wrote %s labels %s (max %d) to '%s'", out.dtype, out.shape, out.max(), path)


def _tiff_output_path(path):
    path = Path(os.fspath(path))
    if path.suffix.lower() not in _TIFF_SUFFIXES:
        raise CubeFormatError(
            f"Cannot write '{path}': the suffix {path.suffix!r} is not supported; "
            f"use .tif or .tiff"
        )
    return path


def _atomic_write(path, force, write):
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it to ``path``."""
    if path.is_dir():
        raise IsADirectoryError(f"Cannot write '{path}': it is a directory; pass a file name")
    if path.exists() and not force:
        raise FileExistsError(f"'{path}' already exists; pass force=True to overwrite it")
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot write '{path}': the folder '{path.parent}' does not exist; create it first"
        )
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        # "x" creates the file exclusively and, unlike tempfile.mkstemp, honours the umask
        with open(tmp, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

"""Reading TIFF cubes: multi-page, interleaved, planar, ImageJ, OME and GDAL metadata."""

import xml.etree.ElementTree as ET

import numpy as np
import tifffile

from hsiae.io._common import (
    _GDAL_NODATA_TAG,
    _METADATA_KEY,
    CubeFormatError,
    CubeInfo,
    _checked_wavelengths,
    _library_errors,
    _memmap,
    _normalise_units,
    _not_a_cube,
    _parse_nodata,
    _permutation,
    _resolve_layout,
    logger,
)


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

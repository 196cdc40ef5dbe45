"""Reading TIFF cubes: multi-page, interleaved, planar, ImageJ, OME and GDAL metadata."""

import math
import struct
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
    _raise_if_damaged,
    _resolve_layout,
    _tifffile_log,
    logger,
)
from hsiae.io._geo import _georeference_from_tiff
from hsiae.io._sources import _TiffZarrSource


def _read_tiff(path, band_axis, mmap, before_load):
    expected = "a TIFF file"
    with (
        _library_errors(path, expected, {"TIFF"}),
        _tifffile_log() as records,
        tifffile.TiffFile(path) as tif,
    ):
        series_list = tif.series
        _raise_if_damaged(path, records)
        _check_page_chain(path, tif)
        if not series_list:
            raise CubeFormatError(
                f"Expected {expected} with image data at '{path}' but it holds no images; check the file"
            )
        series = tif.series[0]
        if len(tif.series) > 1:
            _check_other_series(path, tif)
            logger.info("'%s' holds %d image series; reading the first", path, len(tif.series))
        shape, axes = tuple(series.shape), series.axes
        if series.dtype is None:
            raise CubeFormatError(
                f"Expected {expected} with a numeric pixel type at '{path}' but tifffile "
                f"cannot map its sample format to a NumPy dtype; convert the file"
            )
        _check_plausible_size(path, series, shape)
        _check_strips(path, series)
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
        fwhm = ours.get("fwhm") if ours is not None else None
        fwhm = _checked_wavelengths(path, fwhm, n_bands, "the hsiae metadata ('fwhm')")
        georeference = _georeference_from_tiff(path, tif.pages.first)

        offset = series.dataoffset
        can_map = offset is not None and not series.is_multifile and series.transform is None
        data = None
        if mmap == "lazy" and not can_map:
            # hsiae.open_cube: decode only the strips or tiles each chunk needs, later
            data = _TiffZarrSource(path, dtype, shape, perm)
        elif not (mmap and can_map):
            if mmap:
                logger.info("'%s' is compressed or not contiguous; reading it into memory", path)
            before_load(tuple(shape[i] for i in perm), dtype)
            data = series.asarray()
            _raise_if_damaged(path, records)
            if data.shape != shape:
                raise CubeFormatError(
                    f"Expected {expected} whose pages hold a {shape} array at '{path}' but "
                    f"they decode to {data.shape}; the file is damaged, so copy or export it "
                    f"again"
                )
    if data is None:
        data = _memmap(path, dtype, shape, offset, "the TIFF file")
    info = CubeInfo(
        path=path, format="tiff", band_axis=axis, wavelengths=wavelengths,
        wavelength_units=_normalise_units(units) if wavelengths is not None else None,
        nodata=nodata, fwhm=fwhm, georeference=georeference,
    )  # fmt: skip
    _report_unused_metadata(path, records, tuple(shape[i] for i in perm))
    if isinstance(data, _TiffZarrSource):
        return data, info
    return np.transpose(data, perm), info


def _report_unused_metadata(path, records, shape):
    """Say which metadata tifffile could not use (its WARNING records), naming the file.

    tifffile reads on without them (a damaged OME-XML or shaped description,
    say), taking the pages as they are stored; the shape that gave is named
    so that the user can check it.
    """
    if not records.warnings:
        return
    more = len(records.warnings) - 1
    rows, cols, bands = shape
    logger.warning(
        "tifffile could not use part of the metadata of '%s' (%s%s); the cube was read from its "
        "pages as stored: %d x %d pixels, %d bands, so check that this is the cube",
        path, records.warnings[0], f"; and {more} more" if more else "", rows, cols, bands,
    )  # fmt: skip


def _check_page_chain(path, tif):
    """Refuse a file whose chain of pages does not end where TIFF says it must.

    The last page read must be followed by a zero offset. Anything else means
    tifffile stopped at a truncated or corrupted page, and the bands stored
    after it would be silently missing (even when tifffile's logs are muted).
    """
    position = tif.pages.next_page_offset
    if position is None:
        return
    fh = tif.filehandle
    fh.seek(position)
    raw = fh.read(tif.tiff.offsetsize)
    if len(raw) == tif.tiff.offsetsize and struct.unpack(tif.tiff.offsetformat, raw)[0] == 0:
        return
    raise CubeFormatError(
        f"Expected a TIFF file whose pages are all readable at '{path}' but the chain of "
        f"pages breaks after page {len(tif.pages)}; the file is truncated or damaged and bands "
        f"may be missing, so copy or export it again"
    )


def _check_strips(path, series):
    """Refuse pages whose list of strips (or tiles) does not match their size and layout.

    A damaged SamplesPerPixel, ImageLength or RowsPerStrip changes the shape
    tifffile reports without any error; the number of stored strips still
    tells the truth.
    """
    for index, page in enumerate(series.pages):
        if page is None:
            continue
        key = page.keyframe or page
        needed, stored = math.prod(key.chunked), len(page.dataoffsets)
        if needed != stored:
            raise CubeFormatError(
                f"Expected a TIFF file whose pages match their own tags at '{path}' but page "
                f"{index} stores {stored} strips or tiles where its tags describe {needed}; the "
                f"file is damaged, so copy or export it again"
            )


# Deflate, LZW and friends compress real images far less than this; a header claiming more
# pixels than this many times the file size is damaged, not compressed.
_MAX_COMPRESSION_RATIO = 10_000


def _check_plausible_size(path, series, shape):
    """Refuse a header that claims more pixels than the file could hold, before allocating them."""
    stored = sum(math.prod(page.shape) for page in series.pages if page is not None)
    if math.prod(shape) < stored:
        raise CubeFormatError(
            f"Expected a TIFF file whose metadata describe all its pixels at '{path}' but its "
            f"pages hold {stored} values and the image series only {math.prod(shape)} "
            f"(shape {shape}); the metadata are damaged, so copy or export the file again"
        )
    nbytes = math.prod(shape) * np.dtype(series.dtype).itemsize
    size = path.stat().st_size
    compressed = any(page is not None and getattr(page, "compression", 1) != 1 for page in series.pages)
    limit = size * _MAX_COMPRESSION_RATIO if compressed else size
    if nbytes > limit:
        raise CubeFormatError(
            f"Expected a TIFF file whose pixels fit in it at '{path}' but its header describes a "
            f"{shape} {series.dtype} array of {nbytes} bytes, which a "
            f"{'compressed ' if compressed else ''}file of {size} bytes cannot hold; the file "
            f"is truncated or damaged, so copy or export it again"
        )


# NewSubfileType bits of pages that are not bands: a reduced-resolution image (1), a mask (4)
_NOT_BANDS = 1 | 4


def _check_other_series(path, tif):
    """Refuse a plain multi-page TIFF whose pages do not all form one cube.

    OME files may hold several images, and the first is the one read. In other
    files, pages that tifffile cannot join to the first series are skipped
    only when their NewSubfileType tags them as a reduced-resolution image
    (an overview or thumbnail) or a transparency mask. Any other page is most
    likely a band: of another size, a band of a damaged cube (a damaged
    ImageLength, say) or a file that mixes images; reading only the first
    series would silently drop it.
    """
    if tif.is_ome:
        return
    first = tif.series[0].keyframe
    size = (first.imagelength, first.imagewidth)
    for other in tif.series[1:]:
        key = other.keyframe
        if key.subfiletype & _NOT_BANDS:
            continue
        rows, cols = key.imagelength, key.imagewidth
        if (rows, cols) != size:
            raise CubeFormatError(
                f"Expected a TIFF file whose band pages all have the same size at '{path}', but "
                f"page {key.index} is {rows} x {cols} pixels where the pages before it are "
                f"{size[0]} x {size[1]}, and it is not tagged as a reduced-resolution image "
                f"(NewSubfileType 1); if it is a band the file is damaged, so export the cube "
                f"again (one page per band, all of the same size)"
            )
    shapes = ", ".join(str(tuple(s.shape)) for s in tif.series[:4])
    if any(not s.keyframe.subfiletype & _NOT_BANDS for s in tif.series[1:]):
        raise CubeFormatError(
            f"Expected a TIFF file whose pages form one cube at '{path}' but it holds "
            f"{len(tif.series)} image series, of shapes {shapes}"
            f"{', ...' if len(tif.series) > 4 else ''}; a page is damaged or the file mixes "
            f"images, so export the cube alone (one page per band, all of the same size)"
        )


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

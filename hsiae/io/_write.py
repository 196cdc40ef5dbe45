"""write_cube and write_labels: uncompressed TIFF (and ENVI) files, written atomically."""

import os
from pathlib import Path

import numpy as np
import tifffile

from hsiae.io._atomic import atomic_output
from hsiae.io._common import (
    _GDAL_NODATA_TAG,
    _METADATA_KEY,
    _TIFF_SUFFIXES,
    CubeFormatError,
    _cube_metadata,
    _per_band,
    logger,
)
from hsiae.io._envi import (
    _ENVI_DATA_SUFFIXES,
    _checked_bbl,
    _envi_header,
    _envi_interleave,
    _envi_output_paths,
    _envi_segments,
    _write_envi_pair,
)
from hsiae.io._geo import _envi_georeference_fields, _geotiff_extratags

# Some readers treat TIFF offsets as signed 32-bit: switch to BigTIFF well before 2 GiB.
_BIGTIFF_BYTES = 2**31 - 2**25
_STRIP_BYTES = 2**23  # strips of interleaved TIFFs (and ENVI files) written by write_cube
_ENVI_OUTPUT_SUFFIXES = (".hdr", *_ENVI_DATA_SUFFIXES)


def write_cube(
    path,
    cube,
    *,
    format=None,
    band_axis=0,
    interleave=None,
    wavelengths=None,
    wavelength_units=None,
    nodata=None,
    fwhm=None,
    bbl=None,
    georeference=None,
    data_file=None,
    force=False,
):
    """Write a cube of shape (n_rows, n_cols, n_bands) as an uncompressed TIFF or ENVI file.

    The file is written to a temporary file in the same directory and renamed
    over ``path`` only once complete, so a failure never leaves a partial file;
    an ENVI cube's two files (header and data) are both moved into place or
    neither. Pixels go out one page or strip at a time in native byte order,
    so a memory-mapped cube is never loaded whole. TIFF files over about 2 GB
    are written as BigTIFF.

    Parameters
    ----------
    path : str or os.PathLike
        Output file: ``.tif`` or ``.tiff`` for TIFF; for ENVI the header
        (``.hdr``, the data then go to the same name with ``.img``) or the
        data file (``.img``, ``.dat``, ... ; the header is the same name with
        ``.hdr``).
    cube : array-like of shape (n_rows, n_cols, n_bands)
        Integer or float pixels, written in their own dtype (the layout
        :func:`read_cube` returns, whatever ``band_axis`` is). ENVI takes
        uint8, int16, uint16, int32, uint32, int64, uint64, float32 and
        float64.
    format : {None, "tiff", "envi"}, default=None
        None picks it from the suffix of ``path``; "envi" writes an ENVI
        cube under any name but ``.tif``.
    band_axis : {0, 1, 2}, default=0
        Layout in the file: 0 writes the bands one after the other,
        ``(bands, rows, cols)`` (a TIFF page per band, as hyperspectral
        cameras do; ENVI BSQ); 2 interleaves them pixel by pixel,
        ``(rows, cols, bands)`` (ENVI BIP); 1 is ENVI's BIL,
        ``(rows, bands, cols)``, which TIFF cannot store.
    interleave : {None, "bsq", "bil", "bip"}, default=None
        For ENVI, the layout by its name; None takes it from ``band_axis``.
    wavelengths : array-like of shape (n_bands,), default=None
        Band centres, stored in the TIFF's ImageDescription (JSON) or the
        ENVI header's ``wavelength``.
    wavelength_units : str, default=None
        Units of ``wavelengths``, such as "nm".
    nodata : float, default=None
        Value marking missing pixels, stored in the JSON and in the
        GDAL_NODATA tag (42113) that GDAL and QGIS read, or as ENVI's
        ``data ignore value``.
    fwhm : array-like of shape (n_bands,), default=None
        Full width at half maximum of each band, stored beside the
        wavelengths.
    bbl : array-like of shape (n_bands,), default=None
        ENVI's bad band list: 1 for a good band, 0 for a bad one (all bands
        are written; readers such as :func:`read_cube` leave the bad ones
        out). ENVI only.
    georeference : Georeference, default=None
        Where the pixels lie on the map, such as ``info.georeference`` of
        the cube this one was made from: written as GeoTIFF tags (the
        input's own tags when it was a GeoTIFF) or as ENVI's ``map info``
        and ``coordinate system string``, so that GDAL, QGIS and rasterio
        place the file on the map.
    data_file : str or os.PathLike, default=None
        For ENVI with ``path`` naming the header: the data file's name, when
        not the header's name with ``.img``.
    force : bool, default=False
        Overwrite ``path`` (and for ENVI, the other file) if it exists.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``force`` is False.
    FileNotFoundError
        If the folder of ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    CubeFormatError
        If the suffix of ``path`` names neither TIFF nor ENVI.
    ValueError
        If ``cube``, ``band_axis``, ``interleave``, ``wavelengths``,
        ``fwhm``, ``bbl`` or ``nodata`` are invalid, or ENVI cannot store
        the dtype or the transform.
    ImportError
        If the georeference's CRS needs GDAL to be written in this format
        and rasterio is missing (``pip install 'hsiae[geo]'``).

    See Also
    --------
    read_cube : Read the cube and its metadata back.
    write_labels : Write a segment map.

    Examples
    --------
    >>> cube, info = read_cube("scene.mat", band_axis=2)  # doctest: +SKIP
    >>> write_cube("scene.tif", cube, wavelengths=info.wavelengths)  # doctest: +SKIP
    >>> write_cube("scene.hdr", cube, interleave="bil", wavelengths=info.wavelengths)  # doctest: +SKIP
    """
    path = Path(os.fspath(path))
    kind = _output_format(path, format)
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
    n_bands = cube.shape[2]
    if kind == "envi":
        interleave = _envi_interleave(interleave, band_axis)
        header, data = _envi_output_paths(path, data_file)
        native = cube.dtype.newbyteorder("=")
        text = _envi_header(
            cube.shape, native, interleave, wavelengths=_per_band(wavelengths, n_bands, "wavelength"),
            wavelength_units=wavelength_units, fwhm=_per_band(fwhm, n_bands, "fwhm"),
            bbl=_checked_bbl(bbl, n_bands), nodata=_checked_nodata(nodata),
            geo_fields=_envi_georeference_fields(georeference),
        )  # fmt: skip

        def write_data(tmp):
            with open(tmp, "xb") as fh:
                for segment in _envi_segments(cube, interleave, native, _STRIP_BYTES):
                    fh.write(segment)

        _write_envi_pair(header, data, force, write_data, text)
        logger.info("Wrote ENVI cube %s %s to '%s' and '%s' (%s)", cube.shape, cube.dtype, header, data, interleave)
        return
    for name, value in (("interleave", interleave), ("bbl", bbl), ("data_file", data_file)):
        if value is not None:
            raise ValueError(f"{name} applies to ENVI output only, but '{path}' is written as TIFF; drop {name}")
    if band_axis not in (0, 2):
        raise ValueError(f"band_axis must be 0 (one page per band) or 2 (interleaved bands), got {band_axis!r}")
    meta, extratags = _cube_metadata(band_axis, n_bands, wavelengths, wavelength_units, nodata, fwhm)
    extratags += _geotiff_extratags(georeference)

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


def _output_format(path, format):
    """The output format, "tiff" or "envi": ``format`` checked against the suffix of ``path``, or taken from it."""
    suffix = path.suffix.lower()
    if format not in (None, "tiff", "envi"):
        raise ValueError(f"format must be None, 'tiff' or 'envi', got {format!r}")
    if suffix in _TIFF_SUFFIXES:
        if format == "envi":
            raise CubeFormatError(f"Cannot write ENVI to '{path}': a .tif name would be read as TIFF; use .hdr or .img")
        return "tiff"
    if format == "envi" or (format is None and suffix in _ENVI_OUTPUT_SUFFIXES):
        return "envi"
    raise CubeFormatError(
        f"Cannot write '{path}': the suffix {path.suffix!r} is not supported; use .tif or .tiff, or "
        f"{', '.join(_ENVI_OUTPUT_SUFFIXES)} for ENVI (or format='envi')"
    )


def _checked_nodata(nodata):
    if nodata is None:
        return None
    try:
        return float(nodata)
    except (TypeError, ValueError):
        raise ValueError(f"Expected a number for nodata but got {nodata!r}; pass a float or None") from None


def write_labels(path, labels, *, force=False, nodata_mask=None, georeference=None):
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
    georeference : Georeference, default=None
        Where the pixels lie on the map, such as ``info.georeference`` of
        the cube segmented: written as GeoTIFF tags, as by :func:`write_cube`.

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
            f"Expected labels below {np.iinfo(np.uint32).max} but the largest is {top}; renumber the clusters from 0"
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
    extratags = [(_GDAL_NODATA_TAG, "s", 0, "0", True), *_geotiff_extratags(georeference)]

    def write(fh):
        tifffile.imwrite(
            fh, out, photometric="minisblack", metadata={_METADATA_KEY: meta}, extratags=extratags,
        )  # fmt: skip

    _atomic_write(path, force, write)
    logger.info("Wrote %s labels %s (max %d) to '%s'", out.dtype, out.shape, out.max(), path)


def _tiff_output_path(path):
    path = Path(os.fspath(path))
    if path.suffix.lower() not in _TIFF_SUFFIXES:
        raise CubeFormatError(f"Cannot write '{path}': the suffix {path.suffix!r} is not supported; use .tif or .tiff")
    return path


def _atomic_write(path, force, write):
    """Call ``write(fh)`` on a new temporary file beside ``path``, then move it to ``path``."""
    with atomic_output(path, force=force) as tmp:
        # "x" creates the file exclusively and, unlike tempfile.mkstemp, honours the umask
        with open(tmp, "xb") as fh:
            write(fh)

"""store_labels and store_cube: compute lazy results chunk by chunk into a TIFF, ENVI or Zarr file on disk."""

import os
from pathlib import Path

import numpy as np

from hsiae.io._atomic import check_target, commit, discard, temporary_beside
from hsiae.io._common import (
    _GDAL_NODATA_TAG,
    _METADATA_KEY,
    _TIFF_SUFFIXES,
    CubeFormatError,
    _cube_metadata,
    _per_band,
    _tifffile_log,
    logger,
)
from hsiae.io._envi import (
    _ENVI_LAYOUTS,
    _checked_bbl,
    _envi_header,
    _envi_interleave,
    _envi_output_paths,
    _write_envi_pair,
)
from hsiae.io._geo import _envi_georeference_fields, _geotiff_extratags
from hsiae.io._lazy import _ZARR_SUFFIX, _import_dask
from hsiae.io._sources import _RawTarget
from hsiae.io._write import _BIGTIFF_BYTES, _ENVI_OUTPUT_SUFFIXES, _checked_nodata

_LABELS_NOTE = "cluster c (0-based) is stored as c + 1; 0 means no data"


def _output(path, force, envi=False):
    """(path, "tiff", "zarr" or "envi") after checking that ``path`` may be written; raise otherwise."""
    path = Path(os.fspath(path))
    suffix = path.suffix.lower()
    if suffix in _TIFF_SUFFIXES:
        kind = "tiff"
    elif suffix == _ZARR_SUFFIX:
        kind = "zarr"
    elif envi and suffix in _ENVI_OUTPUT_SUFFIXES:
        kind = "envi"
    else:
        also = f", or {', '.join(_ENVI_OUTPUT_SUFFIXES)} for ENVI" if envi else ""
        raise CubeFormatError(
            f"Cannot write '{path}': the suffix {path.suffix!r} is not supported; use .tif, .tiff or .zarr{also}"
        )
    check_target(path, force=force)
    return path, kind


def _store_envi(da, cube, path, force, data_file, interleave, text):
    """Write the chunks of ``cube`` into an ENVI data file as they are computed, then its header."""
    header, data = _envi_output_paths(path, data_file)
    perm, _ = _ENVI_LAYOUTS[interleave]
    rows, cols, bands = cube.shape
    file_shape = {"bsq": (bands, rows, cols), "bil": (rows, bands, cols), "bip": (rows, cols, bands)}[interleave]
    dtype = np.dtype(cube.dtype).newbyteorder("=")

    def write_data(tmp):
        with open(tmp, "xb") as fh:
            fh.truncate(int(np.prod(file_shape, dtype=np.int64)) * dtype.itemsize)
        da.store(cube, _RawTarget(tmp, dtype, file_shape, 0, perm), lock=False)

    _write_envi_pair(header, data, force, write_data, text)


def _zarr_georeference(georeference):
    """The attributes that keep a georeference in a Zarr array: ``crs`` and ``transform``."""
    if georeference is None:
        return {}
    transform = None if georeference.transform is None else list(georeference.transform)
    return {"crs": georeference.crs, "transform": transform}


def _as_dask(array, ndim, what):
    da = _import_dask(f"hsiae.{what}")
    if not isinstance(array, da.Array):
        array = np.asarray(array)
        array = da.from_array(array, chunks=(512,) * min(array.ndim, 2) + (-1,) * (array.ndim - 2))
    if array.ndim != ndim or 0 in array.shape:
        shape = "(n_rows, n_cols)" if ndim == 2 else "(n_rows, n_cols, n_bands)"
        raise ValueError(f"{what} expects a non-empty array of shape {shape}, got shape {array.shape}")
    return da, array


def _regular(array):
    """``array`` rechunked to the grid of its first chunk (Zarr needs regular chunks)."""
    first = tuple(c[0] for c in array.chunks)
    if all(all(n == f for n in c[:-1]) and c[-1] <= f for c, f in zip(array.chunks, first)):
        return array
    return array.rechunk(first)


def _store_tiff(da, array, path, force, file_shape, perm, meta, extratags, layout):
    import tifffile

    tmp = temporary_beside(path)
    dtype = np.dtype(array.dtype)
    nbytes = int(np.prod(file_shape, dtype=np.int64)) * dtype.itemsize
    try:
        # Without data, tifffile lays out the pixels uncompressed and contiguous (as for
        # tifffile.memmap); checked rather than assumed, since the writes below rely on it.
        tifffile.imwrite(
            tmp, shape=file_shape, dtype=dtype, bigtiff=nbytes > _BIGTIFF_BYTES,
            photometric="minisblack", metadata={_METADATA_KEY: meta}, extratags=extratags,
            **layout,
        )  # fmt: skip
        with _tifffile_log(), tifffile.TiffFile(tmp) as tif:  # our own file: nothing to report
            offset = tif.series[0].dataoffset
            if offset is None or tuple(tif.series[0].shape) != tuple(file_shape):
                raise RuntimeError("tifffile did not lay out the pixels contiguously")
        da.store(array, _RawTarget(tmp, dtype, file_shape, offset, perm), lock=False)
        commit(tmp, path, force=force)
    except BaseException:
        discard(tmp)
        raise


def _store_zarr(da, array, path, force, attributes):
    import zarr

    tmp = temporary_beside(path)
    array = _regular(array)
    try:
        target = zarr.create_array(
            str(tmp), shape=array.shape, chunks=array.chunksize, dtype=array.dtype,
            attributes={_METADATA_KEY: attributes}, zarr_format=3,
        )  # fmt: skip
        da.store(array, target, lock=False)
        commit(tmp, path, force=force)
    except BaseException:
        discard(tmp)
        raise


def store_labels(path, labels, *, force=False, georeference=None):
    """Compute a label image chunk by chunk and write it to a TIFF or Zarr file.

    The labels are computed with the current dask scheduler, and each chunk is
    written as soon as it is ready, so the image is never held in memory.
    As in :func:`write_labels`, a label ``c >= 0`` is stored as ``c + 1`` and
    negative labels (no data) as 0. The output goes to a temporary file (or
    folder) beside ``path`` and is renamed to ``path`` only when complete.

    Parameters
    ----------
    path : str or os.PathLike
        ``.tif``/``.tiff`` (a single-page TIFF, BigTIFF beyond about 2 GB) or
        ``.zarr`` (a Zarr v3 array with the chunks of ``labels``). A TIFF
        written by another machine of a cluster must be on a file system that
        all of them share.
    labels : dask.array.Array or array-like of shape (n_rows, n_cols)
        Integer labels, 0-based, negative for no data, such as
        :func:`hsiae.predict_blocks` returns. The file's dtype is the
        unsigned integer of the same size (uint8 for int8 labels), so that it
        holds every label + 1.
    force : bool, default=False
        Overwrite ``path`` if it exists.
    georeference : Georeference, default=None
        Where the pixels lie on the map: GeoTIFF tags, as in
        :func:`write_labels`, or the Zarr array's ``crs`` and ``transform``
        attributes.

    Raises
    ------
    FileExistsError, FileNotFoundError, IsADirectoryError, CubeFormatError
        For an output that exists (without ``force``), a missing folder, a
        folder where a TIFF should go or an unsupported suffix, before any
        chunk is computed.
    ValueError
        If ``labels`` is not a 2-D integer array.

    See Also
    --------
    write_labels : Write labels already in memory.
    """
    path, kind = _output(path, force)
    da, labels = _as_dask(labels, 2, "store_labels")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"store_labels expects integer labels, got {labels.dtype}; cast them with labels.astype(int)")
    itemsize = max(1, min(labels.dtype.itemsize, 4))
    out_dtype = {1: np.uint8, 2: np.uint16, 4: np.uint32}.get(itemsize, np.uint32)

    def shift(block):
        out = block.astype(np.int64) + 1
        out[block < 0] = 0
        return out.astype(out_dtype)

    shifted = labels.map_blocks(shift, dtype=out_dtype)
    meta = {"labels": _LABELS_NOTE}
    if kind == "zarr":
        _store_zarr(da, shifted, path, force, {**meta, **_zarr_georeference(georeference)})
    else:
        extratags = [(_GDAL_NODATA_TAG, "s", 0, "0", True), *_geotiff_extratags(georeference)]
        _store_tiff(da, shifted, path, force, labels.shape, (0, 1), meta, extratags, {})
    logger.info("Stored %s labels %s to '%s'", np.dtype(out_dtype), labels.shape, path)


def store_cube(
    path,
    cube,
    *,
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
    """Compute a cube chunk by chunk and write it to a TIFF, ENVI or Zarr file.

    The counterpart of :func:`write_cube` for dask arrays: chunks are written
    as soon as they are computed, and the result is renamed into place only
    when complete (an ENVI cube's header and data file both, or neither).
    :func:`read_cube` and :func:`open_cube` read it back with its layout,
    wavelengths, no-data value and georeference.

    Parameters
    ----------
    path : str or os.PathLike
        ``.tif``/``.tiff`` (uncompressed, BigTIFF beyond about 2 GB),
        ENVI (``.hdr``, ``.img``, ``.dat``, ..., named as in
        :func:`write_cube`) or ``.zarr`` (a Zarr v3 array stored
        ``(n_rows, n_cols, n_bands)``, chunked like ``cube``).
    cube : dask.array.Array or array-like of shape (n_rows, n_cols, n_bands)
        Integer or float pixels, written in their own dtype.
    band_axis : {0, 1, 2}, default=0
        Layout, as in :func:`write_cube`: 0 writes the bands one after the
        other (a TIFF page per band, ENVI BSQ), 2 interleaves them (ENVI
        BIP), 1 is ENVI's BIL. Zarr arrays are always stored band-last.
    interleave : {None, "bsq", "bil", "bip"}, default=None
    wavelengths : array-like of shape (n_bands,), default=None
    wavelength_units : str, default=None
    nodata : float, default=None
    fwhm : array-like of shape (n_bands,), default=None
    bbl : array-like of shape (n_bands,), default=None
    georeference : Georeference, default=None
        As in :func:`write_cube`; a Zarr array keeps the georeference as its
        ``crs`` and ``transform`` attributes.
    data_file : str or os.PathLike, default=None
        As in :func:`write_cube`.
    force : bool, default=False
        Overwrite ``path`` if it exists.

    Raises
    ------
    FileExistsError, FileNotFoundError, IsADirectoryError, CubeFormatError
        As :func:`store_labels`, before any chunk is computed.
    ValueError
        If ``cube``, ``band_axis``, ``wavelengths`` or ``nodata`` are invalid.

    See Also
    --------
    write_cube : Write a cube already in memory.
    """
    path, kind = _output(path, force, envi=True)
    da, cube = _as_dask(cube, 3, "store_cube")
    if cube.dtype.kind not in "uif":
        raise ValueError(
            f"store_cube expects integer or float pixels, got {cube.dtype}; convert them with cube.astype(...)"
        )
    n_bands = cube.shape[2]
    if kind == "envi":
        interleave = _envi_interleave(interleave, band_axis)
        text = _envi_header(
            cube.shape, np.dtype(cube.dtype).newbyteorder("="), interleave,
            wavelengths=_per_band(wavelengths, n_bands, "wavelength"), wavelength_units=wavelength_units,
            fwhm=_per_band(fwhm, n_bands, "fwhm"), bbl=_checked_bbl(bbl, n_bands), nodata=_checked_nodata(nodata),
            geo_fields=_envi_georeference_fields(georeference),
        )  # fmt: skip
        _store_envi(da, cube.rechunk({2: -1}), path, force, data_file, interleave, text)
        logger.info("Stored ENVI cube %s %s to '%s'", cube.shape, cube.dtype, path)
        return
    for name, value in (("interleave", interleave), ("bbl", bbl), ("data_file", data_file)):
        if value is not None:
            raise ValueError(f"{name} applies to ENVI output only, but '{path}' is not ENVI; drop {name}")
    if band_axis not in (0, 2):
        raise ValueError(f"band_axis must be 0 (one page per band) or 2 (interleaved bands), got {band_axis!r}")
    axis = band_axis if kind == "tiff" else 2
    meta, extratags = _cube_metadata(axis, n_bands, wavelengths, wavelength_units, nodata, fwhm)
    if kind == "tiff":
        extratags += _geotiff_extratags(georeference)
    if kind == "zarr":
        _store_zarr(da, cube.rechunk({2: -1}), path, force, {**meta, **_zarr_georeference(georeference)})
    elif band_axis == 0:
        _store_tiff(da, cube, path, force, (n_bands, *cube.shape[:2]), (1, 2, 0), meta, extratags, {})
    else:
        layout = {"planarconfig": "contig"} if n_bands > 1 else {}
        _store_tiff(da, cube, path, force, cube.shape, (0, 1, 2), meta, extratags, layout)
    logger.info("Stored cube %s %s to '%s'", cube.shape, cube.dtype, path)

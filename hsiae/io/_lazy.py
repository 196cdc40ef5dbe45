"""open_cube: a cube as a lazy dask array, chunked over space with the bands whole."""

import os
from numbers import Integral
from pathlib import Path

import numpy as np

from hsiae.exceptions import Param, ParameterError
from hsiae.io._common import (
    CubeFormatError,
    CubeInfo,
    _checked_wavelengths,
    _normalise_units,
    _parse_nodata,
    _resolve_layout,
    logger,
)
from hsiae.io._geo import Georeference
from hsiae.io._sources import _RawSource

_ZARR_SUFFIX = ".zarr"
_DEFAULT_CHUNKS = 512


def _import_dask(what):
    try:
        import dask.array as da
    except ImportError:
        raise ImportError(
            f"{what} needs dask; install it with: pip install 'hsiae[dask]' (dask[array], distributed and zarr)"
        ) from None
    return da


def _check_chunks(chunks, name="chunks"):
    """``chunks`` as a pair (rows, cols) of positive ints; an int n means (n, n)."""
    pair = (chunks, chunks) if isinstance(chunks, Integral) else chunks
    try:
        rows, cols = pair
    except (TypeError, ValueError):
        rows = cols = None
    if not all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in (rows, cols)):
        raise ParameterError(
            "{name} must be a positive number of pixels n (chunks of n x n pixels) or a pair "
            "(rows, cols) of them, got {chunks!r}",
            name=Param(name),
            chunks=chunks,
        )
    return int(rows), int(cols)


def as_lazy_cube(cube, chunks=None):
    """``cube`` as a 3-D numeric dask array chunked over space, with the band axis in one chunk.

    Parameters
    ----------
    cube : dask.array.Array or array-like of shape (n_rows, n_cols, n_bands)
        From :func:`open_cube`, for instance; a NumPy array is wrapped in
        chunks of 512 x 512 pixels (or ``chunks``).
    chunks : int or tuple (rows, cols) or None, default=None
        Rechunk over space to these; None keeps a dask array's chunks.

    Returns
    -------
    cube : dask.array.Array

    Raises
    ------
    ValueError
        If ``cube`` is not a non-empty numeric 3-D array, or ``chunks`` is
        invalid.
    """
    da = _import_dask("a lazy cube")
    if not isinstance(cube, da.Array):
        array = np.asarray(cube)
        if array.ndim == 3:
            rows, cols = _check_chunks(_DEFAULT_CHUNKS if chunks is None else chunks)
            cube = da.from_array(array, chunks=(rows, cols, -1))
        else:
            cube = array
    if cube.ndim != 3 or cube.dtype.kind not in "biuf" or 0 in cube.shape:
        raise ValueError(
            f"Expected a non-empty numeric cube of shape (n_rows, n_cols, n_bands), got an "
            f"array of shape {cube.shape} and dtype {cube.dtype}; open files with "
            f"hsiae.open_cube"
        )
    if chunks is not None:
        rows, cols = _check_chunks(chunks)
        cube = cube.rechunk((rows, cols, -1))
    elif len(cube.chunks[2]) > 1:
        cube = cube.rechunk({2: -1})
    return cube


def _is_zarr(path):
    return path.suffix.lower() == _ZARR_SUFFIX or (
        path.is_dir() and any((path / name).exists() for name in ("zarr.json", ".zarray"))
    )


def open_cube(path, *, chunks=512, band_axis=None, variable=None):
    """Open a cube lazily as a dask array of shape (n_rows, n_cols, n_bands).

    Nothing is read until the array is computed: each chunk of
    ``chunks`` x ``chunks`` pixels, with all its bands, is read when a task
    needs it. The array pickles small (a file name and a layout), so the
    processes and dask.distributed schedulers can read it in other processes
    or on other machines that see the same file.

    Parameters
    ----------
    path : str or os.PathLike
        Any file :func:`read_cube` reads, or a Zarr array (a folder, usually
        named ``*.zarr``, such as :func:`store_cube` writes).
    chunks : int or tuple (rows, cols), default=512
        Chunk size over space, in pixels; the band axis is never split, since
        every task needs whole spectra.
    band_axis : {None, 0, 2}, default=None
        As in :func:`read_cube`. For a Zarr array, None takes the layout
        hsiae recorded in its attributes, or the shape rule.
    variable : str, default=None
        For ``.mat`` files, as in :func:`read_cube`.

    Returns
    -------
    cube : dask.array.Array of shape (n_rows, n_cols, n_bands)
        In the file's dtype, chunked ``(rows, cols, n_bands)``.
    info : CubeInfo
        As from :func:`read_cube`; ``format`` is "zarr" for Zarr arrays.

    Raises
    ------
    ValueError
        If ``chunks`` is not a positive size.
    FileNotFoundError, CubeFormatError
        As :func:`read_cube`.
    ImportError
        If dask is not installed (``pip install 'hsiae[dask]'``).

    See Also
    --------
    read_cube : Read a cube as a NumPy array (memory-mapped where possible).
    hsiae.predict_blocks : Segment a lazy cube chunk by chunk.

    Notes
    -----
    Uncompressed, contiguous data (most TIFF stacks, ``.npy``, ENVI, MAT
    v7.3) are read box by box with positional reads, so that a chunk reads
    only its own pixels from every band and the process never maps the
    file: mapped pages count in a process's resident memory, and a chunked
    run should stay small whatever the file's size. Compressed or tiled
    TIFFs are read through tifffile's Zarr store, which decodes only the
    strips or tiles a chunk touches; a compressed file with a single strip
    per band is slow that way (every chunk decodes every band whole): write
    it once uncompressed or as Zarr with :func:`store_cube`. MAT v5 files
    cannot be read in parts and are loaded whole.

    Examples
    --------
    >>> cube, info = open_cube("flightline.tif", chunks=1024)  # doctest: +SKIP
    >>> cube.chunksize  # doctest: +SKIP
    (1024, 1024, 224)
    """
    chunk_rows, chunk_cols = _check_chunks(chunks)
    da = _import_dask("hsiae.open_cube")
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"No such cube file or Zarr array: '{path}'; check the path")
    if _is_zarr(path):
        return _open_zarr(path, (chunk_rows, chunk_cols), band_axis, da)

    from hsiae.io._read import _read_cube

    def before_load(shape, dtype):
        logger.info(
            "'%s' cannot be read in parts (%s); loading it whole",
            path,
            "MAT v5" if path.suffix.lower() == ".mat" else "compressed",
        )

    cube, info = _read_cube(path, band_axis=band_axis, variable=variable, mmap="lazy", before_load=before_load)
    source = cube
    if isinstance(cube, np.memmap):
        try:
            source = _RawSource.from_memmap(cube)
        except TypeError:  # mapped in a layout the positional reader does not know: keep the map
            pass
    # else: a _TiffZarrSource, or pixels already in memory
    stat = path.stat()
    from dask.base import tokenize

    name = "hsiae-cube-" + tokenize(
        str(path.resolve()),
        stat.st_mtime_ns,
        stat.st_size,
        band_axis,
        variable,
        chunk_rows,
        chunk_cols,
        type(source).__name__,
    )
    array = da.from_array(
        source, chunks=(chunk_rows, chunk_cols, -1), name=name, lock=False, meta=np.empty((0, 0, 0), dtype=source.dtype)
    )
    if info.dropped_bands:  # bands an ENVI 'bbl' marks bad: read with their chunk, then left out
        array = array[:, :, np.setdiff1d(np.arange(array.shape[2]), info.dropped_bands)]
    return array, info


def _zarr_georeference(path, attributes):
    """The :class:`Georeference` of a Zarr array's ``crs`` and ``transform`` attributes, or None."""
    crs, transform = attributes.get("crs"), attributes.get("transform")
    if crs is None and transform is None:
        return None
    try:
        return Georeference(crs, transform)
    except (TypeError, ValueError) as exc:
        logger.warning("Ignoring the unreadable georeference in the attributes of '%s' (%s)", path, exc)
        return None


def _open_zarr(path, chunks, band_axis, da):
    import zarr

    try:
        z = zarr.open_array(str(path), mode="r")
    except Exception as exc:  # zarr raises a variety of errors for folders that are not arrays
        raise CubeFormatError(
            f"Expected a Zarr array at '{path}' but it could not be opened ({exc}); pass a "
            f"Zarr array (not a group), such as hsiae.store_cube writes"
        ) from exc
    ours = dict(z.attrs.get("hsiae", {}) or {})
    shape = tuple(z.shape)
    found = None
    if ours.get("band_axis") in (0, 2):
        found = (ours["band_axis"], (1, 2, 0) if ours["band_axis"] == 0 else (0, 1, 2))
    axis, perm = _resolve_layout(path, shape, band_axis, found, "its hsiae attributes")
    if np.dtype(z.dtype).kind not in "uif" or 0 in shape:
        raise CubeFormatError(
            f"Expected a non-empty integer or float cube in '{path}' but found {z.dtype} data of "
            f"shape {shape}; pass a numeric Zarr array"
        )
    n_bands = shape[axis]
    file_chunks = [None] * 3
    for j, p in enumerate(perm):
        file_chunks[p] = (*chunks, n_bands)[j]
    array = da.from_zarr(z, chunks=tuple(file_chunks)).transpose(perm)
    wavelengths = _checked_wavelengths(path, ours.get("wavelengths"), n_bands, "the hsiae attributes")
    units = ours.get("wavelength_units")
    info = CubeInfo(
        path=path, format="zarr", band_axis=axis, wavelengths=wavelengths,
        wavelength_units=_normalise_units(units) if wavelengths is not None else None,
        nodata=_parse_nodata(path, ours.get("nodata")),
        fwhm=_checked_wavelengths(path, ours.get("fwhm"), n_bands, "the hsiae attributes ('fwhm')"),
        georeference=_zarr_georeference(path, ours),
    )  # fmt: skip
    logger.info("Opened Zarr cube %s %s from '%s' (bands on axis %d)", array.shape, array.dtype, path, axis)
    return array, info

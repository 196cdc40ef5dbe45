"""to_xarray and from_xarray: a cube and its CubeInfo as a labelled xarray DataArray, and back.

The DataArray follows what rioxarray reads from GDAL files: ``y``, ``x`` and
``band`` dimensions, ``x`` and ``y`` coordinates at pixel centres, a
``wavelength`` (and ``fwhm``) coordinate along the bands, the no-data value
as ``_FillValue`` and, with rioxarray installed, the CRS and transform in
its ``spatial_ref`` grid-mapping coordinate. xarray and rioxarray are
imported only when these functions run.
"""

import numpy as np

from hsiae.io._common import CubeInfo, _checked_wavelengths, _normalise_units, _parse_nodata, logger
from hsiae.io._geo import Georeference, _as_crs

_XARRAY_EXTRA = "pip install 'hsiae[xarray]'"


def _import_xarray(what):
    try:
        import xarray
    except ImportError:
        raise ImportError(f"{what} needs xarray; install it with: {_XARRAY_EXTRA}") from None
    return xarray


def _rioxarray():
    """The rioxarray module (which adds the ``.rio`` accessor), or None when it is not installed."""
    try:
        import rioxarray
    except ImportError:
        return None
    return rioxarray


def to_xarray(cube, info=None, *, name=None):
    """A cube of shape (n_rows, n_cols, n_bands) as an xarray DataArray with dims ``y``, ``x``, ``band``.

    Parameters
    ----------
    cube : array-like or dask.array.Array of shape (n_rows, n_cols, n_bands)
        The pixels, as :func:`read_cube` or :func:`open_cube` return them
        (a dask array stays lazy).
    info : CubeInfo, default=None
        What the file said about the cube: its wavelengths (and units),
        fwhm, no-data value and georeference become coordinates and
        attributes.
    name : str, default=None
        The DataArray's name.

    Returns
    -------
    data : xarray.DataArray
        Dims ``("y", "x", "band")``, bands numbered from 1 as rioxarray
        numbers them. Coordinates: ``wavelength`` (attribute ``units``) and
        ``fwhm`` along ``band`` when known; ``x`` and ``y`` at pixel centres
        when the grid is north-up. Attributes: ``_FillValue`` for the
        no-data value. The georeference goes into rioxarray's
        ``spatial_ref`` coordinate (``data.rio.crs``, ``data.rio.transform()``)
        when rioxarray is installed, else into the attributes ``crs`` and
        ``transform``, which :func:`from_xarray` reads back.

    Raises
    ------
    ImportError
        If xarray is not installed (``pip install 'hsiae[xarray]'``).
    ValueError
        If ``cube`` is not 3-D.

    See Also
    --------
    from_xarray : The cube and its CubeInfo back from a DataArray.

    Examples
    --------
    >>> cube, info = read_cube("scene.hdr")  # doctest: +SKIP
    >>> data = to_xarray(cube, info)  # doctest: +SKIP
    >>> data.sel(band=10).plot()  # doctest: +SKIP
    """
    xr = _import_xarray("hsiae.io.to_xarray")
    if not hasattr(cube, "ndim") or not hasattr(cube, "dtype"):
        cube = np.asarray(cube)
    if cube.ndim != 3:
        raise ValueError(
            f"Expected a cube of shape (n_rows, n_cols, n_bands) but got an array of shape {cube.shape}; "
            f"reshape it first"
        )
    n_rows, n_cols, n_bands = cube.shape
    coords = {"band": np.arange(1, n_bands + 1)}
    attrs = {}
    georeference = None
    if info is not None:
        if info.wavelengths is not None:
            units = {"units": info.wavelength_units} if info.wavelength_units else {}
            coords["wavelength"] = ("band", np.array(info.wavelengths), units)
        if info.fwhm is not None:
            coords["fwhm"] = ("band", np.array(info.fwhm))
        if info.nodata is not None:
            attrs["_FillValue"] = info.nodata
        georeference = info.georeference
    if georeference is not None and georeference.is_north_up:
        a, _, c, _, e, f = georeference.transform
        coords["x"] = c + a * (np.arange(n_cols) + 0.5)
        coords["y"] = f + e * (np.arange(n_rows) + 0.5)
    data = xr.DataArray(cube, dims=("y", "x", "band"), coords=coords, attrs=attrs, name=name)
    if georeference is None:
        return data
    if _rioxarray() is not None:
        from affine import Affine

        if georeference.crs is not None:
            data = data.rio.write_crs(georeference.crs)
        if georeference.transform is not None:
            data = data.rio.write_transform(Affine(*georeference.transform))
    else:
        if georeference.crs is not None:
            data.attrs["crs"] = georeference.crs
        if georeference.transform is not None:
            data.attrs["transform"] = list(georeference.transform)
    return data


def _band_dim(data):
    """The one dimension besides ``y`` and ``x``; raise ValueError otherwise."""
    dims = tuple(data.dims)
    if "y" not in dims or "x" not in dims:
        raise ValueError(
            f"Expected a DataArray with dims 'y' and 'x' (and one for the bands) but got dims {dims}; rename "
            f"its spatial dims with data.rename(...)"
        )
    others = [d for d in dims if d not in ("y", "x")]
    if len(others) != 1:
        raise ValueError(
            f"Expected one band dimension besides 'y' and 'x' but got dims {dims}; select or stack the others "
            f"first (data.isel(time=0), say)"
        )
    return others[0]


def _along(data, name, dim):
    """The values of coordinate ``name`` if it runs along ``dim``, else None."""
    coord = data.coords.get(name)
    if coord is None or tuple(coord.dims) != (dim,):
        return None
    return coord


def _grid_from_coordinates(data):
    """The north-up transform of evenly spaced ``x`` and ``y`` coordinates at pixel centres, or None."""
    x, y = data.coords.get("x"), data.coords.get("y")
    if x is None or y is None or x.size < 2 or y.size < 2:
        return None
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx, dy = np.diff(x), np.diff(y)
    if not (np.allclose(dx, dx[0], rtol=1e-6) and np.allclose(dy, dy[0], rtol=1e-6)):
        return None
    a, e = float(dx.mean()), float(dy.mean())
    return (a, 0.0, float(x[0]) - a / 2, 0.0, e, float(y[0]) - e / 2)


def _georeference_of(data):
    """The georeference a DataArray carries: rioxarray's, the ``crs``/``transform`` attributes, or the coordinates."""
    crs = transform = None
    if _rioxarray() is not None:
        try:
            found = data.rio.crs
            crs = None if found is None else _as_crs(found)
            if found is not None or "spatial_ref" in data.coords or {"x", "y"} <= set(data.coords):
                transform = tuple(data.rio.transform())[:6]
        except Exception as exc:  # rioxarray raises its own errors for DataArrays it cannot place
            logger.info("rioxarray could not read the georeference of the DataArray (%s)", exc)
    if crs is None and data.attrs.get("crs") is not None:
        crs = str(data.attrs["crs"])
    if transform is None and data.attrs.get("transform") is not None:
        transform = tuple(data.attrs["transform"])
    ref = data.coords.get("spatial_ref")
    if ref is not None:
        if crs is None and ref.attrs.get("crs_wkt"):
            crs = ref.attrs["crs_wkt"]
        text = ref.attrs.get("GeoTransform")
        if transform is None and text:
            c, a, b, f, d, e = (float(v) for v in str(text).split())
            transform = (a, b, c, d, e, f)
    if transform is None:
        transform = _grid_from_coordinates(data)
    if crs is None and transform is None:
        return None
    try:
        return Georeference(crs, transform)
    except (TypeError, ValueError) as exc:
        logger.warning("Ignoring the georeference of the DataArray, which cannot be read (%s)", exc)
        return None


def from_xarray(data):
    """The cube and its :class:`CubeInfo` of an xarray DataArray with dims ``y``, ``x`` and one for the bands.

    Reads what :func:`to_xarray` writes and what ``rioxarray.open_rasterio``
    returns (dims ``band``, ``y``, ``x``, in any order): the wavelengths
    from a ``wavelength`` coordinate along the bands (or the band dimension's
    own coordinate when it is named ``wavelength``), their units from its
    ``units`` attribute or the DataArray's ``wavelength_units``, ``fwhm``,
    the no-data value (``_FillValue`` or ``nodata``) and the georeference
    (rioxarray's, the ``crs`` and ``transform`` attributes, or evenly
    spaced ``x`` and ``y`` coordinates at pixel centres).

    Parameters
    ----------
    data : xarray.DataArray
        Three dimensions: ``y``, ``x`` and the bands.

    Returns
    -------
    cube : ndarray or dask.array.Array of shape (n_rows, n_cols, n_bands)
        The DataArray's values transposed to ``(y, x, band)``; a dask-backed
        DataArray gives a dask array, read when it is computed.
    info : CubeInfo
        With ``format="xarray"`` and ``path=None``.

    Raises
    ------
    TypeError
        If ``data`` is not an xarray DataArray.
    ValueError
        If its dims are not ``y``, ``x`` and one more.

    See Also
    --------
    to_xarray : The DataArray of a cube.

    Examples
    --------
    >>> import rioxarray  # doctest: +SKIP
    >>> cube, info = from_xarray(rioxarray.open_rasterio("scene.hdr"))  # doctest: +SKIP
    >>> info.wavelengths[:2], info.crs  # doctest: +SKIP
    (array([400.2, 409.8]), 'EPSG:32611')
    """
    if not (hasattr(data, "dims") and hasattr(data, "coords") and hasattr(data, "transpose")):
        raise TypeError(f"Expected an xarray DataArray, got {type(data).__name__}; wrap the array with to_xarray")
    band = _band_dim(data)
    data = data.transpose("y", "x", band)
    n_bands = data.sizes[band]
    coord = _along(data, "wavelength", band)
    wavelengths = units = None
    if coord is not None and np.asarray(coord).dtype.kind in "iuf":
        wavelengths = _checked_wavelengths("the DataArray", np.asarray(coord), n_bands, "its 'wavelength' coordinate")
        units = coord.attrs.get("units") or data.attrs.get("wavelength_units")
        units = _normalise_units(units) if wavelengths is not None else None
    fwhm = _along(data, "fwhm", band)
    if fwhm is not None:
        fwhm = _checked_wavelengths("the DataArray", np.asarray(fwhm), n_bands, "its 'fwhm' coordinate")
    nodata = data.attrs.get("_FillValue", data.attrs.get("nodata"))
    nodata = None if nodata is None else _parse_nodata("the DataArray", nodata)
    info = CubeInfo(
        path=None, format="xarray", band_axis=2, wavelengths=wavelengths, wavelength_units=units,
        nodata=nodata, fwhm=fwhm, georeference=_georeference_of(data),
    )  # fmt: skip
    return data.data, info

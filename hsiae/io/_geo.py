"""Georeferencing: where a cube's pixels lie on the map, read from and written to GeoTIFF tags and ENVI headers.

A :class:`Georeference` is a coordinate reference system and the affine
transform from pixel to map coordinates. The common cases are read and
written without GDAL: GeoTIFF model tags (ModelPixelScale and ModelTiepoint,
or ModelTransformation) with GeoKeys naming an EPSG code, and ENVI
``map info`` in UTM or geographic WGS-84 coordinates. The georeferencing tags
of a TIFF input are copied verbatim onto TIFF outputs of the same pixel grid,
and the ``map info`` of an ENVI input onto ENVI outputs, so that any CRS (a
user-defined one too) reaches them exactly as it came. The other conversions
(a WKT CRS into GeoKeys, another EPSG code into ENVI's ``map info``, a
user-defined GeoTIFF CRS into WKT) are GDAL's: they need rasterio
(``pip install 'hsiae[geo]'``) and say so when it is missing.
"""

import io
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hsiae.io._common import logger

_GEO_EXTRA = "pip install 'hsiae[geo]'"

# GeoTIFF tags
_MODEL_PIXEL_SCALE = 33550
_MODEL_TIEPOINT = 33922
_MODEL_TRANSFORMATION = 34264
_GEO_KEY_DIRECTORY = 34735
_GEO_DOUBLE_PARAMS = 34736
_GEO_ASCII_PARAMS = 34737
_GEOTIFF_TAGS = (
    _MODEL_PIXEL_SCALE,
    _MODEL_TIEPOINT,
    _MODEL_TRANSFORMATION,
    _GEO_KEY_DIRECTORY,
    _GEO_DOUBLE_PARAMS,
    _GEO_ASCII_PARAMS,
)
_TIFF_DOUBLE, _TIFF_SHORT, _TIFF_ASCII = 12, 3, 2
# GeoKeys
_MODEL_TYPE, _RASTER_TYPE, _GEOGRAPHIC_TYPE, _PROJECTED_TYPE = 1024, 1025, 2048, 3072
_PROJECTED, _GEOGRAPHIC = 1, 2
_PIXEL_IS_AREA, _PIXEL_IS_POINT = 1, 2
_USER_DEFINED = 32767

# EPSG codes whose GeoKeys hsiae writes without GDAL: the key directory only has to say whether the
# code is projected or geographic, and a wrong guess would misplace the file, so only these are known.
_GEOGRAPHIC_CODES = frozenset({4326, 4258, 4269})
_PROJECTED_CODES = frozenset(
    {3035, 3857, *range(32601, 32661), *range(32701, 32761), *range(25828, 25839), *range(26901, 26924)}
)
_WGS84_NAMES = {"wgs-84", "wgs84", "wgs 84", "wgs_84"}


def _as_transform(value):
    """A transform as a tuple of 6 floats, from any sequence of 6 (or an ``affine.Affine``'s 9)."""
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        values = ()
    if len(values) == 9 and values[6:] == (0.0, 0.0, 1.0):
        values = values[:6]
    a, b, _, d, e, _ = values if len(values) == 6 else (0.0,) * 6
    if len(values) != 6 or not all(math.isfinite(v) for v in values) or a * e - b * d == 0:
        raise ValueError(
            f"Expected a transform of 6 finite numbers (a, b, c, d, e, f) with a nonzero determinant "
            f"a * e - b * d, as rasterio's Affine orders them, but got {value!r}; pass "
            f"(pixel width, 0, left, 0, -pixel height, top) for a north-up grid"
        )
    return values


def _as_crs(value):
    """A CRS as a string: an "EPSG:<code>" or WKT string as given, or a rasterio or pyproj CRS's WKT."""
    if value is None or isinstance(value, str):
        if isinstance(value, str) and not value.strip():
            raise ValueError("Expected a CRS such as 'EPSG:32633' or a WKT string, but got an empty string")
        return value
    if isinstance(value, int):
        return f"EPSG:{value}"
    to_wkt = getattr(value, "to_wkt", None)
    if to_wkt is None:
        raise TypeError(
            f"Expected a CRS as a string ('EPSG:32633', WKT) or a rasterio or pyproj CRS, but got "
            f"{type(value).__name__}; pass crs.to_wkt()"
        )
    epsg = value.to_epsg() if hasattr(value, "to_epsg") else None
    return f"EPSG:{epsg}" if epsg else to_wkt()


@dataclass(frozen=True)
class Georeference:
    """Where a cube's pixels lie on the map: a coordinate reference system and an affine transform.

    Parameters
    ----------
    crs : str or None, default=None
        The coordinate reference system, as ``"EPSG:<code>"`` or a WKT
        string (a rasterio or pyproj ``CRS`` is turned into one of these).
        None when the file names none.
    transform : tuple of 6 floats or None, default=None
        The affine transform from pixel to map coordinates, in the order
        of rasterio's ``Affine``: the map point of column ``col`` and row
        ``row`` (``(0, 0)`` being the upper-left corner of the upper-left
        pixel) is ``x = a * col + b * row + c``, ``y = d * col + e * row + f``.
        A north-up grid is ``(width, 0, left, 0, -height, top)``. An
        ``affine.Affine`` is taken as it is.

    Notes
    -----
    A georeference read from a GeoTIFF or an ENVI header also keeps the
    file's own georeferencing tags or ``map info``; outputs of the same
    format get them verbatim, as long as ``crs`` and ``transform`` are still
    the ones read (a copy made with :func:`dataclasses.replace` and another
    transform writes its own).

    Examples
    --------
    >>> from hsiae.io import Georeference
    >>> g = Georeference("EPSG:32633", (30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0))
    >>> g.extent((100, 200))  # (left, right, bottom, top) of 100 rows x 200 columns
    (500000.0, 506000.0, 4197000.0, 4200000.0)
    """

    crs: str | None = None
    transform: tuple | None = None
    # (crs, transform, payload) of the file's own tags or map info, written verbatim while they still apply
    _tiff: tuple | None = field(default=None, repr=False, compare=False)
    _envi: tuple | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "crs", _as_crs(self.crs))
        if self.transform is not None:
            object.__setattr__(self, "transform", _as_transform(self.transform))

    @property
    def is_north_up(self):
        """Whether the grid's rows run along map x and its columns down map y, without rotation."""
        if self.transform is None:
            return False
        a, b, _, d, e, _ = self.transform
        return b == 0 and d == 0 and a > 0 and e < 0

    def extent(self, shape):
        """``(left, right, bottom, top)`` in map units of an image of ``shape`` (rows, cols) on this grid.

        The outer edges of the outer pixels, in the order of matplotlib's
        ``imshow(..., extent=)``.

        Parameters
        ----------
        shape : tuple of int
            ``(n_rows, n_cols, ...)``; further axes are ignored.

        Returns
        -------
        extent : tuple of 4 floats

        Raises
        ------
        ValueError
            If there is no transform, or it rotates the grid.
        """
        if self.transform is None or self.transform[1] != 0 or self.transform[3] != 0:
            raise ValueError(
                f"Expected a grid aligned with the map axes for an extent, but the transform is "
                f"{self.transform}; draw a rotated grid with its corner coordinates instead"
            )
        a, _, c, _, e, f = self.transform
        rows, cols = shape[:2]
        return (c, c + a * cols, f + e * rows, f)

    def geotiff_tags(self):
        """The GeoTIFF tags that place a TIFF on this grid, as tifffile's ``extratags``.

        The input's own tags when they still describe this georeference,
        else model tags from the transform and GeoKeys from the CRS.

        Returns
        -------
        tags : list of tuple
            ``(code, dtype, count, value, writeonce)`` for ``tifffile.imwrite(..., extratags=tags)``.

        Raises
        ------
        ImportError
            If the CRS can be turned into GeoKeys only by GDAL and rasterio
            is missing.
        """
        return _geotiff_extratags(self)

    def envi_header_fields(self):
        """The ENVI header fields that place a cube on this grid: ``map info``, ``coordinate system string``.

        Returns
        -------
        fields : dict of str to str
            Field name to its value, without the braces.

        Raises
        ------
        ValueError
            If ENVI's ``map info`` cannot hold the transform (a rotation
            with unequal pixel sizes, or a grid flipped upside down).
        ImportError
            If the CRS can be written to ENVI only by GDAL and rasterio is
            missing.
        """
        return _envi_georeference_fields(self)

    def _verbatim(self, which):
        kept = self._tiff if which == "tiff" else self._envi
        if kept is not None and kept[0] == self.crs and kept[1] == self.transform:
            return kept[2]
        return None


def _import_rasterio(what):
    try:
        import rasterio
    except ImportError:
        raise ImportError(f"{what} needs rasterio (GDAL); install it with: {_GEO_EXTRA}") from None
    return rasterio


def _crs_from_gdal(path):
    """The CRS GDAL reads from ``path`` (as WKT), or None; None when rasterio is missing."""
    try:
        import rasterio
    except ImportError:
        return None
    try:
        with rasterio.open(path) as dataset:
            crs = dataset.crs
        return crs.to_wkt() if crs else None
    except Exception as exc:  # GDAL's errors for a file it cannot read are many; the CRS is then unknown
        logger.info("GDAL could not read the coordinate reference system of '%s' (%s)", path, exc)
        return None


# -- GeoTIFF ---------------------------------------------------------------------------------


def _geokeys(tags):
    """The GeoKeys of a GeoKeyDirectory tag as a dict key -> int, tuple of floats or str."""
    directory = tags.get(_GEO_KEY_DIRECTORY)
    if directory is None:
        return {}
    values = [int(v) for v in directory]
    doubles = tuple(tags.get(_GEO_DOUBLE_PARAMS) or ())
    text = tags.get(_GEO_ASCII_PARAMS) or ""
    keys = {}
    for i in range(values[3]):
        key, location, count, offset = values[4 + 4 * i : 8 + 4 * i]
        if location == 0:
            keys[key] = offset
        elif location == _GEO_DOUBLE_PARAMS:
            keys[key] = doubles[offset : offset + count]
        elif location == _GEO_ASCII_PARAMS:
            keys[key] = text[offset : offset + count].rstrip("|")
    return keys


def _tiff_transform(tags, keys):
    """The affine transform the model tags give, as GDAL reads it, or None."""
    if _MODEL_TRANSFORMATION in tags:
        m = tags[_MODEL_TRANSFORMATION]
        a, b, c, d, e, f = m[0], m[1], m[3], m[4], m[5], m[7]
    elif _MODEL_TIEPOINT in tags and _MODEL_PIXEL_SCALE in tags:
        tiepoint, scale = tags[_MODEL_TIEPOINT], tags[_MODEL_PIXEL_SCALE]
        if len(tiepoint) != 6:  # several tie points are ground control points, not a transform
            return None
        i, j, _, x, y, _ = tiepoint
        a, b, d, e = scale[0], 0.0, 0.0, -scale[1]
        c, f = x - i * a, y - j * e
    else:
        return None
    if keys.get(_RASTER_TYPE) == _PIXEL_IS_POINT:
        # the tie point is a pixel's centre: GDAL moves the origin to its corner
        c -= (a + b) / 2
        f -= (d + e) / 2
    return _as_transform((a, b, c, d, e, f))


def _tiff_crs(path, keys):
    """``"EPSG:<code>"`` when the GeoKeys name one, else GDAL's WKT (with rasterio), else None."""
    model = keys.get(_MODEL_TYPE)
    for kind, key in ((_PROJECTED, _PROJECTED_TYPE), (_GEOGRAPHIC, _GEOGRAPHIC_TYPE)):
        code = keys.get(key)
        if model == kind and isinstance(code, int) and 0 < code < _USER_DEFINED:
            return f"EPSG:{code}"
    if model is None:
        return None
    wkt = _crs_from_gdal(path)
    if wkt is None:
        logger.info(
            "The coordinate reference system of '%s' is not an EPSG code; it is copied as it is onto TIFF "
            "outputs, but reading it (for ENVI or xarray outputs) needs rasterio: %s",
            path,
            _GEO_EXTRA,
        )
    return wkt


def _georeference_from_tiff(path, page):
    """The :class:`Georeference` of a TIFF page's GeoTIFF tags, or None when it has none."""
    found = {code: page.tags.get(code) for code in _GEOTIFF_TAGS}
    found = {code: tag for code, tag in found.items() if tag is not None}
    if not found:
        return None
    values = {code: tag.value for code, tag in found.items()}
    try:
        keys = _geokeys(values)
        transform = _tiff_transform(values, keys)
    except (ValueError, TypeError, IndexError) as exc:
        logger.warning("Ignoring the damaged georeferencing tags of '%s' (%s)", path, exc)
        return None
    crs = _tiff_crs(path, keys)
    verbatim = tuple((tag.code, int(tag.dtype), tag.count, tag.value) for tag in found.values())
    return Georeference(crs, transform, _tiff=(crs, transform, verbatim))


def _model_tags(transform):
    """ModelPixelScale and ModelTiepoint of a north-up transform, else ModelTransformation."""
    a, b, c, d, e, f = transform
    if b == 0 and d == 0 and a > 0 and e < 0:
        return [
            (_MODEL_PIXEL_SCALE, _TIFF_DOUBLE, 3, (a, -e, 0.0), True),
            (_MODEL_TIEPOINT, _TIFF_DOUBLE, 6, (0.0, 0.0, 0.0, c, f, 0.0), True),
        ]
    matrix = (a, b, 0.0, c, d, e, 0.0, f, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    return [(_MODEL_TRANSFORMATION, _TIFF_DOUBLE, 16, matrix, True)]


def _key_directory(entries):
    """A GeoKeyDirectory tag of (key, value) SHORT entries, sorted by key as the format requires."""
    values = [1, 1, 0, len(entries)]
    for key, value in sorted(entries):
        values += [key, 0, 1, value]
    return (_GEO_KEY_DIRECTORY, _TIFF_SHORT, len(values), tuple(values), True)


def _epsg_code(crs):
    if crs is not None and crs.upper().startswith("EPSG:") and crs[5:].strip().isdigit():
        return int(crs[5:])
    return None


def _geokey_tags_from_gdal(crs):
    """The GeoKey tags GDAL writes for ``crs`` (any CRS rasterio takes), read back from a tiny GeoTIFF."""
    rasterio = _import_rasterio(f"Writing the coordinate reference system {_short(crs)} as GeoTIFF keys")
    import numpy as np
    import tifffile
    from affine import Affine
    from rasterio.crs import CRS

    with rasterio.MemoryFile() as memory:
        with memory.open(
            driver="GTiff", width=1, height=1, count=1, dtype="uint8", crs=CRS.from_user_input(crs),
            transform=Affine(2.0, 0.0, 0.0, 0.0, -2.0, 0.0),  # not the identity, which GDAL drops
        ) as dataset:  # fmt: skip
            dataset.write(np.zeros((1, 1, 1), np.uint8))
        data = memory.read()
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        tags = tif.pages.first.tags
        return [
            (tag.code, int(tag.dtype), tag.count, tag.value, True)
            for code in (_GEO_KEY_DIRECTORY, _GEO_DOUBLE_PARAMS, _GEO_ASCII_PARAMS)
            if (tag := tags.get(code)) is not None
        ]


def _short(crs):
    text = " ".join(str(crs).split())
    return f"'{text[:60]}...'" if len(text) > 63 else f"'{text}'"


def _ascii(value):
    return value.encode("latin-1", "replace") if isinstance(value, str) else value


def _geotiff_extratags(georeference):
    """The tifffile ``extratags`` that georeference a TIFF on this grid; [] for None.

    The input's own tags when they still describe ``georeference``; else
    model tags from the transform and GeoKeys from the CRS (by hand for the
    EPSG codes of ``_PROJECTED_CODES`` and ``_GEOGRAPHIC_CODES``, through
    GDAL for any other).
    """
    if georeference is None or (georeference.crs is None and georeference.transform is None):
        return []
    verbatim = georeference._verbatim("tiff")
    if verbatim is not None:
        return [
            (code, dtype, 0 if dtype == _TIFF_ASCII else count, _ascii(value), True)
            for code, dtype, count, value in verbatim
        ]
    tags = [] if georeference.transform is None else _model_tags(georeference.transform)
    crs, code = georeference.crs, _epsg_code(georeference.crs)
    if crs is None:  # model tags alone: GDAL reads the grid without a CRS (any GeoKey makes it a local one)
        pass
    elif code in _PROJECTED_CODES:
        tags.append(
            _key_directory([(_MODEL_TYPE, _PROJECTED), (_RASTER_TYPE, _PIXEL_IS_AREA), (_PROJECTED_TYPE, code)])
        )
    elif code in _GEOGRAPHIC_CODES:
        tags.append(
            _key_directory([(_MODEL_TYPE, _GEOGRAPHIC), (_RASTER_TYPE, _PIXEL_IS_AREA), (_GEOGRAPHIC_TYPE, code)])
        )
    else:
        tags += [(c, d, 0 if d == _TIFF_ASCII else n, _ascii(v), w) for c, d, n, v, w in _geokey_tags_from_gdal(crs)]
    return tags


# -- ENVI ------------------------------------------------------------------------------------


def _envi_transform(path, tokens):
    """The affine transform of ENVI ``map info`` tokens, as GDAL reads them (rotation included)."""
    ref_x, ref_y, x, y, size_x, size_y = (float(t) for t in tokens[1:7])
    rotation = 0.0
    for token in tokens[7:]:
        key, _, value = token.partition("=")
        if key.strip().lower() == "rotation":
            rotation = math.radians(float(value))
    cos, sin = math.cos(rotation), math.sin(rotation)
    if rotation == 0:
        cos, sin = 1.0, 0.0
    # GDAL: the reference pixel (1-based) is offset by the unrotated pixel sizes
    return _as_transform(
        (cos * size_x, sin * size_x, x - (ref_x - 1) * size_x, sin * size_y, -cos * size_y, y + (ref_y - 1) * size_y)
    )


def _envi_named_crs(tokens):
    """``"EPSG:<code>"`` of a UTM or geographic WGS-84 ``map info``, else None."""
    name = tokens[0].strip().lower()
    rest = [t.strip() for t in tokens[7:] if "=" not in t]
    options = {k.strip().lower(): v.strip().lower() for k, _, v in (t.partition("=") for t in tokens[7:] if "=" in t)}
    if name == "utm" and len(rest) >= 3 and rest[2].lower() in _WGS84_NAMES:
        if options.get("units", "meters") not in ("meters", "metres", "meter"):
            return None
        zone, hemisphere = int(rest[0]), rest[1].lower()
        if 1 <= zone <= 60 and hemisphere in ("north", "south"):
            return f"EPSG:{(32600 if hemisphere == 'north' else 32700) + zone}"
    elif name == "geographic lat/lon" and len(rest) >= 1 and rest[0].lower() in _WGS84_NAMES:
        return "EPSG:4326"
    return None


def _georeference_from_envi(header_path, data_path, fields):
    """The :class:`Georeference` of an ENVI header's ``map info`` and ``coordinate system string``, or None.

    The CRS is the EPSG code of a UTM or geographic WGS-84 ``map info``, else
    GDAL's reading of the header (with rasterio), else the ``coordinate
    system string`` (WKT) as written.
    """
    map_info, system = fields.get("map info"), fields.get("coordinate system string")
    if map_info is None and system is None:
        return None
    transform = crs = None
    tokens = [t.strip() for t in map_info.split(",")] if map_info is not None else None
    if tokens is not None:
        try:
            transform = _envi_transform(header_path, tokens)
            crs = _envi_named_crs(tokens)
        except (ValueError, IndexError):
            logger.warning("Ignoring the unreadable 'map info' of '%s': {%s}", header_path, map_info)
            tokens = transform = None
    if crs is None and system:
        crs = _crs_from_gdal(data_path) or system  # GDAL's reading of it (an EPSG CRS identified), if there
    if crs is None and tokens is not None and tokens[0].strip().lower() not in ("arbitrary", "pixel"):
        crs = _crs_from_gdal(data_path)
        if crs is None:
            logger.warning(
                "The coordinate reference system of '%s' ('map info' in %s) can be read only by GDAL: "
                "install rasterio (%s); the cube is read without it",
                header_path,
                tokens[0],
                _GEO_EXTRA,
            )
    if crs is None and transform is None:
        return None
    verbatim = {
        key: fields[key] for key in ("map info", "projection info", "coordinate system string") if key in fields
    }
    return Georeference(crs, transform, _envi=(crs, transform, verbatim))


def _number(value):
    return repr(float(value)) if not float(value).is_integer() else str(float(value))


def _envi_rotation(transform):
    """(size x, size y, rotation in degrees) of a transform in GDAL's ENVI form, or None."""
    a, b, _, d, e, _ = transform
    size_x, size_y = math.hypot(a, b), math.hypot(d, e)
    angle_x, angle_y = math.atan2(b, a), math.atan2(d, -e)
    if not math.isclose(angle_x, angle_y, rel_tol=0, abs_tol=1e-12):
        return None
    return size_x, size_y, math.degrees(angle_x)


def _envi_fields_from_gdal(georeference):
    """``map info``, ``projection info`` and ``coordinate system string`` as GDAL writes them."""
    rasterio = _import_rasterio(f"Writing the coordinate reference system {_short(georeference.crs)} to ENVI")
    import numpy as np
    from affine import Affine
    from rasterio.crs import CRS

    from hsiae.io._envi import _parse_envi_header

    transform = Affine(*(georeference.transform or (2.0, 0.0, 0.0, 0.0, -2.0, 0.0)))
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "georeference.img"
        with rasterio.open(
            data, "w", driver="ENVI", width=1, height=1, count=1, dtype="uint8",
            crs=CRS.from_user_input(georeference.crs), transform=transform,
        ) as dataset:  # fmt: skip
            dataset.write(np.zeros((1, 1, 1), np.uint8))
        fields = _parse_envi_header(data.with_suffix(".hdr"))
    keys = ("map info", "projection info", "coordinate system string")
    found = {key: fields[key] for key in keys if key in fields}
    if georeference.transform is None:
        found.pop("map info", None)
    return found


def _envi_georeference_fields(georeference):
    """The header fields (``map info`` ...) that georeference an ENVI file on this grid; {} for None.

    Raises
    ------
    ValueError
        If the transform is one ENVI's ``map info`` cannot hold (a rotation
        with unequal pixel sizes, or a grid flipped upside down).
    ImportError
        If the CRS needs GDAL and rasterio is missing.
    """
    if georeference is None or (georeference.crs is None and georeference.transform is None):
        return {}
    verbatim = georeference._verbatim("envi")
    if verbatim is not None:
        return dict(verbatim)
    fields = {}
    code = _epsg_code(georeference.crs)
    if georeference.transform is not None:
        form = _envi_rotation(georeference.transform)
        if form is None or form[1] <= 0:
            raise ValueError(
                f"ENVI's 'map info' cannot hold the transform {georeference.transform} (a rotation with "
                f"unequal pixel sizes, or a grid flipped upside down); write a GeoTIFF instead"
            )
        size_x, size_y, rotation = form
        _, _, c, _, _, f = georeference.transform
        numbers = ", ".join(_number(v) for v in (1, 1, c, f, size_x, size_y))
        rotated = f", rotation={rotation!r}" if rotation else ""
        if code is not None and (32601 <= code <= 32660 or 32701 <= code <= 32760):
            hemisphere = "North" if code < 32700 else "South"
            fields["map info"] = f"UTM, {numbers}, {code % 100}, {hemisphere}, WGS-84, units=Meters{rotated}"
        elif code == 4326:
            fields["map info"] = f"Geographic Lat/Lon, {numbers}, WGS-84, units=Degrees{rotated}"
        elif georeference.crs is None:
            fields["map info"] = f"Arbitrary, {numbers}{rotated}"
    if "map info" not in fields and georeference.crs is not None:
        if code is None:  # a WKT string: ENVI and GDAL read it as the coordinate system string
            fields = _envi_fields_from_gdal(georeference) if _has_rasterio() else {}
            if georeference.transform is not None and "map info" not in fields:
                fields["map info"] = f"Arbitrary, {numbers}{rotated}"
            fields["coordinate system string"] = georeference.crs
        else:
            fields = _envi_fields_from_gdal(georeference)
    return fields


def _has_rasterio():
    try:
        import rasterio  # noqa: F401
    except ImportError:
        return False
    return True

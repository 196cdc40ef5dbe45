"""Read hyperspectral cubes and write cubes and label maps.

:func:`read_cube` reads TIFF (multi-page, interleaved, planar, ImageJ, OME),
MATLAB ``.mat`` (v4/v5 and v7.3), NumPy ``.npy`` and ENVI files and always
returns an array of shape ``(n_rows, n_cols, n_bands)`` in the file's own
dtype, memory-mapped where the file allows it, plus a :class:`CubeInfo`.
:func:`write_cube` writes TIFF or ENVI (BSQ, BIL, BIP) files and
:func:`write_labels` TIFF files, atomically.
:func:`read_mask` reads a 2-D image of the pixels that may be used.
:func:`matrix_to_cube` puts a ``(bands, pixels)`` matrix, as MATLAB scene
files store spectra, back into an image cube.

Georeferencing
--------------
:attr:`CubeInfo.georeference` (a :class:`Georeference`: the CRS and the
affine transform from pixel to map coordinates) is read from a GeoTIFF's
tags and an ENVI header's ``map info``; every writer takes
``georeference=`` and writes it so that GDAL, QGIS and rasterio place the
output where the input was. Conversions between formats that need GDAL
(rasterio, ``pip install 'hsiae[geo]'``) say so when it is missing.

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

xarray
------
:func:`to_xarray` and :func:`from_xarray` turn a cube and its
:class:`CubeInfo` into a labelled DataArray (dims ``y``, ``x``, ``band``; a
``wavelength`` coordinate; the CRS through rioxarray) and back; they need
xarray (``pip install 'hsiae[xarray]'``).

Cubes larger than memory
------------------------
:func:`open_cube` opens any of these files (or a Zarr array) as a lazy dask
array chunked over space with the bands whole; :func:`store_labels` and
:func:`store_cube` compute lazy results chunk by chunk into a TIFF or Zarr
on disk. They need dask (``pip install 'hsiae[dask]'``).
"""

from hsiae.io._atomic import Committed, atomic_output, check_target, commit, discard, temporary_beside
from hsiae.io._common import CubeFormatError, CubeInfo
from hsiae.io._geo import Georeference
from hsiae.io._lazy import as_lazy_cube, open_cube
from hsiae.io._mask import read_mask
from hsiae.io._matrix import matrix_to_cube
from hsiae.io._read import read_cube
from hsiae.io._store import store_cube, store_labels
from hsiae.io._write import write_cube, write_labels
from hsiae.io._xarray import from_xarray, to_xarray

__all__ = [
    "Committed",
    "as_lazy_cube",
    "from_xarray",
    "to_xarray",
    "atomic_output",
    "check_target",
    "commit",
    "discard",
    "temporary_beside",
    "CubeFormatError",
    "CubeInfo",
    "Georeference",
    "matrix_to_cube",
    "open_cube",
    "read_cube",
    "read_mask",
    "store_cube",
    "store_labels",
    "write_cube",
    "write_labels",
]

# Name the public module in tracebacks and reprs, as before the split into submodules.
CubeFormatError.__module__ = CubeInfo.__module__ = Georeference.__module__ = __name__

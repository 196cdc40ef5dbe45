"""
A segment map on the map
========================

hsiae's raster outputs carry the georeferencing of their input: the
coordinate reference system (CRS) and the affine transform from pixel to
map coordinates. Here a synthetic scene is given a made-up place (UTM zone
33N, 2 m pixels), written as a GeoTIFF, segmented with the ``hsiae``
command line, and its segment map drawn over its map coordinates, in
metres east and north, as a GIS would place it.

Set ``HSIAE_EXAMPLE_OUTPUT`` to a folder to save the figure;
``HSIAE_EXAMPLE_SMALL=1`` (set by the documentation's build) trains for 5
epochs instead of 20.
"""

# %%
# A georeferenced scene
# ---------------------
# A :class:`~hsiae.io.Georeference` is a CRS and a transform in the order of
# rasterio's ``Affine``: ``(pixel width, 0, left, 0, -pixel height, top)``
# for a north-up grid. ``write_cube`` stores it as GeoTIFF tags (ENVI's
# ``map info`` for ``.hdr`` names), which GDAL, QGIS and rasterio read.
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import tifffile

from hsiae import make_synthetic_scene
from hsiae.cli import main
from hsiae.io import Georeference, read_cube, write_cube
from hsiae.plotting import plot_segment_map

EPOCHS = 5 if os.environ.get("HSIAE_EXAMPLE_SMALL") == "1" else 20
scene = make_synthetic_scene(n_bands=64, shape=(64, 64), n_segments=5, noise=0.02, random_state=0)
place = Georeference("EPSG:32633", (2.0, 0.0, 451200.0, 0.0, -2.0, 4521600.0))
folder = Path(tempfile.mkdtemp())
write_cube(folder / "scene.tif", scene.cube, wavelengths=scene.wavelengths, wavelength_units="nm", georeference=place)

# %%
# Segment it from the command line
# --------------------------------
# ``hsiae segment`` writes ``labels.tif`` (clusters 1..k, 0 for no data) on
# the input's grid and in its CRS; so do ``hsiae denoise`` and ``hsiae
# unmix`` for their cubes, in memory and with ``--chunks``.
args = ["segment", str(folder / "scene.tif"), "-k", "5", "-o", str(folder / "segments")]
main([*args, "--epochs", str(EPOCHS), "--bands", "64", "--seed", "0", "-q"])
labels = tifffile.imread(folder / "segments" / "labels.tif").astype(int) - 1  # clusters 0..k-1, -1 = no data

_, info = read_cube(folder / "scene.tif")
print(f"CRS {info.crs}, transform {info.transform}")
try:
    import rasterio  # GDAL, as QGIS reads the file

    with rasterio.open(folder / "segments" / "labels.tif") as labels_file:
        print(f"GDAL reads labels.tif in {labels_file.crs}, transform {tuple(labels_file.transform)[:6]}")
except ImportError:
    pass

# %%
# The segment map over its map coordinates
# ----------------------------------------
# ``Georeference.extent`` gives the outer edges of the image in map units,
# in the order of matplotlib's ``imshow(extent=...)``.
fig, ax = plt.subplots(figsize=(7, 5.2), layout="constrained")
plot_segment_map(labels, ax=ax)
ax.images[0].set_extent(info.georeference.extent(labels.shape))
ax.set_xlabel("Easting (m, UTM zone 33N, EPSG:32633)")
ax.set_ylabel("Northing (m)")
ax.ticklabel_format(useOffset=False, style="plain")
ax.set_title("Segment map of labels.tif, placed by its georeference")

out = os.environ.get("HSIAE_EXAMPLE_OUTPUT")
if out:
    os.makedirs(out, exist_ok=True)
    fig.savefig(os.path.join(out, "plot_gis_1.png"), dpi=110)
plt.show()

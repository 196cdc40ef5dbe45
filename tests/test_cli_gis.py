"""The command line in a GIS workflow: every raster output sits where its input was on the map.

GeoTIFF and ENVI inputs are written with rasterio (GDAL), and the outputs of
``hsiae segment``, ``denoise`` and ``unmix`` read back with it, in memory and
with ``--chunks``.
"""

import sys

import numpy as np
import pytest

from hsiae.cli import main
from hsiae.io import Georeference, read_cube, write_cube

rasterio = pytest.importorskip("rasterio")
from affine import Affine  # noqa: E402  (rasterio's dependency)

H, W, B = 8, 9, 20
WAVELENGTHS = np.linspace(400.0, 1000.0, B)
FAST = ["--epochs", "2", "--bands", "16", "--zdims", "3", "--threads", "1", "-q"]
UTM = "EPSG:32633"
NORTH_UP = (30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)
CHUNKED = ["--chunks", "4", "--scheduler", "synchronous", "--sample-size", "60"]


def make_cube(n_bands=B):
    """Three regions with differently placed peaks, plus noise: (H, W, n_bands) float32."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, n_bands)
    centre = np.full((H, W, 1), 0.3)
    centre[:, 4:] = 0.7
    centre[:4, 4:] = 0.5
    return (np.exp(-((t - centre) ** 2) / 0.05) + 0.01 * rng.normal(size=(H, W, n_bands))).astype(np.float32)


def gdal_write(path, cube, crs=UTM, transform=NORTH_UP, driver="GTiff", **options):
    with rasterio.open(
        path, "w", driver=driver, width=W, height=H, count=cube.shape[2], dtype=cube.dtype, crs=crs,
        transform=Affine(*transform), **options,
    ) as dataset:  # fmt: skip
        dataset.write(np.moveaxis(cube, 2, 0))
    return str(path)


def georeference(path):
    with rasterio.open(path) as dataset:
        return dataset.crs, tuple(dataset.transform)[:6]


@pytest.fixture(scope="module")
def geotiff(tmp_path_factory):
    return gdal_write(tmp_path_factory.mktemp("in") / "scene.tif", make_cube())


@pytest.fixture(scope="module")
def model(geotiff, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.hsiae"
    assert main(["train", geotiff, "-o", str(path), *FAST]) == 0
    return str(path)


@pytest.mark.parametrize("chunks", [[], CHUNKED], ids=["in-memory", "chunked"])
def test_segment_denoise_and_unmix_outputs_carry_the_geotiffs_crs_and_transform(geotiff, model, tmp_path, chunks):
    if chunks:
        pytest.importorskip("dask")
    expected = georeference(geotiff)
    assert expected[0].to_epsg() == 32633 and expected[1] == NORTH_UP
    assert main(["segment", geotiff, "-k", "3", "-o", str(tmp_path / "seg"), "--model", model, *chunks, "-q"]) == 0
    assert main(["denoise", geotiff, "--model", model, "-o", str(tmp_path / "den.tif"), *chunks[:4], "-q"]) == 0
    unmix = ["unmix", geotiff, "-p", "3", "-o", str(tmp_path / "unmix"), "--epochs", "2", "--threads", "1"]
    assert main([*unmix, *chunks, "-q"]) == 0
    for output in (tmp_path / "seg" / "labels.tif", tmp_path / "den.tif", tmp_path / "unmix" / "abundances.tif"):
        assert georeference(output) == expected, output.name


@pytest.mark.parametrize("chunks", [[], CHUNKED[:4]], ids=["in-memory", "chunked"])
@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_an_envi_input_gives_georeferenced_outputs_and_denoise_writes_envi(model, tmp_path, chunks, interleave):
    if chunks:
        pytest.importorskip("dask")
    spectral = pytest.importorskip("spectral")
    source = gdal_write(tmp_path / "scene.img", make_cube(), driver="ENVI", interleave=interleave)
    expected = georeference(source)
    assert main(["segment", source, "-k", "3", "-o", str(tmp_path / "seg"), "--model", model, "-q"]) == 0
    assert georeference(tmp_path / "seg" / "labels.tif") == expected
    assert main(["denoise", source, "--model", model, "-o", str(tmp_path / "den.hdr"), *chunks, "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("den")) == ["den.hdr", "den.img"]
    assert georeference(tmp_path / "den.img") == expected
    image = spectral.open_image(str(tmp_path / "den.hdr"))
    assert image.metadata["interleave"] == interleave  # the input's layout
    denoised, info = read_cube(tmp_path / "den.hdr")
    np.testing.assert_array_equal(np.array(image.open_memmap(interleave="bip")), denoised)
    assert denoised.shape == (H, W, B) and denoised.dtype == np.float32
    # the same cube denoised into a TIFF holds the same values
    assert main(["denoise", source, "--model", model, "-o", str(tmp_path / "den.tif"), "-q"]) == 0
    np.testing.assert_allclose(denoised, read_cube(tmp_path / "den.tif")[0], rtol=0, atol=1e-6)


def test_the_bad_bands_of_an_envi_input_are_left_out_and_said(model, tmp_path, capsys):
    spectral = pytest.importorskip("spectral")
    cube = make_cube(B + 2)
    header = tmp_path / "scene.hdr"
    wavelengths = [*WAVELENGTHS[:10], 1500.0, *WAVELENGTHS[10:], 1900.0]  # two absorption bands, marked bad
    cube = np.concatenate([cube[:, :, :10], cube[:, :, -1:], cube[:, :, 10:B], cube[:, :, -1:]], axis=2)
    bbl = [1] * 10 + [0] + [1] * (B - 10) + [0]
    spectral.envi.save_image(str(header), cube, metadata={"wavelength": wavelengths, "bbl": bbl}, ext=".img")
    assert main(["denoise", str(header), "--model", model, "-o", str(tmp_path / "den.hdr")]) == 0
    out = capsys.readouterr().out
    assert "Left out 2 bad bands of 22 ('bbl' of " in out and "bands 11,22" in out  # numbered from 1
    denoised, info = read_cube(tmp_path / "den.hdr")
    assert denoised.shape == (H, W, B)
    np.testing.assert_allclose(info.wavelengths, WAVELENGTHS)

    # --drop-bands numbers the file's bands, the bad ones included: band 11 is out already, 1 and 2 too now
    assert main(["segment", str(header), "-k", "2", "-o", str(tmp_path / "s"), "--drop-bands", "1-2,11",
                 "--epochs", "1", "--bands", "8", "--zdims", "2", "--no-figures"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "Left out 2 bands (--drop-bands): 1-2; 18 bands remain" in out


@pytest.mark.parametrize("name", ["den.img", "den.dat"])
def test_a_denoise_output_ending_in_img_or_dat_is_envi_too(model, geotiff, tmp_path, name):
    assert main(["denoise", geotiff, "--model", model, "-o", str(tmp_path / name), "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["den.hdr", name])
    assert georeference(tmp_path / name) == georeference(geotiff)


def test_denoise_refuses_an_output_name_it_cannot_write_before_any_work(model, geotiff, tmp_path, capsys):
    assert main(["denoise", geotiff, "--model", model, "-o", str(tmp_path / "den.png")]) == 2
    assert "as TIFF (.tif, .tiff) or ENVI (.hdr, .img, .dat)" in capsys.readouterr().err
    int8 = tmp_path / "int8.tif"
    write_cube(int8, np.round(make_cube() * 100).astype(np.int8), wavelengths=WAVELENGTHS)
    assert main(["denoise", str(int8), "--model", model, "-o", str(tmp_path / "den.hdr")]) == 2
    assert "ENVI cannot store int8 pixels" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8.tif"]


def test_without_rasterio_outputs_keep_the_grid_and_say_what_to_install(tmp_path, model, capsys, monkeypatch):
    # an ENVI input in a CRS only GDAL converts to GeoTIFF keys (LAEA Europe)
    source = gdal_write(tmp_path / "scene.img", make_cube(), crs="EPSG:3035", driver="ENVI")
    for name in [n for n in sys.modules if n == "rasterio" or n.startswith("rasterio.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rasterio", None)
    assert main(["segment", source, "-k", "3", "-o", str(tmp_path / "seg"), "--model", model]) == 0
    err = capsys.readouterr().err
    assert "the raster outputs carry the pixel grid but not the coordinate reference system" in err
    assert "pip install 'hsiae[geo]'" in err
    monkeypatch.undo()
    crs, transform = georeference(tmp_path / "seg" / "labels.tif")
    assert crs is None and transform == NORTH_UP


def test_an_envi_output_refuses_a_transform_it_cannot_hold_before_any_work(model, tmp_path, capsys):
    sheared = (30.0, 10.0, 500000.0, 0.0, -30.0, 4200000.0)
    source = tmp_path / "scene.tif"
    write_cube(source, make_cube(), wavelengths=WAVELENGTHS, georeference=Georeference(UTM, sheared))
    assert main(["denoise", str(source), "--model", model, "-o", str(tmp_path / "den.hdr")]) == 2
    assert "ENVI's 'map info' cannot hold the transform" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]

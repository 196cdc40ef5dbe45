"""Tests for hsiae.io in a GIS workflow: georeferencing read and written, ENVI written, xarray in and out.

The oracles are the readers GIS users work with: rasterio (GDAL) for the
coordinate reference system and the transform, Spectral Python for ENVI
files. Tests that need one skip when it is not installed.
"""

import dataclasses
import sys

import numpy as np
import pytest

from hsiae.io import CubeFormatError, Georeference, read_cube, write_cube, write_labels

# rioxarray 0.19 multiplies affine transforms with '*', which affine 3 marks as pending deprecation
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

H, W, B = 5, 7, 4
WAVELENGTHS = np.array([450.0, 550.0, 650.0, 850.0])
UTM = "EPSG:32633"
# north-up, 30 m pixels, upper-left corner at (500000, 4200000) in UTM zone 33N
NORTH_UP = (30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)


def make_cube(dtype=np.float32):
    return np.arange(H * W * B).reshape(H, W, B).astype(dtype)


@pytest.fixture
def rasterio():
    return pytest.importorskip("rasterio")


@pytest.fixture
def without_rasterio(monkeypatch):
    """Make ``import rasterio`` fail, as where the geo extra is not installed."""
    for name in [m for m in sys.modules if m == "rasterio" or m.startswith("rasterio.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rasterio", None)


def gdal_write(rasterio, path, cube, crs, transform, **tags):
    """Write ``cube`` (rows, cols, bands) as a GeoTIFF with GDAL, one band per page."""
    from affine import Affine

    with rasterio.open(
        path, "w", driver="GTiff", width=cube.shape[1], height=cube.shape[0], count=cube.shape[2],
        dtype=cube.dtype, crs=crs, transform=Affine(*transform),
    ) as dataset:  # fmt: skip
        dataset.write(np.moveaxis(cube, 2, 0))
        if tags:
            dataset.update_tags(**tags)
    return path


def gdal_georeference(rasterio, path):
    """(CRS, transform as 6 floats) as GDAL reads them from ``path``."""
    with rasterio.open(path) as dataset:
        return dataset.crs, tuple(dataset.transform)[:6]


def same_crs(rasterio, crs, expected):
    from rasterio.crs import CRS

    return CRS.from_user_input(crs) == CRS.from_user_input(expected)


# --------------------------------------------------------------------------- GeoTIFF in


@pytest.mark.parametrize(
    "crs, transform, tags",
    [
        (UTM, NORTH_UP, {}),
        ("EPSG:4326", (0.001, 0.0, 10.0, 0.0, -0.001, 50.0), {}),
        # a tie point at a pixel's centre: GDAL moves the origin by half a pixel
        (UTM, NORTH_UP, {"AREA_OR_POINT": "Point"}),
        # rotated: stored as ModelTransformation
        (UTM, (25.98, 15.0, 500000.0, 15.0, -25.98, 4200000.0), {}),
    ],
    ids=["utm", "geographic", "pixel-is-point", "rotated"],
)
def test_read_cube_records_the_crs_and_transform_gdal_reads(rasterio, tmp_path, crs, transform, tags):
    path = gdal_write(rasterio, tmp_path / "scene.tif", make_cube(), crs, transform, **tags)
    cube, info = read_cube(path)
    gdal_crs, gdal_transform = gdal_georeference(rasterio, path)
    assert info.crs == crs
    assert same_crs(rasterio, info.crs, gdal_crs)
    np.testing.assert_allclose(info.transform, gdal_transform, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(cube, make_cube())


def test_a_user_defined_crs_is_read_as_gdal_reads_it(rasterio, tmp_path):
    crs = "+proj=utm +zone=33 +ellps=intl +units=m +no_defs"
    path = gdal_write(rasterio, tmp_path / "scene.tif", make_cube(), crs, NORTH_UP)
    _, info = read_cube(path)
    assert same_crs(rasterio, info.crs, gdal_georeference(rasterio, path)[0])


def test_a_tiff_without_georeferencing_has_none(tmp_path):
    path = tmp_path / "plain.tif"
    write_cube(path, make_cube())
    _, info = read_cube(path)
    assert info.georeference is None and info.crs is None and info.transform is None


# --------------------------------------------------------------------------- GeoTIFF out


def writers(folder, georeference, source=None):
    """Every TIFF writer of hsiae on the grid of the (H, W) test cube; yields the paths written."""
    cube = make_cube() if source is None else source
    write_cube(folder / "pages.tif", cube, band_axis=0, georeference=georeference)
    write_cube(folder / "interleaved.tif", cube, band_axis=2, georeference=georeference)
    write_labels(folder / "labels.tif", np.zeros((H, W), int), georeference=georeference)
    paths = ["pages.tif", "interleaved.tif", "labels.tif"]
    if pytest.importorskip("dask") is not None:
        from hsiae.io import store_cube, store_labels

        store_cube(folder / "stored.tif", cube, georeference=georeference)
        store_labels(folder / "stored_labels.tif", np.zeros((H, W), int), georeference=georeference)
        paths += ["stored.tif", "stored_labels.tif"]
    return [folder / p for p in paths]


@pytest.mark.parametrize(
    "crs",
    [UTM, "EPSG:4326", "+proj=utm +zone=33 +ellps=intl +units=m +no_defs"],
    ids=["utm", "geographic", "user-defined"],
)
@pytest.mark.parametrize("tags", [{}, {"AREA_OR_POINT": "Point"}], ids=["area", "point"])
def test_every_tiff_output_carries_the_inputs_georeferencing(rasterio, tmp_path, crs, tags):
    transform = NORTH_UP if crs != "EPSG:4326" else (0.001, 0.0, 10.0, 0.0, -0.001, 50.0)
    source = gdal_write(rasterio, tmp_path / "scene.tif", make_cube(), crs, transform, **tags)
    expected_crs, expected_transform = gdal_georeference(rasterio, source)
    _, info = read_cube(source)
    out = tmp_path / "out"
    out.mkdir()
    for path in writers(out, info.georeference):
        got_crs, got_transform = gdal_georeference(rasterio, path)
        assert got_crs == expected_crs, path.name
        np.testing.assert_allclose(got_transform, expected_transform, rtol=0, atol=1e-9, err_msg=path.name)


@pytest.mark.parametrize(
    "crs",
    [UTM, "EPSG:32733", "EPSG:4326", "EPSG:3035", "EPSG:2056"],
    ids=["utm-north", "utm-south", "geographic", "laea-by-hand", "swiss-through-gdal"],
)
@pytest.mark.parametrize(
    "transform", [NORTH_UP, (25.98, 15.0, 500000.0, 15.0, -25.98, 4200000.0)], ids=["north-up", "rotated"]
)
def test_a_georeference_given_by_code_is_written_as_gdal_reads_it(rasterio, tmp_path, crs, transform):
    for path in writers(tmp_path, Georeference(crs, transform)):
        got_crs, got_transform = gdal_georeference(rasterio, path)
        assert got_crs.to_epsg() == int(crs[5:]), path.name
        np.testing.assert_allclose(got_transform, transform, rtol=0, atol=1e-9, err_msg=path.name)
        _, info = read_cube(path) if "labels" not in path.name else (None, None)
        if info is not None:
            assert info.crs == crs and info.transform == pytest.approx(transform)


def test_a_wkt_crs_is_written_through_gdal(rasterio, tmp_path):
    from rasterio.crs import CRS

    wkt = CRS.from_epsg(32633).to_wkt()
    write_cube(tmp_path / "cube.tif", make_cube(), georeference=Georeference(wkt, NORTH_UP))
    crs, transform = gdal_georeference(rasterio, tmp_path / "cube.tif")
    assert crs.to_epsg() == 32633 and transform == NORTH_UP


def test_a_changed_transform_is_written_in_place_of_the_inputs_tags(rasterio, tmp_path):
    source = gdal_write(rasterio, tmp_path / "scene.tif", make_cube(), UTM, NORTH_UP, AREA_OR_POINT="Point")
    _, info = read_cube(source)
    shifted = (30.0, 0.0, 600000.0, 0.0, -30.0, 4100000.0)
    write_cube(
        tmp_path / "moved.tif", make_cube(), georeference=dataclasses.replace(info.georeference, transform=shifted)
    )
    crs, transform = gdal_georeference(rasterio, tmp_path / "moved.tif")
    assert crs.to_epsg() == 32633 and transform == shifted


def test_without_rasterio_a_user_defined_crs_still_reaches_tiff_outputs(rasterio, tmp_path, monkeypatch):
    crs = "+proj=utm +zone=33 +ellps=intl +units=m +no_defs"
    source = gdal_write(rasterio, tmp_path / "scene.tif", make_cube(), crs, NORTH_UP)
    expected = gdal_georeference(rasterio, source)
    with monkeypatch.context() as m:
        for name in [n for n in sys.modules if n == "rasterio" or n.startswith("rasterio.")]:
            m.delitem(sys.modules, name)
        m.setitem(sys.modules, "rasterio", None)
        _, info = read_cube(source)
        assert info.crs is None and info.transform == NORTH_UP  # GDAL alone can name it
        write_labels(tmp_path / "labels.tif", np.zeros((H, W), int), georeference=info.georeference)
    assert gdal_georeference(rasterio, tmp_path / "labels.tif") == expected


def test_without_rasterio_a_crs_that_needs_gdal_is_refused_with_the_extra_to_install(tmp_path, without_rasterio):
    with pytest.raises(ImportError, match=r"EPSG:2056.*needs rasterio.*pip install 'hsiae\[geo\]'"):
        write_cube(tmp_path / "cube.tif", make_cube(), georeference=Georeference("EPSG:2056", NORTH_UP))
    assert list(tmp_path.iterdir()) == []
    # the common codes need no GDAL
    write_cube(tmp_path / "utm.tif", make_cube(), georeference=Georeference(UTM, NORTH_UP))
    assert read_cube(tmp_path / "utm.tif")[1].georeference == Georeference(UTM, NORTH_UP)


def test_a_zarr_array_keeps_its_georeference(tmp_path):
    pytest.importorskip("dask")
    from hsiae.io import open_cube, store_cube

    store_cube(tmp_path / "cube.zarr", make_cube(), georeference=Georeference(UTM, NORTH_UP), fwhm=np.full(B, 10.0))
    _, info = open_cube(tmp_path / "cube.zarr")
    assert info.georeference == Georeference(UTM, NORTH_UP)
    np.testing.assert_array_equal(info.fwhm, np.full(B, 10.0))


def test_georeference_checks_its_transform_and_gives_the_extent():
    g = Georeference(UTM, NORTH_UP)
    assert g.extent((H, W)) == (500000.0, 500000.0 + 30 * W, 4200000.0 - 30 * H, 4200000.0)
    with pytest.raises(ValueError, match=r"6 finite numbers .* nonzero determinant"):
        Georeference(UTM, (30.0, 0.0, 0.0, 0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="aligned with the map axes"):
        Georeference(UTM, (25.98, 15.0, 0.0, 15.0, -25.98, 0.0)).extent((H, W))
    affine = pytest.importorskip("affine")
    assert Georeference(UTM, affine.Affine(*NORTH_UP)).transform == NORTH_UP


# --------------------------------------------------------------------------- ENVI in


def gdal_write_envi(rasterio, path, cube, crs, transform, interleave="bsq"):
    """Write ``cube`` as ENVI with GDAL (its header holds map info and a coordinate system string)."""
    from affine import Affine

    with rasterio.open(
        path, "w", driver="ENVI", width=cube.shape[1], height=cube.shape[0], count=cube.shape[2],
        dtype=cube.dtype, crs=crs, transform=Affine(*transform), interleave=interleave,
    ) as dataset:  # fmt: skip
        dataset.write(np.moveaxis(cube, 2, 0))
    return path


def header_of(path):
    return path.with_suffix(".hdr").read_text()


ROTATED_ENVI = (8.660254037844387, 5.0, 499985.0, 10.0, -17.32050807568877, 4200040.0)


@pytest.mark.parametrize(
    "crs, transform",
    [
        (UTM, NORTH_UP),
        ("EPSG:32733", NORTH_UP),
        ("EPSG:4326", (0.001, 0.0, 10.0, 0.0, -0.001, 50.0)),
        ("EPSG:3035", NORTH_UP),
        (UTM, ROTATED_ENVI),  # GDAL's ENVI form: a rotation with its own sizes along x and y
    ],
    ids=["utm-north", "utm-south", "geographic", "laea", "rotated"],
)
def test_read_cube_records_the_map_info_of_an_envi_header_as_gdal_reads_it(rasterio, tmp_path, crs, transform):
    path = gdal_write_envi(rasterio, tmp_path / "scene.img", make_cube(), crs, transform)
    assert "map info" in header_of(path)
    cube, info = read_cube(path.with_suffix(".hdr"))
    gdal_crs, gdal_transform = gdal_georeference(rasterio, path)
    assert same_crs(rasterio, info.crs, gdal_crs)
    np.testing.assert_allclose(info.transform, gdal_transform, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(cube, make_cube())


def test_a_utm_map_info_alone_is_read_without_gdal(rasterio, tmp_path, monkeypatch):
    path = gdal_write_envi(rasterio, tmp_path / "scene.img", make_cube(), UTM, NORTH_UP)
    header = path.with_suffix(".hdr")
    lines = [line for line in header_of(path).splitlines() if not line.startswith("coordinate system string")]
    header.write_text("\n".join(lines) + "\n")
    expected = gdal_georeference(rasterio, path)
    with monkeypatch.context() as m:
        for name in [n for n in sys.modules if n == "rasterio" or n.startswith("rasterio.")]:
            m.delitem(sys.modules, name)
        m.setitem(sys.modules, "rasterio", None)
        _, info = read_cube(header)
    assert info.crs == UTM and same_crs(rasterio, UTM, expected[0])
    assert info.transform == pytest.approx(expected[1])


def spectral_write(path, cube, **metadata):
    envi = pytest.importorskip("spectral.io.envi")
    envi.save_image(str(path), cube, dtype=cube.dtype, interleave="bsq", metadata=metadata, force=True, ext=".img")
    return path


def test_the_bad_bands_of_bbl_are_left_out_with_a_note(tmp_path, caplog):
    cube = make_cube()
    fwhm = [10.0, 12.0, 14.0, 16.0]
    header = spectral_write(tmp_path / "scene.hdr", cube, wavelength=list(WAVELENGTHS), fwhm=fwhm, bbl=[1, 0, 1, 0])
    with caplog.at_level("INFO", logger="hsiae.io"):
        got, info = read_cube(header)
    np.testing.assert_array_equal(got, cube[:, :, [0, 2]])
    np.testing.assert_array_equal(info.wavelengths, WAVELENGTHS[[0, 2]])
    np.testing.assert_array_equal(info.fwhm, [10.0, 14.0])
    assert info.dropped_bands == (1, 3)
    assert "Leaving out the 2 bands that 'bbl' marks bad" in caplog.text and "(bands 1, 3, from 0)" in caplog.text
    in_memory, _ = read_cube(header, mmap=False)
    np.testing.assert_array_equal(in_memory, cube[:, :, [0, 2]])
    seen = []
    read_cube(header, mmap=False, before_load=lambda shape, dtype: seen.append(shape))
    assert seen == [(H, W, 2)]  # the memory check sees the bands kept


def test_open_cube_leaves_out_the_bad_bands_too(tmp_path):
    pytest.importorskip("dask")
    from hsiae.io import open_cube

    header = spectral_write(tmp_path / "scene.hdr", make_cube(), bbl=[0, 1, 1, 1])
    lazy, info = open_cube(header, chunks=3)
    np.testing.assert_array_equal(lazy.compute(), make_cube()[:, :, 1:])
    assert info.dropped_bands == (0,)


def test_a_bbl_marking_every_band_bad_is_refused(tmp_path):
    header = spectral_write(tmp_path / "scene.hdr", make_cube(), bbl=[0, 0, 0, 0])
    with pytest.raises(CubeFormatError, match=r"marks all 4 bands bad.*remove 'bbl' to read every band"):
        read_cube(header)


def test_a_bbl_of_another_length_is_ignored_with_a_warning(tmp_path, caplog):
    header = spectral_write(tmp_path / "scene.hdr", make_cube())
    header.write_text(header.read_text() + "bbl = {1, 0}\n")
    got, info = read_cube(header)
    assert got.shape == (H, W, B) and info.dropped_bands == ()
    assert "it lists 2 bands and the cube has 4" in caplog.text


def test_envi_fwhm_is_kept(tmp_path):
    header = spectral_write(tmp_path / "scene.hdr", make_cube(), wavelength=list(WAVELENGTHS), fwhm=[5, 6, 7, 8])
    _, info = read_cube(header)
    np.testing.assert_array_equal(info.fwhm, [5.0, 6.0, 7.0, 8.0])
    assert not info.fwhm.flags.writeable


def test_without_rasterio_a_coordinate_system_string_is_kept_as_written(tmp_path, without_rasterio):
    path = tmp_path / "scene.img"
    path.write_bytes(make_cube().astype("<f4").tobytes())
    wkt = 'PROJCS["ETRS_1989_LAEA",GEOGCS["GCS_ETRS_1989"]]'
    path.with_suffix(".hdr").write_text(
        f"ENVI\nsamples = {W}\nlines = {H}\nbands = {B}\ndata type = 4\ninterleave = bip\nbyte order = 0\n"
        f"map info = {{Lambert Azimuthal Equal Area, 1, 1, 500000, 4200000, 30, 30}}\n"
        f"coordinate system string = {{{wkt}}}\n"
    )
    _, info = read_cube(path)
    assert info.crs == wkt and info.transform == NORTH_UP


# --------------------------------------------------------------------------- ENVI out


def spectral_read(header):
    spectral = pytest.importorskip("spectral")
    image = spectral.open_image(str(header))
    return np.array(image.open_memmap(interleave="bip")), image  # (rows, cols, bands) in the file's dtype


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32, np.float64])
def test_an_envi_cube_written_by_hsiae_is_read_by_spectral_python_as_written(tmp_path, interleave, dtype):
    cube = make_cube(dtype) - (3 if np.dtype(dtype).kind != "u" else 0)
    fwhm = [10.0, 12.5, 15.0, 20.0]
    write_cube(
        tmp_path / "scene.hdr", cube, interleave=interleave, wavelengths=WAVELENGTHS, wavelength_units="nm",
        fwhm=fwhm, bbl=[1, 1, 0, 1], nodata=-1,
    )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.hdr", "scene.img"]
    data, image = spectral_read(tmp_path / "scene.hdr")
    np.testing.assert_array_equal(data, cube)
    assert data.dtype == np.dtype(dtype)
    assert image.metadata["interleave"] == interleave
    assert image.bands.centers == list(WAVELENGTHS) and image.bands.bandwidths == fwhm
    assert image.metadata["bbl"] == [1, 1, 0, 1]
    assert image.metadata["data ignore value"] == "-1"
    # and hsiae reads it back, leaving out the bad band
    got, info = read_cube(tmp_path / "scene.img")
    np.testing.assert_array_equal(got, cube[:, :, [0, 1, 3]])
    assert info.wavelength_units == "nm" and list(info.fwhm) == [10.0, 12.5, 20.0] and info.nodata == -1


@pytest.mark.parametrize(
    "crs, transform",
    [
        (UTM, NORTH_UP),
        ("EPSG:32733", NORTH_UP),
        ("EPSG:4326", (0.001, 0.0, 10.0, 0.0, -0.001, 50.0)),
        (UTM, ROTATED_ENVI),
        ("EPSG:3035", NORTH_UP),  # through GDAL
    ],
    ids=["utm-north", "utm-south", "geographic", "rotated", "laea"],
)
def test_an_envi_cube_written_by_hsiae_is_placed_by_gdal_where_asked(rasterio, tmp_path, crs, transform):
    write_cube(tmp_path / "scene.img", make_cube(), georeference=Georeference(crs, transform))
    got_crs, got_transform = gdal_georeference(rasterio, tmp_path / "scene.img")
    assert got_crs.to_epsg() == int(crs[5:])
    np.testing.assert_allclose(got_transform, transform, rtol=0, atol=1e-6)
    _, info = read_cube(tmp_path / "scene.hdr")
    assert same_crs(rasterio, info.crs, got_crs)
    np.testing.assert_allclose(info.transform, transform, rtol=0, atol=1e-6)


def test_the_georeference_of_any_input_reaches_an_envi_output(rasterio, tmp_path):
    # a GeoTIFF with a user-defined CRS, and an ENVI file whose map info only GDAL reads
    crs = "+proj=utm +zone=33 +ellps=intl +units=m +no_defs"
    inputs = [
        gdal_write(rasterio, tmp_path / "custom.tif", make_cube(), crs, NORTH_UP),
        gdal_write_envi(rasterio, tmp_path / "laea.img", make_cube(), "EPSG:3035", NORTH_UP),
    ]
    for source in inputs:
        _, info = read_cube(source)
        target = tmp_path / f"{source.stem}_out.hdr"
        write_cube(target, make_cube(), georeference=info.georeference)
        assert gdal_georeference(rasterio, target.with_suffix(".img")) == gdal_georeference(rasterio, source)
    # an ENVI input's own map info is written as it came
    laea_header = (tmp_path / "laea.hdr").read_text()
    out_header = (tmp_path / "laea_out.hdr").read_text()
    assert [line for line in laea_header.splitlines() if line.startswith("map info")] == [
        line for line in out_header.splitlines() if line.startswith("map info")
    ]


def test_without_rasterio_envi_georeferencing_needs_the_geo_extra_only_beyond_utm(tmp_path, without_rasterio):
    write_cube(tmp_path / "utm.hdr", make_cube(), georeference=Georeference(UTM, NORTH_UP))
    assert read_cube(tmp_path / "utm.hdr")[1].georeference == Georeference(UTM, NORTH_UP)
    with pytest.raises(ImportError, match=r"'EPSG:3035' to ENVI needs rasterio.*hsiae\[geo\]"):
        write_cube(tmp_path / "laea.hdr", make_cube(), georeference=Georeference("EPSG:3035", NORTH_UP))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["utm.hdr", "utm.img"]


def test_store_cube_writes_the_same_envi_files_chunk_by_chunk(tmp_path):
    da = pytest.importorskip("dask.array")
    from hsiae.io import store_cube

    cube = make_cube(np.int16)
    keywords = dict(wavelengths=WAVELENGTHS, bbl=[1, 0, 1, 1], georeference=Georeference(UTM, NORTH_UP))
    for interleave in ("bsq", "bil", "bip"):
        write_cube(tmp_path / f"whole_{interleave}.hdr", cube, interleave=interleave, **keywords)
        store_cube(
            tmp_path / f"lazy_{interleave}.dat",
            da.from_array(cube, chunks=(2, 3, 2)),
            interleave=interleave,
            **keywords,
        )
        whole, lazy = tmp_path / f"whole_{interleave}", tmp_path / f"lazy_{interleave}"
        assert lazy.with_suffix(".dat").read_bytes() == whole.with_suffix(".img").read_bytes()
        assert lazy.with_suffix(".hdr").read_text() == whole.with_suffix(".hdr").read_text()


@pytest.mark.parametrize("fails", ["data", "header"])
def test_an_envi_write_that_fails_leaves_neither_file_and_keeps_the_old_pair(tmp_path, monkeypatch, fails):
    from hsiae.io import _atomic

    write_cube(tmp_path / "scene.hdr", make_cube())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_commit = _atomic.commit

    def commit(tmp, path, **kwargs):
        if str(path).endswith(".hdr" if fails == "header" else ".img"):
            raise OSError("disk full")
        return real_commit(tmp, path, **kwargs)

    monkeypatch.setattr(_atomic, "commit", commit)
    with pytest.raises(OSError, match="disk full"):
        write_cube(tmp_path / "scene.hdr", make_cube() + 1, force=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    monkeypatch.undo()
    with pytest.raises(FileExistsError, match="scene.img' already exists"):
        write_cube(tmp_path / "scene.img", make_cube())  # its header would be replaced too


def test_envi_output_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(ValueError, match=r"ENVI stores .*int16.* not int8; convert the cube"):
        write_cube(tmp_path / "a.hdr", make_cube(np.int8))
    with pytest.raises(ValueError, match=r"bad band list \(bbl\) of one 0 \(bad\) or 1 \(good\) per band"):
        write_cube(tmp_path / "a.hdr", make_cube(), bbl=[1, 0])
    with pytest.raises(ValueError, match="interleave must be 'bsq', 'bil' or 'bip'"):
        write_cube(tmp_path / "a.hdr", make_cube(), interleave="bsx")
    with pytest.raises(ValueError, match="cannot hold the transform"):
        write_cube(tmp_path / "a.hdr", make_cube(), georeference=Georeference(UTM, (30, 0, 0, 0, 30, 0)))
    with pytest.raises(ValueError, match="bbl applies to ENVI output only"):
        write_cube(tmp_path / "a.tif", make_cube(), bbl=[1] * B)
    with pytest.raises(CubeFormatError, match=r"use .tif or .tiff, or .hdr, .img, .dat"):
        write_cube(tmp_path / "a.png", make_cube())
    assert list(tmp_path.iterdir()) == []
    write_cube(tmp_path / "raw", make_cube(), format="envi")  # ENVI data files often have no suffix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw", "raw.hdr"]
    np.testing.assert_array_equal(read_cube(tmp_path / "raw.hdr")[0], make_cube())


def test_a_transform_without_crs_is_written_as_a_grid_without_crs(rasterio, tmp_path):
    write_cube(tmp_path / "grid.tif", make_cube(), georeference=Georeference(None, NORTH_UP))
    write_cube(tmp_path / "grid.hdr", make_cube(), georeference=Georeference(None, NORTH_UP))
    assert gdal_georeference(rasterio, tmp_path / "grid.tif") == (None, NORTH_UP)
    crs, transform = gdal_georeference(rasterio, tmp_path / "grid.img")
    assert crs.to_wkt().startswith('LOCAL_CS["Arbitrary"') and transform == NORTH_UP  # ENVI's "Arbitrary" map
    for path in (tmp_path / "grid.tif", tmp_path / "grid.img"):
        assert read_cube(path)[1].georeference == Georeference(None, NORTH_UP)


# --------------------------------------------------------------------------- xarray


@pytest.fixture
def rioxarray():
    return pytest.importorskip("rioxarray")


def envi_scene(folder):
    """An ENVI cube written by hsiae: wavelengths, fwhm, a no-data value and a UTM georeference."""
    cube = make_cube()
    header = folder / "scene.hdr"
    write_cube(
        header, cube, wavelengths=WAVELENGTHS, wavelength_units="nm", fwhm=[10.0, 11.0, 12.0, 13.0], nodata=-1,
        georeference=Georeference(UTM, NORTH_UP),
    )  # fmt: skip
    return header


def test_to_xarray_and_back_keeps_the_pixels_wavelengths_and_georeference(tmp_path):
    pytest.importorskip("xarray")
    from hsiae.io import from_xarray, to_xarray

    cube, info = read_cube(envi_scene(tmp_path))
    data = to_xarray(cube, info)
    assert data.dims == ("y", "x", "band") and data.shape == (H, W, B)
    np.testing.assert_array_equal(data["wavelength"], WAVELENGTHS)
    assert data["wavelength"].attrs["units"] == "nm"
    np.testing.assert_allclose(data["x"][:2], [500015.0, 500045.0])  # pixel centres, in metres
    np.testing.assert_allclose(data["y"][:2], [4199985.0, 4199955.0])
    back, back_info = from_xarray(data)
    np.testing.assert_array_equal(back, cube)
    np.testing.assert_array_equal(back_info.wavelengths, WAVELENGTHS)
    np.testing.assert_array_equal(back_info.fwhm, info.fwhm)
    assert back_info.wavelength_units == "nm" and back_info.nodata == -1
    assert back_info.georeference == Georeference(UTM, NORTH_UP)
    assert back_info.format == "xarray" and back_info.path is None


def test_to_xarray_writes_the_crs_where_rioxarray_reads_it(tmp_path, rioxarray):
    from hsiae.io import to_xarray

    cube, info = read_cube(envi_scene(tmp_path))
    data = to_xarray(cube, info)
    assert data.rio.crs.to_epsg() == 32633
    assert tuple(data.rio.transform())[:6] == NORTH_UP
    data.transpose("band", "y", "x").rio.to_raster(tmp_path / "from_xarray.tif")  # as a GIS user would save it
    _, written = read_cube(tmp_path / "from_xarray.tif")
    assert written.georeference == Georeference(UTM, NORTH_UP)


def test_from_xarray_reads_what_rioxarray_opens(tmp_path, rioxarray):
    from hsiae.io import from_xarray

    header = envi_scene(tmp_path)
    data = rioxarray.open_rasterio(header.with_suffix(".img"))  # dims (band, y, x), as GDAL gives them
    cube, info = from_xarray(data)
    np.testing.assert_array_equal(np.asarray(cube), make_cube())
    np.testing.assert_array_equal(info.wavelengths, WAVELENGTHS)
    np.testing.assert_array_equal(info.fwhm, [10.0, 11.0, 12.0, 13.0])
    assert info.wavelength_units == "nm" and info.nodata == -1
    assert info.georeference == Georeference(UTM, NORTH_UP)
    lazy, _ = from_xarray(rioxarray.open_rasterio(header.with_suffix(".img"), chunks={"x": 3}))
    assert type(lazy).__module__.startswith("dask") and np.array_equal(lazy.compute(), make_cube())


def test_without_rioxarray_the_georeference_rides_in_attributes(tmp_path, monkeypatch):
    xr = pytest.importorskip("xarray")
    from hsiae.io import from_xarray, to_xarray

    cube, info = read_cube(envi_scene(tmp_path))
    monkeypatch.setitem(sys.modules, "rioxarray", None)
    data = to_xarray(cube, info)
    assert data.attrs["crs"] == UTM and data.attrs["transform"] == list(NORTH_UP)
    assert from_xarray(data)[1].georeference == Georeference(UTM, NORTH_UP)
    # a DataArray with only evenly spaced pixel-centre coordinates gives the grid
    plain = xr.DataArray(
        cube, dims=("y", "x", "wavelength"), coords={**{k: data[k] for k in "xy"}, "wavelength": WAVELENGTHS}
    )
    _, plain_info = from_xarray(plain)
    assert plain_info.georeference == Georeference(None, NORTH_UP)
    np.testing.assert_array_equal(plain_info.wavelengths, WAVELENGTHS)


def test_from_xarray_says_what_dims_it_needs():
    xr = pytest.importorskip("xarray")
    from hsiae.io import from_xarray

    with pytest.raises(ValueError, match=r"dims 'y' and 'x' .* got dims \('row', 'col', 'band'\)"):
        from_xarray(xr.DataArray(np.zeros((2, 3, 4)), dims=("row", "col", "band")))
    with pytest.raises(ValueError, match=r"one band dimension besides 'y' and 'x' but got dims"):
        from_xarray(xr.DataArray(np.zeros((2, 2, 3, 4)), dims=("time", "y", "x", "band")))
    with pytest.raises(TypeError, match="Expected an xarray DataArray, got ndarray"):
        from_xarray(np.zeros((2, 3, 4)))


def test_without_xarray_to_xarray_names_the_extra(monkeypatch):
    from hsiae.io import to_xarray

    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match=r"needs xarray; install it with: pip install 'hsiae\[xarray\]'"):
        to_xarray(make_cube())

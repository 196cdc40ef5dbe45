"""Tests for hsiae.io: reading cubes in every format, writing cubes and labels."""

import importlib.util
import logging
import os

import h5py
import numpy as np
import pytest
import scipy.io
import tifffile

from hsiae.io import CubeFormatError, CubeInfo, read_cube, write_cube, write_labels
from hsiae.io import _write as io_write

# Distinct sizes so that any axis mix-up changes the shape or the values.
H, W, B = 5, 7, 11
WAVELENGTHS = np.linspace(400.0, 1000.0, B)


def make_cube(dtype=np.uint16):
    """A (H, W, B) cube whose every value is distinct."""
    return np.arange(H * W * B).reshape(H, W, B).astype(dtype)


def band_first(cube):
    return np.ascontiguousarray(np.moveaxis(cube, 2, 0))


def is_memmapped(array):
    return isinstance(array, np.memmap) or isinstance(array.base, np.memmap)


# --------------------------------------------------------------------------- TIFF


TIFF_LAYOUTS = {
    # name: (array to write as a function of the (H, W, B) cube, imwrite kwargs, band axis)
    "pages": (band_first, {"photometric": "minisblack", "metadata": None}, 0),
    "pages_shaped": (band_first, {"photometric": "minisblack"}, 0),
    "contig": (lambda c: c, {"photometric": "minisblack", "planarconfig": "contig"}, 2),
    "separate": (band_first, {"photometric": "minisblack", "planarconfig": "separate"}, 0),
    "imagej_zyx": (band_first, {"imagej": True, "metadata": {"axes": "ZYX"}}, 0),
    "imagej_cyx": (band_first, {"imagej": True, "metadata": {"axes": "CYX"}}, 0),
    "imagej_tzcyx": (
        lambda c: band_first(c)[None, None],
        {"imagej": True, "metadata": {"axes": "TZCYX"}},
        0,
    ),
    "ome_cyx": (band_first, {"ome": True, "metadata": {"axes": "CYX"}}, 0),
    "ome_zyx": (band_first, {"ome": True, "metadata": {"axes": "ZYX"}}, 0),
    "big_endian": (band_first, {"photometric": "minisblack", "byteorder": ">"}, 0),
}


@pytest.mark.parametrize("layout", TIFF_LAYOUTS)
def test_read_tiff_layouts(tmp_path, layout):
    to_file, kwargs, band_axis = TIFF_LAYOUTS[layout]
    cube = make_cube()
    path = tmp_path / "cube.tif"
    tifffile.imwrite(path, to_file(cube), **kwargs)

    got, info = read_cube(path)

    assert got.shape == (H, W, B)
    np.testing.assert_array_equal(got, cube)
    assert got.dtype.kind == "u" and got.dtype.itemsize == 2  # no float conversion
    assert info.band_axis == band_axis
    assert info.format == "tiff"
    assert info.path == path
    assert info.wavelengths is None and info.nodata is None
    # all these are uncompressed and contiguous: memory-mapped, read-only, no copy
    assert is_memmapped(got)
    assert not got.flags.writeable


def test_read_tiff_keeps_big_endian_dtype(tmp_path):
    path = tmp_path / "be.tif"
    tifffile.imwrite(path, band_first(make_cube()), byteorder=">", photometric="minisblack")
    got, _ = read_cube(path)
    assert got.dtype == np.dtype(">u2")


def test_read_tiff_mmap_false_reads_into_memory(tmp_path):
    path = tmp_path / "cube.tif"
    tifffile.imwrite(path, band_first(make_cube()), photometric="minisblack")
    got, info = read_cube(path, mmap=False)
    assert not is_memmapped(got)
    np.testing.assert_array_equal(got, make_cube())
    assert info.band_axis == 0


def test_read_compressed_tiff_falls_back_to_reading(tmp_path):
    path = tmp_path / "zlib.tif"
    tifffile.imwrite(path, band_first(make_cube()), photometric="minisblack", compression="zlib")
    got, info = read_cube(path)
    assert not is_memmapped(got)
    np.testing.assert_array_equal(got, make_cube())
    assert info.band_axis == 0


def test_explicit_band_axis_overrides_tiff_layout(tmp_path, caplog):
    path = tmp_path / "pages.tif"
    stored = band_first(make_cube())  # (B, H, W) pages
    tifffile.imwrite(path, stored, photometric="minisblack", metadata=None)
    with caplog.at_level(logging.WARNING, logger="hsiae.io"):
        got, info = read_cube(path, band_axis=2)
    # the stored (B, H, W) array is taken as (rows, cols, bands), as asked
    np.testing.assert_array_equal(got, stored)
    assert info.band_axis == 2
    assert "read from axis 2, as asked, against the layout recorded in" in caplog.text


def test_read_ome_emission_wavelengths(tmp_path):
    path = tmp_path / "cube.ome.tif"
    channel = {"EmissionWavelength": WAVELENGTHS.tolist(), "EmissionWavelengthUnit": ["nm"] * B}
    tifffile.imwrite(path, band_first(make_cube()), ome=True, metadata={"axes": "CYX", "Channel": channel})
    got, info = read_cube(path)
    np.testing.assert_array_equal(got, make_cube())
    np.testing.assert_allclose(info.wavelengths, WAVELENGTHS)
    assert info.wavelength_units == "nm"


def test_read_gdal_wavelengths_and_nodata(tmp_path):
    items = "".join(
        f'<Item name="wavelength" sample="{i}">{w}</Item><Item name="wavelength_units" sample="{i}">Micrometers</Item>'
        for i, w in enumerate(WAVELENGTHS / 1000)
    )
    path = tmp_path / "gdal.tif"
    tifffile.imwrite(
        path, make_cube(np.float32), photometric="minisblack", planarconfig="contig",
        metadata=None,
        extratags=[(42112, "s", 0, f"<GDALMetadata>{items}</GDALMetadata>", True),
                   (42113, "s", 0, "-9999", True)],
    )  # fmt: skip
    got, info = read_cube(path)
    np.testing.assert_array_equal(got, make_cube(np.float32))
    np.testing.assert_allclose(info.wavelengths, WAVELENGTHS / 1000)
    assert info.wavelength_units == "um"
    assert info.nodata == -9999.0
    assert info.band_axis == 2


def test_read_tiff_2d_image_is_not_a_cube(tmp_path):
    path = tmp_path / "gray.tif"
    tifffile.imwrite(path, make_cube()[:, :, 0], photometric="minisblack")
    with pytest.raises(CubeFormatError, match=r"Expected a 3-D cube.*2-D array of shape \(5, 7\)"):
        read_cube(path)


def test_read_tiff_4d_hyperstack_is_not_a_cube(tmp_path):
    path = tmp_path / "tcyx.tif"
    data = np.zeros((2, 3, H, W), np.uint8)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TCYX"})
    with pytest.raises(CubeFormatError, match=r"4-D array of shape \(2, 3, 5, 7\) \(axes 'TCYX'\)"):
        read_cube(path)


def test_read_tiff_with_other_content(tmp_path):
    path = tmp_path / "cube.tif"
    np.save(tmp_path / "real.npy", make_cube())
    os.replace(tmp_path / "real.npy", path)
    with pytest.raises(CubeFormatError, match="content looks like a NumPy .npy file") as err:
        read_cube(path)
    assert isinstance(err.value.__cause__, tifffile.TiffFileError)


def test_read_garbage_tiff(tmp_path):
    path = tmp_path / "cube.tif"
    path.write_bytes(b"this is not an image at all")
    with pytest.raises(CubeFormatError, match="Expected a TIFF file .* could not be read"):
        read_cube(path)


def test_read_tiff_with_corrupt_ifd(tmp_path):
    path = tmp_path / "cube.tif"
    tifffile.imwrite(path, band_first(make_cube()), photometric="minisblack")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CubeFormatError, match="truncated or damaged") as err:
        read_cube(path)
    assert err.value.__cause__ is not None


def _patch_pages(path, edit):
    """Rewrite the bytes of ``path`` with ``edit(buffer, page)`` applied to each TIFF page."""
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        for page in tif.pages:
            edit(data, page)
    path.write_bytes(bytes(data))


def test_read_tiff_with_corrupt_compressed_data(tmp_path):
    path = tmp_path / "zlib.tif"
    tifffile.imwrite(path, band_first(make_cube()), photometric="minisblack", compression="zlib")

    def zero_page_3(data, page):
        if page.index == 3:
            start, size = page.dataoffsets[0], page.databytecounts[0]
            data[start : start + size] = bytes(size)

    _patch_pages(path, zero_page_3)
    with pytest.raises(CubeFormatError, match="could not be read .*decompressing") as err:
        read_cube(path)
    assert err.value.__cause__ is not None


def test_read_tiff_needing_imagecodecs(tmp_path):
    if importlib.util.find_spec("imagecodecs") is not None:
        pytest.skip("imagecodecs is installed, so tifffile can decode LZW")
    path = tmp_path / "lzw.tif"
    tifffile.imwrite(path, band_first(make_cube()), photometric="minisblack", metadata=None)

    def claim_lzw(data, page):  # Compression tag 259 := 5 (LZW), a codec tifffile lacks alone
        offset = page.tags[259].valueoffset
        data[offset : offset + 2] = (5).to_bytes(2, "little")

    _patch_pages(path, claim_lzw)
    with pytest.raises(CubeFormatError, match="needs the imagecodecs package"):
        read_cube(path)


@pytest.mark.parametrize("mmap", [True, False])
def test_read_tiff_with_truncated_data(tmp_path, mmap):
    path = tmp_path / "cube.tif"
    # one interleaved page: tags first, pixel data at the end of the file
    tifffile.imwrite(path, make_cube(), photometric="minisblack", planarconfig="contig")
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(CubeFormatError, match="truncated"):
        read_cube(path, mmap=mmap)


# --------------------------------------------------------------------------- write_cube


@pytest.mark.parametrize("band_axis", [0, 2])
@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32, np.float64])
def test_write_cube_round_trip(tmp_path, band_axis, dtype):
    cube = make_cube(dtype)
    path = tmp_path / "out.tif"
    write_cube(path, cube, band_axis=band_axis, wavelengths=WAVELENGTHS,
               wavelength_units="nm", nodata=-1)  # fmt: skip

    got, info = read_cube(path)

    np.testing.assert_array_equal(got, cube)
    assert got.dtype == cube.dtype
    assert is_memmapped(got)
    assert info.band_axis == band_axis
    np.testing.assert_array_equal(info.wavelengths, WAVELENGTHS)
    assert info.wavelength_units == "nm"
    assert info.nodata == -1.0
    with tifffile.TiffFile(path) as tif:
        if band_axis == 0:
            assert len(tif.pages) == B and tif.pages[0].shape == (H, W)
        else:
            assert len(tif.pages) == 1 and tif.pages[0].samplesperpixel == B
        assert tif.pages[0].tags.valueof(42113) == "-1"  # GDAL_NODATA for GIS tools
        assert not tif.is_bigtiff


def test_write_cube_reproduces_layout_read(tmp_path):
    src = tmp_path / "src.tif"
    tifffile.imwrite(src, make_cube(), photometric="minisblack", planarconfig="contig")
    cube, info = read_cube(src)
    out = tmp_path / "copy.tif"
    write_cube(out, cube, band_axis=info.band_axis)
    again, info2 = read_cube(out)
    assert info2.band_axis == 2
    np.testing.assert_array_equal(again, make_cube())
    assert info2.wavelengths is None and info2.nodata is None


@pytest.mark.parametrize("band_axis", [0, 2])
def test_write_cube_from_view_of_other_byte_order(tmp_path, monkeypatch, band_axis):
    monkeypatch.setattr(io_write, "_STRIP_BYTES", 400)  # 2 rows of 154 bytes per strip
    src = tmp_path / "be.tif"
    tifffile.imwrite(src, band_first(make_cube()), byteorder=">", photometric="minisblack")
    view, _ = read_cube(src)  # transposed, big-endian memmap
    assert not view.flags.c_contiguous and view.dtype == np.dtype(">u2")
    path = tmp_path / "out.tif"
    write_cube(path, view, band_axis=band_axis)
    got, info = read_cube(path)
    np.testing.assert_array_equal(got, make_cube())
    assert info.band_axis == band_axis and is_memmapped(got)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages[0].dataoffsets) == (1 if band_axis == 0 else 3)


def test_write_cube_nan_nodata(tmp_path):
    path = tmp_path / "out.tiff"
    write_cube(path, make_cube(np.float32), nodata=np.nan)
    _, info = read_cube(path)
    assert np.isnan(info.nodata)


def test_write_cube_single_band(tmp_path):
    cube = make_cube()[:, :, :1]
    for band_axis in (0, 2):
        path = tmp_path / f"one_{band_axis}.tif"
        write_cube(path, cube, band_axis=band_axis)
        got, info = read_cube(path)
        assert got.shape == (H, W, 1) and info.band_axis == band_axis
        np.testing.assert_array_equal(got, cube)


def test_write_cube_uses_bigtiff_above_threshold(tmp_path, monkeypatch):
    monkeypatch.setattr(io_write, "_BIGTIFF_BYTES", 100)
    path = tmp_path / "big.tif"
    write_cube(path, make_cube())
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff
    got, _ = read_cube(path)
    np.testing.assert_array_equal(got, make_cube())


def test_write_cube_refuses_to_overwrite(tmp_path):
    path = tmp_path / "out.tif"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="already exists; pass force=True"):
        write_cube(path, make_cube())
    assert path.read_bytes() == b"keep me"
    write_cube(path, make_cube(), force=True)
    np.testing.assert_array_equal(read_cube(path)[0], make_cube())


def _failing_imwrite(fh, *args, **kwargs):
    fh.write(b"II*\x00 half a file")
    raise OSError("No space left on device")


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("writer", ["cube", "labels"])
def test_failed_write_leaves_no_file(tmp_path, monkeypatch, existing, writer):
    path = tmp_path / "out.tif"
    if existing:
        path.write_bytes(b"old content")
    monkeypatch.setattr(tifffile, "imwrite", _failing_imwrite)
    with pytest.raises(OSError, match="No space left"):
        if writer == "cube":
            write_cube(path, make_cube(), force=True)
        else:
            write_labels(path, np.zeros((H, W), int), force=True)
    expected = [path.name] if existing else []
    assert sorted(os.listdir(tmp_path)) == expected  # no temporary file left
    if existing:
        assert path.read_bytes() == b"old content"


@pytest.mark.parametrize("suffix", [".png", ".npy", ""])
def test_write_cube_unsupported_suffix(tmp_path, suffix):
    with pytest.raises(CubeFormatError, match="is not supported; use .tif or .tiff"):
        write_cube(tmp_path / f"out{suffix}", make_cube())


def test_write_cube_bad_arguments(tmp_path):
    path = tmp_path / "out.tif"
    with pytest.raises(ValueError, match=r"2-D array of shape \(5, 7\)"):
        write_cube(path, make_cube()[:, :, 0])
    with pytest.raises(ValueError, match=r"one wavelength per band, shape \(11,\).*\(3,\)"):
        write_cube(path, make_cube(), wavelengths=[1, 2, 3])
    with pytest.raises(ValueError, match="band_axis must be 0"):
        write_cube(path, make_cube(), band_axis=1)
    with pytest.raises(ValueError, match="integer or float cube but got complex128"):
        write_cube(path, make_cube().astype(complex))
    with pytest.raises(ValueError, match="number for nodata but got 'none'"):
        write_cube(path, make_cube(), nodata="none")
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        write_cube(tmp_path / "missing" / "out.tif", make_cube())
    (tmp_path / "folder.tif").mkdir()
    with pytest.raises(IsADirectoryError, match="it is a folder; pass a file name"):
        write_cube(tmp_path / "folder.tif", make_cube(), force=True)
    assert not path.exists()


# --------------------------------------------------------------------------- write_labels


def test_write_labels_shifts_clusters_and_marks_nodata(tmp_path):
    labels = np.arange(H * W).reshape(H, W) % 4  # clusters 0..3
    labels[0, 0] = -1
    mask = np.zeros((H, W), bool)
    mask[4, 6] = True
    path = tmp_path / "labels.tif"

    write_labels(path, labels, nodata_mask=mask)

    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1
        written = tif.asarray()
    assert written.dtype == np.uint8 and written.shape == (H, W)
    expected = labels + 1
    expected[0, 0] = 0
    expected[4, 6] = 0
    np.testing.assert_array_equal(written, expected)
    assert set(np.unique(written)) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize(("top", "dtype"), [(254, np.uint8), (255, np.uint16), (65535, np.uint32)])
def test_write_labels_smallest_dtype(tmp_path, top, dtype):
    labels = np.zeros((H, W), np.int64)
    labels[2, 3] = top
    path = tmp_path / "labels.tif"
    write_labels(path, labels)
    written = tifffile.imread(path)
    assert written.dtype == dtype
    assert written[2, 3] == top + 1 and written[0, 0] == 1


def test_write_labels_errors(tmp_path):
    path = tmp_path / "labels.tif"
    with pytest.raises(ValueError, match=r"2-D integer label image .* float64"):
        write_labels(path, np.zeros((H, W)))
    with pytest.raises(ValueError, match=r"shape \(5, 7, 11\)"):
        write_labels(path, np.zeros((H, W, B), int))
    with pytest.raises(ValueError, match=r"boolean nodata_mask of shape \(5, 7\)"):
        write_labels(path, np.zeros((H, W), int), nodata_mask=np.zeros((W, H), bool))
    with pytest.raises(CubeFormatError, match="use .tif or .tiff"):
        write_labels(tmp_path / "labels.png", np.zeros((H, W), int))
    with pytest.raises(ValueError, match="labels below 4294967295 but the largest is 4294967295"):
        write_labels(path, np.full((H, W), 2**32 - 1, np.uint64))
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="pass force=True"):
        write_labels(path, np.zeros((H, W), int))
    assert path.read_bytes() == b"keep me"


# --------------------------------------------------------------------------- .npy


@pytest.mark.parametrize("band_axis", [0, 2])
def test_read_npy_with_band_axis(tmp_path, band_axis):
    cube = make_cube(np.float32)
    path = tmp_path / "cube.npy"
    np.save(path, band_first(cube) if band_axis == 0 else cube)
    got, info = read_cube(path, band_axis=band_axis)
    np.testing.assert_array_equal(got, cube)
    assert got.dtype == np.float32
    assert is_memmapped(got)
    assert info.band_axis == band_axis and info.format == "npy"
    in_memory, _ = read_cube(path, band_axis=band_axis, mmap=False)
    assert not is_memmapped(in_memory)
    np.testing.assert_array_equal(in_memory, cube)


@pytest.mark.parametrize(("shape", "band_axis"), [((6, 6, 11), 2), ((11, 6, 6), 0)])
def test_band_axis_inferred_for_square_images(tmp_path, shape, band_axis):
    path = tmp_path / "cube.npy"
    stored = np.arange(np.prod(shape)).reshape(shape)
    np.save(path, stored)
    got, info = read_cube(path)
    assert info.band_axis == band_axis
    assert got.shape == (6, 6, 11)
    np.testing.assert_array_equal(got, np.moveaxis(stored, 0, -1) if band_axis == 0 else stored)


@pytest.mark.parametrize("shape", [(H, W, B), (B, H, W), (5, 7, 5), (4, 4, 4)])
def test_ambiguous_band_axis(tmp_path, shape):
    path = tmp_path / "cube.npy"
    np.save(path, np.zeros(shape, np.uint8))
    with pytest.raises(CubeFormatError, match="pass band_axis=0 .* or band_axis=2"):
        read_cube(path)


@pytest.mark.parametrize("shape", [(H, W), (2, H, W, B)])
def test_read_npy_not_3d(tmp_path, shape):
    path = tmp_path / "cube.npy"
    np.save(path, np.zeros(shape, np.uint8))
    with pytest.raises(CubeFormatError, match=rf"Expected a 3-D cube .* {len(shape)}-D array"):
        read_cube(path, band_axis=2)


def test_read_npy_with_other_content(tmp_path):
    path = tmp_path / "cube.npy"
    tifffile.imwrite(path.with_suffix(".tif"), make_cube())
    os.replace(path.with_suffix(".tif"), path)
    with pytest.raises(CubeFormatError, match="content looks like TIFF"):
        read_cube(path)


@pytest.mark.parametrize("mmap", [True, False])
def test_read_truncated_npy(tmp_path, mmap):
    path = tmp_path / "cube.npy"
    np.save(path, make_cube())
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CubeFormatError, match="could not be read") as err:
        read_cube(path, band_axis=2, mmap=mmap)
    assert err.value.__cause__ is not None


def test_read_empty_npy(tmp_path):
    path = tmp_path / "cube.npy"
    np.save(path, np.zeros((H, W, 0), np.uint8))
    with pytest.raises(CubeFormatError, match=r"non-empty cube .* shape \(5, 7, 0\)"):
        read_cube(path, band_axis=2, mmap=False)


def test_read_non_numeric_npy(tmp_path):
    path = tmp_path / "cube.npy"
    np.save(path, make_cube().astype(complex))
    with pytest.raises(CubeFormatError, match="numeric .* complex128"):
        read_cube(path, band_axis=2)


# --------------------------------------------------------------------------- .mat


def test_read_mat_v5(tmp_path):
    path = tmp_path / "scene.mat"
    scipy.io.savemat(path, {"cube": make_cube(np.int16), "gt": np.ones((H, W), np.uint8)})
    got, info = read_cube(path, band_axis=2)
    np.testing.assert_array_equal(got, make_cube())
    assert got.dtype == np.int16
    assert info.variable == "cube" and info.format == "mat" and info.band_axis == 2


def test_read_mat_v5_band_first_and_variable(tmp_path):
    path = tmp_path / "scene.mat"
    cube = make_cube(np.float64)
    scipy.io.savemat(path, {"a": band_first(cube), "b": np.zeros((3, 4, 5))})
    got, info = read_cube(path, band_axis=0, variable="a")
    np.testing.assert_array_equal(got, cube)
    assert got.dtype == np.float64 and info.variable == "a"


def test_read_mat_v5_several_cubes(tmp_path):
    path = tmp_path / "scene.mat"
    scipy.io.savemat(path, {"cube": make_cube(), "other": np.zeros((3, 4, 5))})
    with pytest.raises(
        CubeFormatError,
        match=r"found 2 3-D numeric variables .*cube \(5, 7, 11\) uint16; other \(3, 4, 5\) "
        r"double.*pass variable=",
    ):
        read_cube(path, band_axis=2)


def test_read_mat_v5_errors(tmp_path):
    path = tmp_path / "scene.mat"
    scipy.io.savemat(path, {"Y": np.zeros((B, H * W)), "names": "rock"})
    with pytest.raises(CubeFormatError, match=r"found none \(variables: Y \(11, 35\) double"):
        read_cube(path)
    with pytest.raises(CubeFormatError, match=r"variable 'cube' in .* it has: Y \(11, 35\)"):
        read_cube(path, variable="cube")
    with pytest.raises(CubeFormatError, match=r"2-D array of shape \(11, 35\)"):
        read_cube(path, variable="Y", band_axis=2)
    with pytest.raises(CubeFormatError, match="numeric array in variable 'names'"):
        read_cube(path, variable="names", band_axis=2)


def write_mat73(path, variables, compression=None):
    """Write an HDF5 file laid out like MATLAB -v7.3: 512-byte header, arrays transposed."""
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_group("#refs#")
        for name, (array, cls) in variables.items():
            dataset = f.create_dataset(name, data=np.asarray(array).T, compression=compression)
            dataset.attrs["MATLAB_class"] = np.bytes_(cls)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: hsiae tests HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_read_mat_v73(tmp_path, compression):
    path = tmp_path / "scene.mat"
    cube = make_cube()
    write_mat73(path, {"cube": (cube, "uint16"), "gt": (np.ones((H, W)), "double")}, compression)
    got, info = read_cube(path, band_axis=2)
    np.testing.assert_array_equal(got, cube)
    assert got.dtype == np.uint16
    assert info.variable == "cube" and info.band_axis == 2
    # contiguous, uncompressed datasets are memory-mapped straight from the file
    assert is_memmapped(got) == (compression is None)


def test_read_plain_hdf5_mat(tmp_path):
    # some Python tools write .mat files as plain HDF5, without MATLAB_class attributes
    path = tmp_path / "scene.mat"
    with h5py.File(path, "w") as f:
        f["cube"] = band_first(make_cube(np.float32))  # h5py (B, H, W) = MATLAB (W, H, B)
        f["labels"] = np.zeros((H, W), np.int32)
    got, info = read_cube(path, band_axis=2)
    np.testing.assert_array_equal(got, make_cube(np.float32).transpose(1, 0, 2))
    assert info.variable == "cube"


def test_read_mat_v73_errors(tmp_path):
    path = tmp_path / "scene.mat"
    write_mat73(path, {"a": (make_cube(), "uint16"), "b": (np.zeros((2, 3, 4)), "double"),
                       "s": (np.zeros((H, W, B), np.uint16), "char")})  # fmt: skip
    with h5py.File(path, "r+") as f:
        f.create_group("meta")  # a MATLAB struct
    with pytest.raises(
        CubeFormatError,
        match=r"a \(5, 7, 11\) uint16; b \(2, 3, 4\) double; meta \(\) struct; s .* char",
    ):
        read_cube(path, band_axis=2)
    with pytest.raises(CubeFormatError, match="variable 'c' in .* it has: a "):
        read_cube(path, variable="c")
    with pytest.raises(CubeFormatError, match="numeric array in variable 's'.*'char'"):
        read_cube(path, variable="s", band_axis=2)
    got, _ = read_cube(path, variable="b", band_axis=0)
    assert got.shape == (3, 4, 2)


def test_read_mat_with_other_content(tmp_path):
    path = tmp_path / "scene.mat"
    tifffile.imwrite(path.with_suffix(".tif"), make_cube())
    os.replace(path.with_suffix(".tif"), path)
    with pytest.raises(CubeFormatError, match="MATLAB .mat file .* content looks like TIFF"):
        read_cube(path)
    path.write_bytes(b"")
    with pytest.raises(CubeFormatError, match="could not be read"):
        read_cube(path)


def test_variable_only_for_mat(tmp_path):
    path = tmp_path / "cube.npy"
    np.save(path, make_cube())
    with pytest.raises(ValueError, match="only applies to .mat files"):
        read_cube(path, variable="cube")


# --------------------------------------------------------------------------- ENVI

ENVI_CODES = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8", 15: "u8"}
ENVI_STORED = {  # interleave: (stored array from the (H, W, B) cube, band axis in the file)
    "bsq": (lambda c: np.moveaxis(c, 2, 0), 0),
    "bil": (lambda c: np.moveaxis(c, 2, 1), 1),
    "bip": (lambda c: c, 2),
}


def write_envi(data_path, cube, *, interleave="bsq", code=12, byte_order=0, offset=0,
               header_path=None, extra=""):  # fmt: skip
    """Write an ENVI header and raw data file the way ENVI does."""
    dtype = np.dtype(("<", ">")[byte_order] + ENVI_CODES[code])
    stored = ENVI_STORED[interleave][0](cube).astype(dtype)
    data_path.write_bytes(b"\xab" * offset + stored.tobytes())
    header_path = header_path or data_path.with_suffix(".hdr")
    header_path.write_text(
        "ENVI\ndescription = {\n  test cube,\n  written by hand}\n"
        f"samples = {cube.shape[1]}\nlines   = {cube.shape[0]}\nbands   = {cube.shape[2]}\n"
        f"header offset = {offset}\nfile type = ENVI Standard\ndata type = {code}\n"
        f"interleave = {interleave}\nbyte order = {byte_order}\n" + extra
    )
    return header_path


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("byte_order", [0, 1])
def test_read_envi(tmp_path, interleave, byte_order):
    cube = make_cube(np.int16) - 200  # negative values too
    values = [f"{w:.3f}" for w in WAVELENGTHS]
    wl = ", ".join(values[:5]) + ",\n  " + ", ".join(values[5:])  # wrapped like ENVI does
    extra = (f"wavelength units = Nanometers\nwavelength = {{\n  {wl}}}\n"
             "data ignore value = -9999\n; a comment line\n")  # fmt: skip
    header = write_envi(tmp_path / "scene.img", cube, interleave=interleave, code=2,
                        byte_order=byte_order, offset=64, extra=extra)  # fmt: skip

    for path in (header, tmp_path / "scene.img"):
        got, info = read_cube(path)
        np.testing.assert_array_equal(got, cube)
        assert got.dtype == np.dtype(("<", ">")[byte_order] + "i2")
        assert is_memmapped(got)
        assert info.format == "envi" and info.path == tmp_path / "scene.img"
        assert info.band_axis == ENVI_STORED[interleave][1]
        np.testing.assert_allclose(info.wavelengths, WAVELENGTHS, atol=1e-3)
        assert info.wavelength_units == "nm"
        assert info.nodata == -9999.0

    in_memory, _ = read_cube(header, mmap=False)
    assert not is_memmapped(in_memory)
    np.testing.assert_array_equal(in_memory, cube)


@pytest.mark.parametrize("code", ENVI_CODES)
def test_read_envi_data_types(tmp_path, code):
    header = write_envi(tmp_path / "scene.dat", make_cube(np.uint8), code=code)
    got, info = read_cube(header)
    assert got.dtype == np.dtype(ENVI_CODES[code]).newbyteorder("<")
    np.testing.assert_array_equal(got, make_cube(np.uint8))
    assert info.wavelengths is None and info.nodata is None


@pytest.mark.parametrize("data_name", ["scene", "scene.img", "scene.dat", "scene.raw",
                                       "scene.bsq", "scene.bil", "scene.bip"])  # fmt: skip
def test_envi_data_file_names(tmp_path, data_name):
    header = write_envi(tmp_path / data_name, make_cube(), header_path=tmp_path / "scene.hdr")
    got, info = read_cube(header)
    np.testing.assert_array_equal(got, make_cube())
    assert info.path.name == data_name
    got, _ = read_cube(tmp_path / data_name)
    np.testing.assert_array_equal(got, make_cube())


def test_envi_header_named_after_data_file(tmp_path):
    data = tmp_path / "scene.img"
    write_envi(data, make_cube(), header_path=tmp_path / "scene.img.hdr")
    for path in (data, tmp_path / "scene.img.hdr"):
        got, info = read_cube(path)
        np.testing.assert_array_equal(got, make_cube())
        assert info.path == data


def test_envi_band_axis_overrides_interleave(tmp_path):
    cube = make_cube()
    header = write_envi(tmp_path / "scene.img", cube, interleave="bsq")
    got, info = read_cube(header, band_axis=2)
    # the same bytes taken as BIP: (lines, samples, bands)
    np.testing.assert_array_equal(got.ravel(), band_first(cube).ravel())
    assert info.band_axis == 2


def test_envi_errors(tmp_path):
    data = tmp_path / "scene.img"
    header = write_envi(data, make_cube(), offset=8)

    data.write_bytes(data.read_bytes()[:-2])
    with pytest.raises(CubeFormatError, match=r"Expected 778 bytes .* but it has 776; check"):
        read_cube(header)
    data.unlink()
    with pytest.raises(CubeFormatError, match=r"ENVI data file of header .* found none \(tried"):
        read_cube(header)

    header.unlink()
    data.write_bytes(b"\x00" * 10)
    with pytest.raises(CubeFormatError, match="ENVI header beside the data file"):
        read_cube(data)


SIZES = "samples = 7\nlines = 5\nbands = 11\n"


@pytest.mark.parametrize(
    ("header_text", "match"),
    [
        (f"ENVI\n{SIZES}data type = 6\n", r"ENVI data type among \[1, .* found 6"),
        ("ENVI\nlines = 5\nbands = 11\ndata type = 1\n", "integer 'samples' .* found nothing"),
        ("ENVI\nsamples = 7.5\nlines = 5\nbands = 11\ndata type = 1\n", "found '7.5'"),
        ("ENVI\nsamples = 0\nlines = 5\nbands = 11\ndata type = 1\n", "found 0, 5 and 11"),
        (f"ENVI\n{SIZES}data type = 1\nbyte order = 2\n", "'byte order' 0 .* found 2"),
        (f"ENVI\n{SIZES}data type = 1\ninterleave = bsx\n", "bsq, bil or bip .* 'bsx'"),
        (f"ENVI\n{SIZES}data type = 1\nwavelength = {{1, 2,\n", "closing '}' for .*'wavelength'"),
        (SIZES, "starting with the line 'ENVI'"),
    ],
)
def test_envi_bad_headers(tmp_path, header_text, match):
    (tmp_path / "scene.img").write_bytes(bytes(H * W * B))
    (tmp_path / "scene.hdr").write_text(header_text)
    with pytest.raises(CubeFormatError, match=match):
        read_cube(tmp_path / "scene.hdr")


def test_envi_minimal_header_defaults(tmp_path):
    # no byte order, header offset or interleave: little-endian BSQ from byte 0
    (tmp_path / "scene").write_bytes(band_first(make_cube(np.uint8)).tobytes())
    (tmp_path / "scene.hdr").write_text(f"ENVI\n{SIZES}data type = 1\n")
    got, info = read_cube(tmp_path / "scene")
    np.testing.assert_array_equal(got, make_cube(np.uint8))
    assert info.band_axis == 0 and info.wavelengths is None


def test_envi_wrong_wavelength_count_is_dropped(tmp_path, caplog):
    header = write_envi(tmp_path / "scene.img", make_cube(), extra="wavelength = {1, 2, 3}\n")
    with caplog.at_level(logging.WARNING, logger="hsiae.io"):
        _, info = read_cube(header)
    assert info.wavelengths is None
    assert "Ignoring the 3 wavelengths" in caplog.text


# --------------------------------------------------------------------------- common errors


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such.tif"):
        read_cube(tmp_path / "no_such.tif")


def test_directory(tmp_path):
    with pytest.raises(CubeFormatError, match="is a directory"):
        read_cube(tmp_path)


@pytest.mark.parametrize("name", ["cube.png", "cube.npz", "cube.h5"])
def test_unknown_suffix(tmp_path, name):
    (tmp_path / name).write_bytes(b"data")
    with pytest.raises(CubeFormatError, match=r"suffix '.*' is not supported; use one of .tif"):
        read_cube(tmp_path / name)


def test_bad_band_axis(tmp_path):
    with pytest.raises(ValueError, match="band_axis must be None, 0 .* or 2 .* got 1"):
        read_cube(tmp_path / "x.tif", band_axis=1)


def test_cube_format_error_is_value_error():
    assert issubclass(CubeFormatError, ValueError)


def test_cube_info_wavelengths_read_only(tmp_path):
    path = tmp_path / "out.tif"
    write_cube(path, make_cube(), wavelengths=WAVELENGTHS)
    _, info = read_cube(path)
    assert isinstance(info, CubeInfo)
    with pytest.raises(ValueError):
        info.wavelengths[0] = 0.0


# --------------------------------------------------------------------------- real data


def test_read_salinas_a(data_home):
    path = data_home / "salinas_a" / "SalinasA_corrected.mat"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with pytest.raises(CubeFormatError, match=r"\(83, 86, 204\).*pass band_axis=0"):
        read_cube(path)
    cube, info = read_cube(path, band_axis=2)
    assert cube.shape == (83, 86, 204)
    assert cube.dtype == np.int16  # stored as int16, not widened to MATLAB's double
    assert info.variable == "salinasA_corrected"


# --------------------------------------------------------------------------- before loading


def _write_each_format(folder):
    """name -> (path, mmap-able?) of the same (H, W, B) uint16 cube in every format."""
    cube = make_cube()
    files = {}
    files["tiff"] = folder / "c.tif"
    write_cube(files["tiff"], cube)
    files["tiff_zlib"] = folder / "z.tif"
    tifffile.imwrite(files["tiff_zlib"], band_first(cube), compression="zlib", photometric="minisblack")
    files["npy"] = folder / "c.npy"
    np.save(files["npy"], band_first(cube))
    files["mat5"] = folder / "c5.mat"
    scipy.io.savemat(files["mat5"], {"cube": cube})
    files["mat73"] = folder / "c73.mat"
    write_mat73(files["mat73"], {"cube": (cube, "uint16")})
    files["mat73_gzip"] = folder / "g73.mat"
    write_mat73(files["mat73_gzip"], {"cube": (cube, "uint16")}, "gzip")
    files["envi"] = write_envi(folder / "c.img", cube, interleave="bil")
    return files


@pytest.mark.parametrize("mmap", [True, False])
def test_before_load_sees_shape_and_dtype_before_pixels_are_read(tmp_path, mmap):
    """What lets the command line refuse a cube that will not fit in memory before reading it."""
    from hsiae.io._read import _read_cube

    read_whole = {"tiff_zlib", "mat5", "mat73_gzip"}  # compressed or MAT v5: never mapped
    for name, path in _write_each_format(tmp_path).items():
        band_axis = {"npy": 0, "mat5": 2, "mat73": 2, "mat73_gzip": 2}.get(name)
        seen = []
        cube, _ = _read_cube(
            path,
            band_axis=band_axis,
            mmap=mmap,
            before_load=lambda shape, dtype: seen.append((shape, dtype)),  # noqa: B023
        )
        np.testing.assert_array_equal(cube, make_cube(), err_msg=name)
        if mmap and name not in read_whole:
            assert seen == [] and is_memmapped(cube), name
        else:
            assert seen == [((H, W, B), np.dtype(np.uint16))], name

        class Refused(Exception):
            pass

        def refuse(shape, dtype):
            raise Refused

        if seen:  # an exception in before_load stops the read and reaches the caller
            with pytest.raises(Refused):
                _read_cube(path, band_axis=band_axis, mmap=mmap, before_load=refuse)


def test_an_output_never_replaces_a_file_that_appears_while_it_is_written(tmp_path):
    # two runs writing one name: the second to finish must not overwrite the first's file
    from hsiae.io import atomic_output, commit, discard, temporary_beside

    target = tmp_path / "labels.tif"
    tmp = temporary_beside(target)
    tmp.write_text("mine")
    target.write_text("theirs")  # created by another process after the checks
    with pytest.raises(FileExistsError, match="already exists"):
        commit(tmp, target)
    assert target.read_text() == "theirs"
    discard(tmp)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.tif"]
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "other.tif") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed midway")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.tif"]  # nothing left behind
    with atomic_output(target, force=True) as tmp:
        tmp.write_text("replaced")
    assert target.read_text() == "replaced" and temporary_beside(target).suffix == ".tif"


def test_a_commit_can_be_taken_back_without_touching_another_process_file(tmp_path):
    from hsiae.io import commit, temporary_beside

    target = tmp_path / "model.hsiae"
    target.write_text("before")

    def staged(text):
        tmp = temporary_beside(target)
        tmp.write_text(text)
        return tmp

    # with force and keep_previous, undo puts back the file the commit replaced
    done = commit(staged("mine"), target, force=True, keep_previous=True)
    assert target.read_text() == "mine"
    assert done.undo() is True
    assert target.read_text() == "before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.hsiae"]

    # finish drops the kept file: the commit stands
    done = commit(staged("mine"), target, force=True, keep_previous=True)
    done.finish()
    assert target.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.hsiae"]

    # a file another process moved in after the commit is not this commit's: undo leaves it
    target.unlink()
    done = commit(staged("mine"), target)
    theirs = tmp_path / "theirs"
    theirs.write_text("theirs")
    os.replace(theirs, target)
    assert done.undo() is False
    assert target.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.hsiae"]


@pytest.mark.parametrize("renameat2", [True, False])
def test_without_hard_links_a_commit_still_never_overwrites(tmp_path, monkeypatch, renameat2):
    # a file system without hard links: an atomic no-replace rename where the system has one
    # (renameat2), else a checked rename
    import errno

    from hsiae.io import _atomic, commit, temporary_beside

    def no_links(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    if not renameat2:
        monkeypatch.setattr(_atomic, "_renameat2", lambda: None)
    elif _atomic._renameat2() is None:
        pytest.skip("this system has no renameat2")
    target = tmp_path / "labels.tif"
    tmp = temporary_beside(target)
    tmp.write_text("mine")
    target.write_text("theirs")
    with pytest.raises(FileExistsError, match="already exists"):
        commit(tmp, target)
    assert target.read_text() == "theirs" and tmp.read_text() == "mine"
    if renameat2:  # atomic: refused even when the file appears after any check could run
        monkeypatch.setattr(os.path, "lexists", lambda path: False)
        with pytest.raises(FileExistsError, match="already exists"):
            commit(tmp, target)
        assert target.read_text() == "theirs" and tmp.read_text() == "mine"
        monkeypatch.undo()
        monkeypatch.setattr(os, "link", no_links)
    target.unlink()
    commit(tmp, target)
    assert target.read_text() == "mine" and not tmp.exists()


def test_a_folder_commit_is_taken_back_too(tmp_path):
    # a Zarr array is a folder: kept and put back like a file, never moved onto another folder
    from hsiae.io import commit, temporary_beside

    target = tmp_path / "cube.zarr"
    (target / "old").mkdir(parents=True)
    tmp = temporary_beside(target)
    (tmp / "new").mkdir(parents=True)
    done = commit(tmp, target, force=True, keep_previous=True)
    assert os.listdir(target) == ["new"]
    assert done.undo() is True
    assert os.listdir(target) == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["cube.zarr"]

    (target / "old").rmdir()  # an empty folder another process made: not replaced either
    (tmp / "new").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="already exists"):
        commit(tmp, target)
    assert os.listdir(target) == [] and os.listdir(tmp) == ["new"]


def _mat5_double_stored_as(path, variables):
    """A MAT v5 file as MATLAB writes integer-valued doubles: class double, stored as integers.

    scipy writes each array with its own class; patching the class byte of the array flags
    to mxDOUBLE_CLASS (6) gives what MATLAB's save writes for ``double(int16(...))``.
    """
    scipy.io.savemat(path, variables)
    data = bytearray(path.read_bytes())
    pos = 128
    while pos < len(data):
        nbytes = int.from_bytes(data[pos + 4 : pos + 8], "little")
        data[pos + 16] = 6  # array flags: tag (8 bytes), then the class in the first byte
        pos += 8 + nbytes
    path.write_bytes(bytes(data))


def test_mat_listings_name_the_type_the_values_are_stored_in(tmp_path):
    path = tmp_path / "two.mat"
    _mat5_double_stored_as(path, {"a": make_cube(np.int16), "b": make_cube(np.uint8)})
    assert read_cube(path, variable="a", band_axis=2)[0].dtype == np.int16  # as hsiae reads it
    with pytest.raises(
        CubeFormatError,
        match=r"a \(5, 7, 11\) double stored as int16; "
        r"b \(5, 7, 11\) double stored as uint8\)",
    ):
        read_cube(path, band_axis=2)
    v4 = tmp_path / "v4.mat"
    scipy.io.savemat(v4, {"Y": np.zeros((B, H * W), np.uint16)}, format="4")
    with pytest.raises(CubeFormatError, match=r"Y \(11, 35\) double stored as uint16\)"):
        read_cube(v4)


def test_a_mat_cube_of_doubles_stored_as_integers_is_found_without_variable(tmp_path):
    path = tmp_path / "one.mat"
    _mat5_double_stored_as(path, {"cube": make_cube(np.int16), "gt": np.zeros((H, W), np.uint8)})
    got, info = read_cube(path, band_axis=2)
    assert info.variable == "cube" and got.dtype == np.int16
    np.testing.assert_array_equal(got, make_cube(np.int16))


# --------------------------------------------------------------------------- TIFF pages of other sizes


def _tiff_with_last_page(path, last, **last_kwargs):
    """``B - 1`` band pages of the cube's (H, W), then one page ``last`` (in one series or two)."""
    bands = band_first(make_cube())
    with tifffile.TiffWriter(path) as tw:
        tw.write(bands[:-1], photometric="minisblack", contiguous=True, metadata=None)
        tw.write(last, photometric="minisblack", contiguous=False, metadata=None, **last_kwargs)


def test_read_tiff_refuses_a_last_band_page_of_another_size(tmp_path):
    # before, the smaller page was taken for a thumbnail and the cube read with one band fewer
    path = tmp_path / "short.tif"
    _tiff_with_last_page(path, make_cube()[:-1, :, -1])
    with pytest.raises(
        CubeFormatError,
        match=r"page 10 is 4 x 7 pixels where the pages before it are 5 x 7.*"
        r"not tagged as a reduced-resolution",
    ):
        read_cube(path)


def test_read_tiff_skips_a_page_tagged_as_reduced_resolution(tmp_path):
    path = tmp_path / "with_preview.tif"
    bands = band_first(make_cube())
    with tifffile.TiffWriter(path) as tw:
        tw.write(bands, photometric="minisblack", metadata=None)
        tw.write(bands[0, ::2, ::2], photometric="minisblack", subfiletype=1, metadata=None)
    got, _ = read_cube(path)
    np.testing.assert_array_equal(got, make_cube())


def test_read_tiff_refuses_a_larger_page_that_is_not_a_preview(tmp_path):
    path = tmp_path / "long.tif"
    _tiff_with_last_page(path, np.zeros((H + 2, W), np.uint16))
    with pytest.raises(
        CubeFormatError,
        match=r"page 10 is 7 x 7 pixels where the pages before it "
        r"are 5 x 7",
    ):
        read_cube(path)


# --------------------------------------------------------------------------- tifffile's log


def _tifffile_records(caplog):
    return [r for r in caplog.records if r.name.startswith("tifffile")]


def test_reading_a_float_nodata_tag_of_an_integer_cube_logs_nothing_from_tifffile(tmp_path, caplog):
    # tifffile parses GDAL_NODATA of an integer cube with int() and logs a ValueError for
    # "16777217.0" (what write_cube wrote before); hsiae reads the tag itself
    path = tmp_path / "int32.tif"
    tifffile.imwrite(
        path,
        make_cube(np.int32),
        photometric="minisblack",
        metadata=None,
        extratags=[(42113, "s", 0, "16777217.0", True)],
    )
    with caplog.at_level(logging.DEBUG):
        _, info = read_cube(path)
        read_cube(path, mmap=False)  # read whole: the tag is parsed again
    assert info.nodata == 16777217
    assert _tifffile_records(caplog) == []


def test_an_unreadable_nodata_tag_is_reported_in_hsiaes_words(tmp_path, caplog):
    path = tmp_path / "bad_nodata.tif"
    tifffile.imwrite(
        path,
        make_cube(np.int16),
        photometric="minisblack",
        metadata=None,
        extratags=[(42113, "s", 0, "none at all", True)],
    )
    with caplog.at_level(logging.DEBUG):
        _, info = read_cube(path)
    assert info.nodata is None
    assert _tifffile_records(caplog) == []
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.name == "hsiae.io"
    assert "unreadable no-data value 'none at all'" in warning.getMessage()
    assert str(path) in warning.getMessage()


def _ome_with_size_c(path, size_c, **kwargs):
    """An OME-TIFF of the cube whose OME-XML claims ``SizeC`` channels."""
    tifffile.imwrite(path, band_first(make_cube()), ome=True, metadata={"axes": "CYX"})
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata.replace(f'SizeC="{B}"', f'SizeC="{size_c}"')
    tifffile.imwrite(path, band_first(make_cube()), description=xml, metadata=None, **kwargs)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_a_crafted_ome_shape_is_reported_with_the_file_name(tmp_path, caplog, compression):
    pytest.importorskip("dask")
    from hsiae.io import open_cube

    path = tmp_path / "crafted_ome_file_with_a_long_name.ome.tif"
    _ome_with_size_c(path, 2**64, compression=compression)
    with caplog.at_level(logging.DEBUG):
        got, _ = read_cube(path)
        lazy, _ = open_cube(path, chunks=3)
        np.testing.assert_array_equal(lazy.compute(scheduler="threads"), make_cube())
    np.testing.assert_array_equal(got, make_cube())
    assert _tifffile_records(caplog) == []  # before: "Maximum allowed dimension exceeded", twice
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings  # once for read_cube, once for open_cube
    assert str(path) in warnings[0] and "Maximum allowed dimension exceeded" in warnings[0]
    assert "read from its pages as stored: 5 x 7 pixels, 11 bands" in warnings[0]


# --------------------------------------------------------------------------- GDAL_NODATA as written


@pytest.mark.parametrize(
    "dtype, nodata, text",
    [
        (np.uint16, 0, "0"),
        (np.uint32, 16777217, "16777217"),
        (np.int16, -9999.0, "-9999"),
        (np.float32, -9999, "-9999"),
        (np.float32, -0.5, "-0.5"),
        (np.float64, np.nan, "nan"),
    ],
)
def test_write_cube_stores_nodata_as_gis_tools_read_it(tmp_path, caplog, dtype, nodata, text):
    # (not int32 and 16777217: tifffile refuses positive values above 65535 for int32 cubes,
    # since it checks numpy.can_cast(uint32, int32); that text is checked below)
    path = tmp_path / "out.tif"
    write_cube(path, make_cube(dtype), nodata=nodata)
    with caplog.at_level(logging.DEBUG), tifffile.TiffFile(path) as tif:
        assert tif.pages[0].tags.valueof(42113) == text
        # tifffile (the oracle) parses the tag as GDAL does: int() for integer cubes
        parsed = tif.pages[0].nodata
    assert _tifffile_records(caplog) == []
    if np.isnan(nodata):
        assert np.isnan(parsed)
    else:
        assert parsed == nodata and isinstance(parsed, int) == (np.dtype(dtype).kind in "iu")
    _, info = read_cube(path)
    np.testing.assert_equal(info.nodata, nodata)


def test_write_cube_stores_an_int32_nodata_as_an_integer(tmp_path):
    path = tmp_path / "out.tif"
    write_cube(path, make_cube(np.int32), nodata=2**24 + 1)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].tags.valueof(42113) == "16777217"
    assert read_cube(path)[1].nodata == 2**24 + 1


# --------------------------------------------------------------------------- read_mask


def test_read_mask_is_true_where_nonzero_and_not_nan(tmp_path):
    from hsiae.io import read_mask

    values = np.array([[0.0, 1.0, np.nan], [-2.0, 0.0, 0.5]], np.float32)
    np.save(tmp_path / "m.npy", values)
    tifffile.imwrite(tmp_path / "m.tif", values[None], photometric="minisblack")  # (1, 2, 3)
    expected = [[False, True, False], [True, False, True]]
    assert read_mask(tmp_path / "m.npy").tolist() == expected
    assert read_mask(tmp_path / "m.tif").tolist() == expected
    with pytest.raises(CubeFormatError, match=r"3-D array of shape \(2, 2, 3\)"):
        np.save(tmp_path / "rgb.npy", np.zeros((2, 2, 3)))
        read_mask(tmp_path / "rgb.npy")
    with pytest.raises(FileNotFoundError, match="No such mask file"):
        read_mask(tmp_path / "none.npy")


# --------------------------------------------------------------------------- matrix_to_cube


def test_matrix_to_cube_puts_matlab_columns_back_at_their_pixels(tmp_path):
    from hsiae.io import matrix_to_cube

    cube = make_cube(np.float32)
    # MATLAB: Y = reshape(cube, [], bands)' numbers the pixels down the columns first
    Y = cube.reshape(H * W, B, order="F").T
    np.testing.assert_array_equal(matrix_to_cube(Y, (H, W)), cube)
    # a saved .mat scene with the image size beside it, as the published ones are
    scipy.io.savemat(tmp_path / "scene.mat", {"Y": Y, "nRow": H, "nCol": W})
    mat = scipy.io.loadmat(tmp_path / "scene.mat")
    np.testing.assert_array_equal(matrix_to_cube(mat["Y"], (int(mat["nRow"][0, 0]), int(mat["nCol"][0, 0]))), cube)
    # only some pixels, with their MATLAB linear indices (1-based, column-major, stored as doubles)
    keep = np.array([0, 3, 7, 20, 34])
    part = matrix_to_cube(Y[:, keep], (H, W), pixel_index=(keep + 1).astype(float))
    rows, cols = np.unravel_index(keep, (H, W), order="F")
    np.testing.assert_array_equal(part[rows, cols], cube[rows, cols])
    assert np.isnan(part).all(axis=2).sum() == H * W - keep.size
    # Python's own order and indices
    np.testing.assert_array_equal(matrix_to_cube(cube.reshape(-1, B).T, (H, W), order="C"), cube)


def test_matrix_to_cube_fills_an_integer_matrix_as_asked():
    from hsiae.io import matrix_to_cube

    Y = np.arange(6, dtype=np.int16).reshape(2, 3)
    assert matrix_to_cube(Y, (2, 2), pixel_index=[1, 2, 3]).dtype == np.float32  # NaN needs floats
    filled = matrix_to_cube(Y, (2, 2), pixel_index=[1, 2, 3], fill_value=-9999)
    assert filled.dtype == np.int16 and filled[1, 1].tolist() == [-9999, -9999]
    whole = matrix_to_cube(np.arange(8, dtype=np.int16).reshape(2, 4), (2, 2))
    assert whole.dtype == np.int16  # nothing to fill


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_shape": (4, 4)}, r"one column per pixel of the 4 x 4 image \(16\) but Y has shape \(2, 6\)"),
        ({"image_shape": (2, 3), "pixel_index": [1, 2]}, r"one pixel index per column of Y \(6\) but got 2"),
        ({"image_shape": (2, 3), "pixel_index": [0, 1, 2, 3, 4, 5]}, r"must lie in \[1, 6\].*e\.g\. 0.*index_base"),
        ({"image_shape": (3, 3), "pixel_index": [1, 2, 2, 3, 4, 5]}, r"gives 1 pixels more than once \(e\.g\. 2\)"),
        ({"image_shape": (3, 3), "pixel_index": [1.5, 2, 3, 4, 5, 6]}, "must hold whole numbers"),
        (
            {"image_shape": (3, 3), "pixel_index": [1, 2, 3, 4, 5, 6], "fill_value": 300},
            r"fill_value=300 does not fit the matrix's int8 values",
        ),
        ({"image_shape": (2, 3), "order": "A"}, "order must be 'F'"),
    ],
)
def test_matrix_to_cube_says_what_does_not_fit(kwargs, match):
    from hsiae.io import matrix_to_cube

    with pytest.raises(ValueError, match=match):
        matrix_to_cube(np.zeros((2, 6), dtype=np.int8), **kwargs)


def test_a_matrix_read_as_a_cube_points_to_matrix_to_cube(tmp_path):
    np.save(tmp_path / "matrix.npy", np.zeros((B, H * W), np.float32))
    with pytest.raises(CubeFormatError, match=r"2-D array of shape \(11, 35\).*hsiae.io.matrix_to_cube"):
        read_cube(tmp_path / "matrix.npy")

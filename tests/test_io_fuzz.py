"""Fuzz test of read_cube: damaged TIFF files either read correctly or raise CubeFormatError.

Small valid TIFFs (multi-page and interleaved, raw and compressed, written by
hsiae and by tifffile) get random bytes flipped or are truncated at random
offsets, with a fixed seed. ``read_cube`` must then return the cube with its
original shape and dtype, or raise :class:`hsiae.io.CubeFormatError`; never
another exception, never a cube with bands missing.

TIFF has no checksums, so a flipped pixel byte reads as another value (the
shape is still right); a truncated file must read back identical or fail.
"""

import numpy as np
import pytest
import tifffile

from hsiae.io import CubeFormatError, read_cube, write_cube

H, W, B = 6, 5, 4
N_VARIANTS = 200


def _cube():
    return np.random.default_rng(0).random((H, W, B)).astype(np.float32)


def _write_sources(folder):
    """name -> (path, the cube read_cube must return)."""
    cube = _cube()
    band_first = np.ascontiguousarray(np.moveaxis(cube, 2, 0))
    sources = {}
    sources["hsiae_pages"] = folder / "hsiae_pages.tif"
    write_cube(sources["hsiae_pages"], cube, band_axis=0, wavelengths=np.arange(B) + 400.0)
    sources["hsiae_interleaved"] = folder / "hsiae_interleaved.tif"
    write_cube(sources["hsiae_interleaved"], cube, band_axis=2)
    # one plain page per band, no metadata: what many acquisition programs write
    sources["tifffile_pages"] = folder / "tifffile_pages.tif"
    with tifffile.TiffWriter(sources["tifffile_pages"]) as tw:
        for band in band_first:
            tw.write(band, contiguous=False, metadata=None)
    sources["tifffile_interleaved"] = folder / "tifffile_interleaved.tif"
    tifffile.imwrite(sources["tifffile_interleaved"], cube, photometric="minisblack",
                     planarconfig="contig")
    sources["tifffile_zlib"] = folder / "tifffile_zlib.tif"
    tifffile.imwrite(sources["tifffile_zlib"], (band_first * 1000).astype(np.uint16),
                     photometric="minisblack", compression="zlib")
    expected = {name: np.array(read_cube(path)[0]) for name, path in sources.items()}
    return sources, expected


def _variants(data, rng, n):
    """(kind, damaged bytes): truncations and byte flips anywhere or in the first 400 bytes."""
    for _ in range(n):
        kind = ("truncated", "flipped", "header flipped")[rng.integers(3)]
        damaged = bytearray(data)
        if kind == "truncated":
            damaged = damaged[: rng.integers(len(data))]
        else:
            span = len(data) if kind == "flipped" else min(len(data), 400)
            for _ in range(rng.integers(1, 8)):
                damaged[rng.integers(span)] = rng.integers(256)
        yield kind, bytes(damaged)


def test_damaged_tiffs_read_correctly_or_raise_cube_format_error(tmp_path):
    sources, expected = _write_sources(tmp_path)
    for name, cube in expected.items():
        assert cube.shape == (H, W, B), name  # the undamaged files read as written
    rng = np.random.default_rng(20261123)
    outcomes = {"read": 0, "refused": 0}
    per_source = N_VARIANTS // len(sources)
    for name, path in sources.items():
        data = path.read_bytes()
        for i, (kind, damaged) in enumerate(_variants(data, rng, per_source)):
            target = tmp_path / f"{name}_{i}.tif"
            target.write_bytes(damaged)
            what = f"{name} variant {i} ({kind}, {len(damaged)} of {len(data)} bytes)"
            try:
                cube, _ = read_cube(target)
                values = np.array(cube)  # every byte readable, not only the header
            except (CubeFormatError, FileNotFoundError) as exc:
                assert str(exc), what
                outcomes["refused"] += 1
                continue
            except Exception as exc:  # the escape this test exists to catch
                pytest.fail(f"{what}: read_cube raised {type(exc).__name__}: {exc}")
            outcomes["read"] += 1
            assert values.shape == (H, W, B), what
            assert values.dtype == expected[name].dtype, what
            if kind == "truncated":  # only the tail is gone: a read must give everything back
                np.testing.assert_array_equal(values, expected[name], err_msg=what)
            del cube
    # both outcomes occur, so the test exercises the reader, not just its first check
    assert outcomes["read"] >= 10 and outcomes["refused"] >= 10, outcomes


@pytest.mark.parametrize("cut", ["last page's tags", "last page's data"])
def test_a_cut_page_chain_is_an_error_not_fewer_bands(tmp_path, cut):
    """A multi-page stack cut before its last band must not read as a cube with fewer bands."""
    sources, _ = _write_sources(tmp_path)
    data = sources["tifffile_pages"].read_bytes()
    with tifffile.TiffFile(sources["tifffile_pages"]) as tif:
        last = tif.pages[-1]
        end = last.offset + 2 if cut == "last page's tags" else last.dataoffsets[0] + 4
    damaged = tmp_path / "cut.tif"
    damaged.write_bytes(data[:end])
    with pytest.raises(CubeFormatError, match="truncated or damaged"):
        read_cube(damaged)


def test_a_page_of_another_pixel_type_is_an_error_not_fewer_bands(tmp_path):
    """A stack whose last page differs from the others (a damaged tag) is not read as 3 bands."""
    path = tmp_path / "mixed.tif"
    cube = _cube()
    with tifffile.TiffWriter(path) as tw:
        for band in np.moveaxis(cube, 2, 0)[:-1]:
            tw.write(band, contiguous=False, metadata=None)
        tw.write(cube[..., -1].astype(np.float64), contiguous=False, metadata=None)
    with pytest.raises(CubeFormatError, match="2 image series.*pages form one cube|image series"):
        read_cube(path)


def test_a_smaller_thumbnail_page_does_not_prevent_reading(tmp_path):
    path = tmp_path / "thumb.tif"
    cube = _cube()
    with tifffile.TiffWriter(path) as tw:
        for band in np.moveaxis(cube, 2, 0):
            tw.write(band, contiguous=False, metadata=None)
        tw.write(np.zeros((3, 2), np.uint8), metadata=None)
    np.testing.assert_array_equal(read_cube(path, band_axis=0)[0], cube)


def test_a_header_claiming_more_pixels_than_the_file_holds_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, np.zeros((B, H, W), np.float32), photometric="minisblack",
                     metadata=None)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[0].tags["ImageLength"]
        fmt = tif.byteorder + {3: "H", 4: "I"}[tag.dtype]
        position = tag.valueoffset
    data[position:position + np.dtype(fmt).itemsize] = np.array(60000, fmt).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(CubeFormatError):
        read_cube(path, mmap=False)

"""Fuzz tests of read_cube: damaged files either read correctly or raise CubeFormatError.

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
    tifffile.imwrite(sources["tifffile_interleaved"], cube, photometric="minisblack", planarconfig="contig")
    sources["tifffile_zlib"] = folder / "tifffile_zlib.tif"
    tifffile.imwrite(
        sources["tifffile_zlib"], (band_first * 1000).astype(np.uint16), photometric="minisblack", compression="zlib"
    )
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


@pytest.mark.parametrize("subfiletype", [0, 1])
def test_a_smaller_page_is_skipped_only_when_tagged_as_a_thumbnail(tmp_path, subfiletype):
    path = tmp_path / "thumb.tif"
    cube = _cube()
    with tifffile.TiffWriter(path) as tw:
        for band in np.moveaxis(cube, 2, 0):
            tw.write(band, contiguous=False, metadata=None)
        tw.write(np.zeros((3, 2), np.uint8), metadata=None, subfiletype=subfiletype)
    if subfiletype:  # NewSubfileType 1: a reduced-resolution image, not a band
        np.testing.assert_array_equal(read_cube(path, band_axis=0)[0], cube)
    else:  # a band of another size, or a thumbnail nothing says is one
        with pytest.raises(
            CubeFormatError,
            match=r"page 4 is 3 x 2 pixels where the pages "
            r"before it are 6 x 5",
        ):
            read_cube(path, band_axis=0)


def test_a_header_claiming_more_pixels_than_the_file_holds_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, np.zeros((B, H, W), np.float32), photometric="minisblack", metadata=None)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[0].tags["ImageLength"]
        fmt = tif.byteorder + {3: "H", 4: "I"}[tag.dtype]
        position = tag.valueoffset
    data[position : position + np.dtype(fmt).itemsize] = np.array(60000, fmt).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(CubeFormatError):
        read_cube(path, mmap=False)


# --------------------------------------------------------------------------- other formats
#
# The same contract for ENVI, MATLAB v5 and v7.3 and .npy, property-based (hypothesis): any
# damage hypothesis finds either reads back a 3-D numeric cube whose every byte can be
# read, or raises CubeFormatError; a truncated file never reads back different values.

import io  # noqa: E402

import h5py  # noqa: E402
import scipy.io  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Derandomized: the same examples on every run, so that a failure is reproducible. Runs of
# 1,500 examples per test found the bugs the regression tests below pin down.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
ENVI_HEADER = (
    "ENVI\ndescription = {{fuzz test cube}}\nsamples = {W}\nlines = {H}\nbands = {B}\n"
    "header offset = 0\nfile type = ENVI Standard\ndata type = 4\ninterleave = bil\n"
    "byte order = 0\nwavelength units = nm\nwavelength = {{{wl}}}\ndata ignore value = -1\n"
)


def _bytes_of(write):
    fh = io.BytesIO()
    write(fh)
    return fh.getvalue()


def _mat73_bytes(cube, tmp_path):
    path = tmp_path / "source73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_group("#refs#")
        f.create_dataset("cube", data=cube.T).attrs["MATLAB_class"] = np.bytes_("single")
        f.create_dataset("gt", data=np.ones((W, H))).attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, fuzz".ljust(116) + b"\x00" * 8 + b"\x00\x02IM")
    return path.read_bytes()


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """format -> (path of a valid file, band_axis to read it with)."""
    folder = tmp_path_factory.mktemp("sources")
    cube = _cube()
    written = {
        "npy": ("npy", lambda fh: np.save(fh, cube)),
        "mat5": ("mat", lambda fh: scipy.io.savemat(fh, {"cube": cube})),
        "mat5_zlib": (
            "mat",
            lambda fh: scipy.io.savemat(fh, {"cube": cube, "gt": np.ones((H, W))}, do_compression=True),
        ),
    }
    files = {}
    for name, (suffix, write) in written.items():
        files[name] = folder / f"{name}.{suffix}"
        files[name].write_bytes(_bytes_of(write))
    files["mat73"] = folder / "mat73.mat"
    files["mat73"].write_bytes(_mat73_bytes(cube, folder))
    return files


def _damage(draw, data, *, header_only=False):
    """(kind, bytes): a truncation or a few overwritten bytes, anywhere or in the first 256."""
    kind = draw(st.sampled_from(["truncated", "flipped", "header flipped"]))
    damaged = bytearray(data)
    if kind == "truncated":
        return kind, bytes(damaged[: draw(st.integers(0, len(data) - 1))])
    span = min(len(data), 256) if kind == "header flipped" or header_only else len(data)
    for _ in range(draw(st.integers(1, 6))):
        damaged[draw(st.integers(0, span - 1))] = draw(st.integers(0, 255))
    return kind, bytes(damaged)


def _read_or_refuse(path, what, **kwargs):
    """The cube as an in-memory array, or None if read_cube refused the file; fail otherwise."""
    try:
        cube, _ = read_cube(path, **kwargs)
        values = np.array(cube)  # every byte readable, not only the header
    except CubeFormatError as exc:
        assert str(exc), what
        return None
    except Exception as exc:  # the escape these tests exist to catch
        pytest.fail(f"{what}: read_cube raised {type(exc).__name__}: {exc}")
    assert values.ndim == 3 and values.dtype.kind in "uif", what
    return values


@pytest.mark.parametrize("fmt", ["npy", "mat5", "mat5_zlib", "mat73"])
@FUZZ
@given(data=st.data())
def test_damaged_npy_and_mat_files_read_or_raise_cube_format_error(sources, fmt, data, tmp_path_factory):
    original = sources[fmt].read_bytes()
    kind, damaged = _damage(data.draw, original)
    path = tmp_path_factory.mktemp(fmt) / f"damaged{sources[fmt].suffix}"
    path.write_bytes(damaged)
    what = f"{fmt} ({kind}, {len(damaged)} of {len(original)} bytes)"
    for mmap in (True, False):
        values = _read_or_refuse(path, what, band_axis=2, mmap=mmap)
        if values is not None and kind == "truncated":
            np.testing.assert_array_equal(values, _cube(), err_msg=what)


def _envi_header_text():
    wl = ", ".join(f"{w:g}" for w in np.linspace(400, 1000, B))
    return ENVI_HEADER.format(H=H, W=W, B=B, wl=wl)


@st.composite
def _damaged_headers(draw):
    """An ENVI header with characters replaced, deleted or inserted, or a value changed."""
    text = _envi_header_text()
    kind = draw(st.sampled_from(["characters", "value", "line dropped"]))
    if kind == "characters":
        chars = list(text)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(chars) - 1))
            edit = draw(st.sampled_from(["replace", "delete", "insert"]))
            new = draw(st.sampled_from(list("0123456789-.=,{}; \n\tabcENVI\x00\xff")))
            if edit == "replace":
                chars[i] = new
            elif edit == "delete":
                del chars[i]
            else:
                chars.insert(i, new)
        return kind, "".join(chars)
    lines = text.splitlines()
    i = draw(st.integers(1, len(lines) - 1))
    if kind == "line dropped":
        del lines[i]
    else:
        key = lines[i].partition("=")[0]
        value = draw(
            st.one_of(
                st.integers(-(2**63), 2**64).map(str),
                st.sampled_from(
                    ["", "{", "}", "nan", "inf", "-0", "1e400", "bsq", "bip", "7.5", "{1, 2, 3}", "9" * 400]
                ),
            )
        )
        lines[i] = f"{key}= {value}"
    return kind, "\n".join(lines) + "\n"


@FUZZ
@given(header=_damaged_headers(), cut=st.one_of(st.none(), st.integers(0, H * W * B * 4 - 1)))
def test_damaged_envi_files_read_or_raise_cube_format_error(header, cut, tmp_path_factory):
    kind, text = header
    folder = tmp_path_factory.mktemp("envi")
    data = np.ascontiguousarray(np.moveaxis(_cube(), 2, 1)).tobytes()  # BIL
    (folder / "scene.img").write_bytes(data if cut is None else data[:cut])
    (folder / "scene.hdr").write_bytes(text.encode("latin-1"))
    what = f"ENVI ({kind}, data {'intact' if cut is None else f'cut at {cut}'}): {text!r}"
    for mmap in (True, False):
        values = _read_or_refuse(folder / "scene.hdr", what, mmap=mmap)
        if cut is not None:  # a cut data file never matches the header's sizes
            assert values is None, what
        if values is not None and text == _envi_header_text():
            np.testing.assert_array_equal(values, _cube(), err_msg=what)


# --------------------------------------------------------------------------- regressions
# Damage the fuzz tests above found, each of which escaped as another exception or crashed.


def _mat5(path, **variables):
    scipy.io.savemat(path, variables or {"cube": _cube()})
    return bytearray(path.read_bytes())


@pytest.mark.parametrize("code", [0, 8, 19, 39, 255])
def test_mat5_values_with_an_unknown_type_code_are_an_error_not_a_crash(tmp_path, code):
    # scipy's reader indexes a table with this code unchecked: a segmentation fault
    path = tmp_path / "damaged.mat"
    data = _mat5(path)
    real_tag = data.index(np.array([7, H * W * B * 4], "<u4").tobytes())  # miSINGLE, 480 bytes
    data[real_tag] = code
    path.write_bytes(bytes(data))
    match = f"Expected 120 numbers in variable 'cube' .* type code {code} and 480 bytes; the file"
    with pytest.raises(CubeFormatError, match=match):
        read_cube(path, band_axis=2)


@pytest.mark.parametrize("flags_tag", [(6, 77), (0xC0000006 & 0xFFFFFFFF, 8)])
def test_mat5_variable_with_a_malformed_header_is_an_error_not_a_crash(tmp_path, flags_tag):
    path = tmp_path / "damaged.mat"
    data = _mat5(path)
    flags = data.index(np.array([6, 8], "<u4").tobytes(), 128)  # array flags: miUINT32, 8 bytes
    data[flags : flags + 8] = np.array(flags_tag, "<u4").tobytes()
    data[flags + 49] = 0xD0  # and a wild type code for the values, as the fuzzer found
    path.write_bytes(bytes(data))
    with pytest.raises(CubeFormatError, match="well-formed header .* variable 'cube'"):
        read_cube(path, band_axis=2)


def test_mat5_check_accepts_what_matlab_and_scipy_write(tmp_path):
    """The checks above refuse damage, not the variants MAT v5 writers produce."""
    cube = _cube()
    path = tmp_path / "ok.mat"
    variables = {
        "cube": cube.astype(np.float64),
        "names": "rock",
        "cell": np.array([[1, "a"]], dtype=object),
        "tiny": np.zeros((1, 1, 1), np.uint8),
        "s": {"a": 1},
    }
    for compress in (False, True):
        scipy.io.savemat(path, variables, do_compression=compress)
        got, info = read_cube(path, variable="cube", band_axis=2)
        np.testing.assert_array_equal(got, cube.astype(np.float64))
        assert read_cube(path, variable="tiny", band_axis=2)[0].shape == (1, 1, 1)


def test_npy_header_that_is_not_a_literal_is_a_cube_format_error(tmp_path):
    path = tmp_path / "damaged.npy"
    np.save(path, _cube())
    path.write_bytes(path.read_bytes().replace(b"(6, 5, 4), }", b"(6, 5, 4  , "))
    with pytest.raises(CubeFormatError, match="header is not a Python literal"):
        read_cube(path, band_axis=2)

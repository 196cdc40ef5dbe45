"""``hsiae bands``: each band's noise and signal-to-noise ratio from the command line, run through main()."""

import csv
import os

import numpy as np
import pytest

from hsiae import make_unmixing_scene
from hsiae.cli import main
from hsiae.io import write_cube
from hsiae.noise import band_snr, estimate_noise

N_BANDS = 40
SHAPE = (30, 30)
NOISY = [5, 31]  # counted from 0: bands 6 and 32 as ENVI, GDAL and QGIS number them
HEADER = ["band", "wavelength_nm", "noise_std", "snr_db", "flagged"]


@pytest.fixture(scope="module")
def scene():
    """A 3-endmember mixture at 30 dB whose bands 6 and 32 carry about 20 dB more noise."""
    scene = make_unmixing_scene(3, n_bands=N_BANDS, shape=SHAPE, snr=30, random_state=0)
    cube = scene.cube.copy()
    rng = np.random.default_rng(1)
    for b in NOISY:
        cube[..., b] += rng.normal(0, 0.1, SHAPE).astype(np.float32)
    return cube, scene.wavelengths


@pytest.fixture(scope="module")
def scene_path(scene, tmp_path_factory):
    cube, wavelengths = scene
    path = tmp_path_factory.mktemp("scene") / "scene.tif"
    write_cube(path, cube, wavelengths=wavelengths, wavelength_units="nm")
    return str(path)


def table(folder):
    with open(folder / "bands.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def column(rows, j, dtype=float):
    return np.array([row[j] for row in rows], dtype=dtype)


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hsiae: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_bands_writes_each_bands_noise_and_flags_the_noisy_ones(scene, scene_path, tmp_path, capsys):
    cube, wavelengths = scene
    out = tmp_path / "out"
    assert main(["bands", scene_path, "-o", str(out), "--threads", "1"]) == 0
    assert listing(out) == ["band_snr.png", "bands.csv"]
    header, rows = table(out)
    assert header == HEADER
    assert len(rows) == N_BANDS
    np.testing.assert_array_equal(column(rows, 0, int), np.arange(1, N_BANDS + 1))
    np.testing.assert_allclose(column(rows, 1), wavelengths, rtol=1e-7)
    X = cube.reshape(-1, N_BANDS)
    np.testing.assert_allclose(column(rows, 2), estimate_noise(X), rtol=1e-6)
    np.testing.assert_allclose(column(rows, 3), band_snr(X), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.flatnonzero(column(rows, 4, int)), NOISY)
    printed = capsys.readouterr().out
    assert "2 bands more than 15 dB below the median: 6,32" in printed
    assert "to leave them out: --drop-bands 6,32\n" in printed
    assert "signal subspace: 3 dimensions (HySime;" in printed
    assert f"median SNR {np.median(band_snr(X)):.1f} dB" in printed


def test_below_sets_how_far_below_the_median_a_band_is_flagged(scene, scene_path, tmp_path, capsys):
    cube, _ = scene
    snr = band_snr(cube.reshape(-1, N_BANDS))
    expected = np.flatnonzero(snr < np.median(snr) - 0.5)
    assert len(expected) > len(NOISY)  # more than the default flags
    out = tmp_path / "out"
    assert main(["bands", scene_path, "-o", str(out), "--below", "0.5", "--no-figures"]) == 0
    _, rows = table(out)
    flagged = np.flatnonzero(column(rows, 4, int))
    np.testing.assert_array_equal(flagged, expected)
    assert list(flagged + 1) == [6, *range(12, 25), 32]
    assert "to leave them out: --drop-bands 6,12-24,32\n" in capsys.readouterr().out


def test_flagged_bands_are_printed_as_ranges(tmp_path, capsys):
    # runs of neighbours as first-last, numbered from 1: 1-3,7,38-40
    scene = make_unmixing_scene(3, n_bands=N_BANDS, shape=SHAPE, snr=30, random_state=0)
    cube = scene.cube.copy()
    noisy = [0, 1, 2, 6, 37, 38, 39]
    cube[..., noisy] += np.random.default_rng(2).normal(0, 0.1, (*SHAPE, len(noisy))).astype(np.float32)
    np.save(tmp_path / "cube.npy", cube)
    assert main(["bands", str(tmp_path / "cube.npy"), "--band-axis", "2", "-o", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "7 bands more than 15 dB below the median: 1-3,7,38-40" in printed
    assert "to leave them out: --drop-bands 1-3,7,38-40\n" in printed
    header, rows = table(tmp_path / "out")
    assert header == ["band", "wavelength", "noise_std", "snr_db", "flagged"]  # a .npy cube has no wavelengths
    assert all(row[1] == "" for row in rows)


def test_a_cube_without_noisy_bands_gets_no_suggestion(tmp_path, capsys):
    scene = make_unmixing_scene(3, n_bands=N_BANDS, shape=SHAPE, snr=30, random_state=0)
    path = str(tmp_path / "clean.tif")
    write_cube(path, scene.cube, wavelengths=scene.wavelengths, wavelength_units="nm")
    assert main(["bands", path, "-o", str(tmp_path / "out"), "--no-figures"]) == 0
    printed = capsys.readouterr().out
    assert "no band is more than 15 dB below the median" in printed
    assert "--drop-bands" not in printed
    _, rows = table(tmp_path / "out")
    assert not column(rows, 4, int).any()


def test_bands_of_an_envi_file_keep_the_files_numbers_when_its_bad_bands_are_left_out(scene, tmp_path, capsys):
    # the reader leaves out the bands ENVI's bbl marks bad; the table and the suggestion number the
    # others as the file does, so that --drop-bands names the same bands in any tool
    cube, wavelengths = scene
    bbl = np.ones(N_BANDS, dtype=int)
    bbl[[0, 10]] = 0
    write_cube(tmp_path / "scene.hdr", cube, wavelengths=wavelengths, wavelength_units="nm", bbl=bbl)
    out = tmp_path / "out"
    assert main(["bands", str(tmp_path / "scene.hdr"), "-o", str(out), "--no-figures"]) == 0
    _, rows = table(out)
    kept = np.flatnonzero(bbl)
    np.testing.assert_array_equal(column(rows, 0, int), kept + 1)
    np.testing.assert_allclose(column(rows, 1), wavelengths[kept], rtol=1e-7)
    np.testing.assert_allclose(column(rows, 3), band_snr(cube[..., kept].reshape(-1, len(kept))), atol=1e-6)
    assert "--drop-bands 6,32\n" in capsys.readouterr().out


@pytest.mark.parametrize("chunks", [[], ["--chunks", "7"]])
def test_bands_after_drop_bands_keep_the_files_numbers(scene, scene_path, tmp_path, capsys, chunks):
    # a run with --drop-bands 1,6 numbers the bands as the file does, and its suggestion keeps 1 and 6 out
    if chunks:
        pytest.importorskip("dask")
    cube, wavelengths = scene
    out = tmp_path / "out"
    assert main(["bands", scene_path, "-o", str(out), "--drop-bands", "1,6", *chunks, "--no-figures"]) == 0
    _, rows = table(out)
    kept = [b for b in range(N_BANDS) if b not in (0, 5)]
    np.testing.assert_array_equal(column(rows, 0, int), np.array(kept) + 1)
    np.testing.assert_allclose(column(rows, 1), wavelengths[kept], rtol=1e-7)
    np.testing.assert_allclose(column(rows, 3), band_snr(cube[..., kept].reshape(-1, len(kept))), atol=1e-6)
    printed = capsys.readouterr().out
    assert "1 band more than 15 dB below the median: 32\n" in printed
    assert "to leave them out: --drop-bands 1,6,32 (with the 2 bands --drop-bands left out already)\n" in printed


@pytest.mark.parametrize("chunks", [[], ["--chunks", "7"]])
@pytest.mark.parametrize("how", ["nodata", "mask"])
def test_bands_leaves_no_data_and_masked_pixels_out(scene, tmp_path, how, chunks):
    if chunks:
        pytest.importorskip("dask")
    cube, wavelengths = scene
    holes = np.zeros(SHAPE, bool)
    holes[[0, 3, 10, 20, 29], [0, 4, 0, 19, 29]] = True
    holes[5, :] = True
    filled = cube.copy()
    if how == "nodata":
        filled[holes] = -9999.0
        args = ["--nodata", "-9999"]
    else:  # pixels with data, but wild: only the mask keeps them out
        filled[holes] = np.random.default_rng(3).uniform(0, 1000, (int(holes.sum()), N_BANDS))
        np.save(tmp_path / "mask.npy", ~holes)
        args = ["--mask", str(tmp_path / "mask.npy")]
    path = str(tmp_path / "filled.tif")
    write_cube(path, filled, wavelengths=wavelengths, wavelength_units="nm")
    out = tmp_path / "out"
    assert main(["bands", path, "-o", str(out), *args, *chunks, "--no-figures", "-q"]) == 0
    _, rows = table(out)
    expected = band_snr(cube[~holes])  # every pixel drawn: the image has fewer than --sample-size
    assert not np.allclose(band_snr(filled.reshape(-1, N_BANDS)), expected, atol=1)  # the test can fail
    np.testing.assert_allclose(column(rows, 3), expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.flatnonzero(column(rows, 4, int)), NOISY)


def test_bands_in_chunks_estimates_from_a_sample_and_flags_the_same_bands(scene, scene_path, tmp_path, capsys):
    pytest.importorskip("dask")
    from hsiae.workflow.fitting import sample_pixels

    cube, _ = scene
    out = tmp_path / "out"
    assert main(["bands", scene_path, "-o", str(out), "--chunks", "7", "--sample-size", "500", "--no-figures"]) == 0
    printed = capsys.readouterr().out
    assert "Sampled 500 usable pixels" in printed
    assert "--drop-bands 6,32\n" in printed
    _, rows = table(out)
    X, _ = sample_pixels(cube, 500, random_state=0)
    np.testing.assert_allclose(column(rows, 3), band_snr(X), rtol=0, atol=1e-6)
    assert not np.allclose(column(rows, 3), band_snr(cube.reshape(-1, N_BANDS)), atol=1e-3)  # not all pixels
    np.testing.assert_array_equal(np.flatnonzero(column(rows, 4, int)), NOISY)


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--below", "0"], ["--below", "must be a finite number > 0, got 0"]),
        (["--below", "-3"], ["--below", "got -3"]),
        (["--below", "inf"], ["--below", "got inf"]),
        (["--sample-size", "500"], ["--sample-size", "--chunks"]),
        (["--scheduler", "threads"], ["--scheduler", "--chunks"]),
    ],
)
def test_impossible_bands_options_fail_before_any_work(scene_path, tmp_path, capsys, extra, fragments):
    out = tmp_path / "out"
    assert main(["bands", scene_path, "-o", str(out), *extra]) == 2
    assert_one_line_error(capsys, *fragments)
    assert not out.exists()


def test_too_few_usable_pixels_are_refused_before_any_work(scene, scene_path, tmp_path, capsys):
    mask = np.zeros(SHAPE, bool)
    mask.flat[:40] = True  # 40 usable pixels for 40 bands: one short
    np.save(tmp_path / "mask.npy", mask)
    out = tmp_path / "out"
    assert main(["bands", scene_path, "-o", str(out), "--mask", str(tmp_path / "mask.npy")]) == 2
    assert_one_line_error(
        capsys, "has 40 usable pixels for 40 bands", "regresses each band on the 39 others", "at least 41"
    )
    assert not out.exists()
    mask.flat[40] = True  # 41 are enough
    np.save(tmp_path / "mask.npy", mask)
    assert main(["bands", scene_path, "-o", str(out), "--mask", str(tmp_path / "mask.npy"), "-q"]) == 0


def test_a_cube_of_nearly_as_many_bands_as_pixels_is_checked_for_its_band_matrices(tmp_path, capsys, monkeypatch):
    # 900 pixels x 800 bands: the spectra take ~14 MB, the estimate's 800 x 800 matrices ~51 MB more
    import hsiae.cli._memory
    import hsiae.noise

    cube = np.random.default_rng(0).random((30, 30, 800)).astype(np.float32)
    path = str(tmp_path / "wide.tif")
    write_cube(path, cube)

    def started(X):
        raise AssertionError("the estimate started")

    monkeypatch.setattr(hsiae.noise, "noise_statistics", started)
    monkeypatch.setattr(hsiae.cli._memory, "_available_memory", lambda: 40 * 2**20)
    out = tmp_path / "out"
    assert main(["bands", path, "-o", str(out)]) == 2
    assert_one_line_error(capsys, "estimating the noise of the 30 x 30 x 800 float32 cube")
    assert not out.exists()


def test_too_small_a_sample_is_refused_before_any_work(scene_path, tmp_path, capsys):
    pytest.importorskip("dask")
    out = tmp_path / "out"
    assert main(["bands", scene_path, "-o", str(out), "--chunks", "7", "--sample-size", "30"]) == 2
    assert_one_line_error(capsys, "30 usable pixels", "40 bands", "at least 41", "raise --sample-size")
    assert not out.exists()


def test_a_cube_of_one_band_is_refused(tmp_path, capsys):
    np.save(tmp_path / "one.npy", np.random.default_rng(0).random((10, 10, 1)))
    out = tmp_path / "out"
    assert main(["bands", str(tmp_path / "one.npy"), "--band-axis", "2", "-o", str(out)]) == 2
    assert_one_line_error(capsys, "has 1 band", "at least 2 bands")
    assert not out.exists()


@pytest.mark.parametrize("link", ["hardlink", "symlink"])
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_no_output_replaces_the_input(scene, tmp_path, capsys, link, force):
    cube, wavelengths = scene
    out = tmp_path / "out"
    out.mkdir()
    real = tmp_path / "scene.tif"
    write_cube(real, cube, wavelengths=wavelengths, wavelength_units="nm")
    before = real.read_bytes()
    (os.link if link == "hardlink" else os.symlink)(real, out / "bands.csv")
    assert main(["bands", str(real), "-o", str(out), *force]) == 2
    assert_one_line_error(capsys, "would replace the input")
    assert real.read_bytes() == before
    assert listing(out) == ["bands.csv"]


def test_an_existing_table_is_kept_without_force(scene_path, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "bands.csv").write_text("mine\n")
    assert main(["bands", scene_path, "-o", str(out)]) == 2
    assert_one_line_error(capsys, "bands.csv", "--force")
    assert listing(out) == ["bands.csv"] and (out / "bands.csv").read_text() == "mine\n"
    assert main(["bands", scene_path, "-o", str(out), "--force", "-q"]) == 0
    assert listing(out) == ["band_snr.png", "bands.csv"] and table(out)[0] == HEADER


def test_no_figures_writes_only_the_table(scene_path, tmp_path):
    out = tmp_path / "out"
    assert main(["bands", scene_path, "-o", str(out), "--no-figures", "-q"]) == 0
    assert listing(out) == ["bands.csv"]


def test_the_figure_marks_the_flagged_bands(scene, scene_path, tmp_path, monkeypatch):
    import hsiae.cli._bands

    cube, wavelengths = scene
    figures, save = [], hsiae.cli._bands.save_figure

    def keep(fig, path):
        figures.append(fig)
        save(fig, path)

    monkeypatch.setattr(hsiae.cli._bands, "save_figure", keep)
    assert main(["bands", scene_path, "-o", str(tmp_path / "out"), "-q"]) == 0
    (fig,) = figures
    (ax,) = fig.axes
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets()[:, 0], wavelengths[NOISY])
    labels = ax.get_legend_handles_labels()[1]
    assert "More than 15 dB below the median (2)" in labels
    assert ax.get_xlabel() == "Wavelength (nm)"
    threshold = [line for line in ax.lines if line.get_label() == "Median - 15 dB"]
    assert len(threshold) == 1
    snr = band_snr(cube.reshape(-1, N_BANDS))
    np.testing.assert_allclose(threshold[0].get_ydata(), np.median(snr) - 15)


def test_the_figure_of_a_cube_without_wavelengths_numbers_its_bands_from_1(scene, tmp_path, monkeypatch):
    import hsiae.cli._bands

    cube, _ = scene
    np.save(tmp_path / "cube.npy", cube)
    figures, save = [], hsiae.cli._bands.save_figure
    monkeypatch.setattr(hsiae.cli._bands, "save_figure", lambda fig, path: (figures.append(fig), save(fig, path)))
    assert main(["bands", str(tmp_path / "cube.npy"), "--band-axis", "2", "-o", str(tmp_path / "out"), "-q"]) == 0
    (ax,) = figures[0].axes
    assert ax.get_xlabel() == "Band (numbered from 1)"
    np.testing.assert_array_equal(ax.collections[0].get_offsets()[:, 0], np.array(NOISY) + 1)


def test_threads_limits_the_estimates_blas_threads(scene_path, tmp_path, monkeypatch):
    # the estimate is matrix products in numpy's BLAS, which --threads bounds as it bounds torch's threads
    import threadpoolctl

    import hsiae.noise

    seen, estimate = [], hsiae.noise.noise_statistics

    def statistics_recording_threads(X):
        seen.append({info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"})
        return estimate(X)

    monkeypatch.setattr(hsiae.noise, "noise_statistics", statistics_recording_threads)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):  # the root conftest.py sets 1 for the tests
        for threads in ([], ["--threads", "1"]):
            assert (
                main(["bands", scene_path, "-o", str(tmp_path / "out"), *threads, "-q", "--no-figures", "--force"]) == 0
            )
    assert seen == [{2}, {1}]


@pytest.mark.parametrize("threads", [[], ["--threads", "1"]])
def test_bands_never_imports_torch(scene_path, tmp_path, threads):
    # in a fresh interpreter: other tests of this process have imported it; --threads used to load torch
    # to set its threads (seconds), though the estimate is numpy's alone
    import subprocess
    import sys

    argv = ["bands", scene_path, "-o", str(tmp_path / "out"), "-q", "--no-figures", *threads]
    code = f"import sys; from hsiae.cli import main; rc = main({argv!r}); print(rc, 'torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.stdout.split() == ["0", "False"], run.stderr

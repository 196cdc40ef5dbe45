"""``hsiae unmix``: endmembers and abundance maps from the command line, run through main()."""

import csv

import numpy as np
import pytest
import tifffile

from hsiae import make_unmixing_scene
from hsiae.cli import main
from hsiae.io import read_cube, write_cube
from hsiae.metrics import endmember_angles, match_endmembers
from hsiae.persistence import load_model
from hsiae.unmixer import AEUnmixer

K = 3
FAST = ["--epochs", "8", "--threads", "1", "-q"]
OUTPUTS = [
    "abundance_maps.png",
    "abundances.tif",
    "endmembers.csv",
    "endmembers.png",
    "model.hsiae",
    "model_history.csv",
    "model_loss.png",
    "reconstruction_error.png",
]


@pytest.fixture(scope="module")
def scene():
    return make_unmixing_scene(K, n_bands=40, shape=(24, 20), snr=40, random_state=0)


@pytest.fixture(scope="module")
def scene_path(scene, tmp_path_factory):
    path = tmp_path_factory.mktemp("scene") / "scene.tif"
    cube = scene.cube.copy()
    cube[0, :3] = np.nan  # three no-data pixels
    write_cube(path, cube, wavelengths=scene.wavelengths, wavelength_units="nm")
    return str(path)


@pytest.fixture(scope="module")
def unmixed(scene_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("unmixed") / "out"
    assert main(["unmix", scene_path, "-p", str(K), "-o", str(out), *FAST]) == 0
    return out


def test_unmix_writes_abundances_endmembers_model_and_figures(unmixed, scene):
    assert sorted(p.name for p in unmixed.iterdir()) == OUTPUTS
    A, info = read_cube(unmixed / "abundances.tif")
    assert A.shape == (24, 20, K) and A.dtype == np.float32
    assert np.isnan(A[0, :3]).all() and np.isfinite(A[1:]).all() and np.isfinite(A[0, 3:]).all()
    usable = A[np.isfinite(A[..., 0])]
    assert usable.min() >= 0 and np.allclose(usable.sum(axis=1), 1, atol=1e-5)
    with open(unmixed / "endmembers.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["band", "wavelength_nm", "endmember_1", "endmember_2", "endmember_3"]
    table = np.array(rows[1:], dtype=float)
    np.testing.assert_array_equal(table[:, 0], np.arange(1, len(table) + 1))  # numbered from 1, as --drop-bands
    np.testing.assert_allclose(table[:, 1], scene.wavelengths, rtol=1e-7)
    E = table[:, 2:].T
    truth = scene.endmembers.T
    # near the truth after 8 short epochs (unrelated spectra of this scene are ~0.5 rad apart)
    assert endmember_angles(truth, E, order=match_endmembers(truth, E)).mean() < 0.15
    model, model_info = load_model(unmixed / "model.hsiae")
    assert isinstance(model, AEUnmixer) and model.n_endmembers == K
    np.testing.assert_allclose(model.endmembers_, E, rtol=1e-6)


def test_a_saved_unmixer_gives_the_same_abundances(unmixed, scene_path, tmp_path):
    out = tmp_path / "again"
    assert (
        main(["unmix", scene_path, "--model", str(unmixed / "model.hsiae"), "-o", str(out), "--threads", "1", "-q"])
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "abundance_maps.png",
        "abundances.tif",
        "endmembers.csv",
        "endmembers.png",
        "reconstruction_error.png",
    ]
    np.testing.assert_array_equal(tifffile.imread(out / "abundances.tif"), tifffile.imread(unmixed / "abundances.tif"))


def test_unmix_no_figures_writes_the_same_data_files_and_no_png(unmixed, scene_path, tmp_path):
    out = tmp_path / "data"
    assert main(["unmix", scene_path, "-p", str(K), "-o", str(out), *FAST, "--no-figures"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [name for name in OUTPUTS if not name.endswith(".png")]
    np.testing.assert_array_equal(tifffile.imread(out / "abundances.tif"), tifffile.imread(unmixed / "abundances.tif"))
    with open(out / "endmembers.csv") as a, open(unmixed / "endmembers.csv") as b:
        assert a.read() == b.read()


def test_unmix_endmembers_are_listed_under_the_file_band_numbers_left_after_drop_bands(scene, scene_path, tmp_path):
    out = tmp_path / "dropped"
    assert (
        main(["unmix", scene_path, "-p", str(K), "-o", str(out), *FAST, "--no-figures", "--drop-bands", "1-5,40"]) == 0
    )
    with open(out / "endmembers.csv", newline="") as fh:
        table = np.array(list(csv.reader(fh))[1:], dtype=float)
    np.testing.assert_array_equal(table[:, 0], np.arange(6, 40))
    np.testing.assert_allclose(table[:, 1], scene.wavelengths[5:39], rtol=1e-7)


def test_unmix_in_chunks_equals_unmix_in_memory(unmixed, scene_path, tmp_path):
    pytest.importorskip("dask")
    out = tmp_path / "chunked"
    assert main(["unmix", scene_path, "-p", str(K), "-o", str(out), "--chunks", "7", *FAST]) == 0
    # the same sample, so the same model; abundances equal up to float32 rounding of other batches
    with open(out / "endmembers.csv") as a, open(unmixed / "endmembers.csv") as b:
        assert a.read() == b.read()
    np.testing.assert_allclose(
        tifffile.imread(out / "abundances.tif"), tifffile.imread(unmixed / "abundances.tif"), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("chunks", [[], ["--chunks", "7"]])
def test_unmix_nodata_and_mask_leave_the_same_pixels_out(scene, tmp_path, chunks):
    if chunks:
        pytest.importorskip("dask")
    holes = np.zeros((24, 20), bool)
    holes[[3, 10, 20], [4, 0, 19]] = True
    filled = scene.cube.copy()
    filled[holes] = 0.0  # an untagged fill value: a .npy file declares none
    np.save(tmp_path / "filled.npy", filled)
    np.save(tmp_path / "clean.npy", scene.cube)
    np.save(tmp_path / "mask.npy", ~holes)
    results = {}
    for name, args in [
        ("nodata", ["filled.npy", "--nodata", "0"]),
        ("mask", ["clean.npy", "--mask", str(tmp_path / "mask.npy")]),
    ]:
        out = tmp_path / name
        args = [str(tmp_path / args[0]), *args[1:]]
        assert main(["unmix", *args, "-p", str(K), "-o", str(out), "--band-axis", "2", *chunks, *FAST]) == 0
        results[name] = tifffile.imread(out / "abundances.tif")
        A = np.moveaxis(results[name], 0, -1)
        assert np.isnan(A[holes]).all() and np.isfinite(A[~holes]).all()
    np.testing.assert_array_equal(results["nodata"], results["mask"])


@pytest.mark.parametrize(
    "extra, fragments",
    [
        ([], ["-p N"]),
        (["-p", "41"], ["-p 41", "bands (40)"]),
        (["-p", "3", "--scheduler", "threads"], ["--scheduler", "--chunks"]),
    ],
)
def test_impossible_unmix_options_fail_before_any_work(scene_path, tmp_path, capsys, extra, fragments):
    out = tmp_path / "out"
    assert main(["unmix", scene_path, "-o", str(out), *extra, *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hsiae: error: ") and len(err.strip().splitlines()) == 1, err
    assert all(f in err for f in fragments), err
    assert not out.exists()


def test_unmix_model_options_are_refused_with_model(unmixed, scene_path, tmp_path, capsys):
    model = str(unmixed / "model.hsiae")
    assert main(["unmix", scene_path, "--model", model, "--epochs", "3", "-o", str(tmp_path / "o")]) == 2
    assert "--epochs only apply when unmix trains" in capsys.readouterr().err
    assert main(["unmix", scene_path, "--model", model, "-p", "5", "-o", str(tmp_path / "o")]) == 2
    assert "-p 5 does not match the 3 endmembers" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_error_maps_paint_no_data_pixels_in_the_no_data_colour(scene_path, tmp_path, monkeypatch):
    from matplotlib.colors import to_rgba

    import hsiae.cli._unmix
    from hsiae.plotting import NODATA_COLOR

    figures, save = {}, hsiae.cli._unmix.save_figure

    def keep(fig, path):
        figures[path.name.lstrip(".").split(".")[0]] = fig  # the staged name: .NAME.hex.tmp.png
        save(fig, path)

    monkeypatch.setattr(hsiae.cli._unmix, "save_figure", keep)
    assert main(["unmix", scene_path, "-p", str(K), "-o", str(tmp_path / "out"), *FAST]) == 0
    for name in ("reconstruction_error", "abundance_maps"):
        images = [ax.images[0] for ax in figures[name].axes if ax.images]
        assert images
        for image in images:
            rgba = image.to_rgba(image.get_array())
            np.testing.assert_allclose(rgba[0, :3], [to_rgba(NODATA_COLOR)] * 3)  # no data
            assert not np.allclose(rgba[1:], to_rgba(NODATA_COLOR))


def test_the_unmixers_loss_figure_names_its_loss(unmixed):
    from hsiae.cli._outputs import loss_figure

    ax = loss_figure(load_model(unmixed / "model.hsiae")[0]).axes[0]
    assert ax.get_ylabel().startswith("loss = 10 MSE/power + SAM + 0.02 entropy")

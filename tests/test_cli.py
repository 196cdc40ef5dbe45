"""Tests for the command line (hsiae.cli), run in-process through main()."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from hsiae import denoise, make_segmentation_pipeline, shade_point
from hsiae.cli import main
from hsiae.io import read_cube, write_cube
from hsiae.persistence import load_model

H, W, B = 8, 9, 20
WAVELENGTHS = np.linspace(400.0, 1000.0, B)
# Tiny, fast training for every test that trains.
FAST = ["--epochs", "2", "--bands", "16", "--zdims", "3", "--threads", "1"]


def make_cube(n_bands=B, seed=0):
    """Three regions with differently placed peaks, plus noise: (H, W, n_bands) float32."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_bands)
    centre = np.full((H, W, 1), 0.3)
    centre[:, 4:] = 0.7
    centre[:4, 4:] = 0.5
    cube = np.exp(-((t - centre) ** 2) / 0.05) + 0.01 * rng.normal(size=(H, W, n_bands))
    return cube.astype(np.float32)


def write(path, cube, **kwargs):
    kwargs.setdefault("wavelengths", WAVELENGTHS if cube.shape[2] == B else None)
    write_cube(path, cube, **kwargs)
    return str(path)


@pytest.fixture
def cube_path(tmp_path):
    return write(tmp_path / "cube.tif", make_cube())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained once by the CLI on the standard tiny cube."""
    folder = tmp_path_factory.mktemp("trained")
    cube = write(folder / "cube.tif", make_cube())
    model = folder / "model.joblib"
    assert main(["train", cube, "-o", str(model), *FAST, "-q"]) == 0
    return model


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    # warnings of a run that failed late (e.g. after training) are one line each, too
    lines = [line for line in err.strip().splitlines() if not line.startswith("hsiae: warning: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("hsiae: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- train


def test_train_writes_model_loss_curves_and_history(cube_path, tmp_path, capsys):
    model = tmp_path / "out" / "m.joblib"
    model.parent.mkdir()
    assert main(["train", cube_path, "-o", str(model), *FAST]) == 0
    out = capsys.readouterr().out
    for name in ("m.joblib", "m_loss.png", "m_history.csv"):
        assert (model.parent / name).is_file()
        assert str(model.parent / name) in out  # where every file went
    # and no temporary files
    assert listing(model.parent) == ["m.joblib", "m_history.csv", "m_loss.png"]

    pipe, info = load_model(model)
    assert info.n_bands == B
    np.testing.assert_allclose(info.wavelengths, WAVELENGTHS)
    assert pipe[0].n_bands_out_ == 16 and pipe[1].zdims == 3

    with open(model.parent / "m_history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["epoch", "train_loss", "valid_loss", "dur"]
    assert len(rows) == pipe[1].n_epochs_ == 2  # one row per epoch
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["train_loss"]) > 0 and float(r["valid_loss"]) > 0 for r in rows)


def test_the_loss_figure_is_one_panel_that_names_the_loss(trained, cube_path, tmp_path):
    from hsiae.cli._outputs import loss_figure

    encoder = load_model(trained)[0][1]
    fig = loss_figure(encoder)
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == 1  # before: a log panel repeating the linear one
    (ax,) = panels
    # what the loss is made of, from the encoder's weights (before: "Loss")
    assert ax.get_ylabel() == "loss = MSE + 0.1 SAM + gradient\non the scaled spectra (log scale)"
    assert ax.get_yscale() == "log" and ax.get_ylim()[1] / ax.get_ylim()[0] >= 10
    assert "best epoch" in ax.get_title()
    # other weights, other words
    model = tmp_path / "m.hsiae"
    assert main(["train", cube_path, "-o", str(model), *FAST, "-q", "--latent-l1", "0.5"]) == 0
    ax = loss_figure(load_model(model)[0][1]).axes[0]
    assert ax.get_ylabel().startswith("loss = MSE + 0.1 SAM + gradient + 0.5 latent L1/L2\n")


def test_train_architecture_option_selects_the_network(cube_path, tmp_path):
    model = tmp_path / "dense.joblib"
    assert main(["train", cube_path, "-o", str(model), *FAST, "--architecture", "dense", "-q"]) == 0
    pipe, _ = load_model(model)
    assert pipe[1].architecture == "dense"
    assert type(pipe[1].net_.module_).__name__ == "DenseAE"


@pytest.mark.parametrize(
    "recipe, scaling, zdims", [(None, "standard", 8), ("segmentation", "standard", 8), ("denoising", "range", 16)]
)
def test_train_for_sets_the_recipe_defaults(tmp_path, recipe, scaling, zdims):
    # 40 bands: the denoising recipe's shrinkage needs bands beyond its 16 latent dimensions.
    cube_path = write(tmp_path / "cube40.tif", make_cube(n_bands=40))
    model = tmp_path / "m.hsiae"
    fast = ["--epochs", "1", "--bands", "40"]
    assert (
        main(["train", cube_path, "-o", str(model), *fast, "-q"] + ([] if recipe is None else ["--for", recipe])) == 0
    )
    pipe, _ = load_model(model)
    assert pipe[0].scaling == scaling and pipe[1].zdims == zdims
    assert pipe[1].sam_weight == (0.0 if recipe == "denoising" else 0.1)
    assert pipe[1].shrinkage == ("wiener" if recipe == "denoising" else None)
    # an explicit option still wins over the recipe
    assert (
        main(
            ["train", cube_path, "-o", str(model), *fast, "-q", "--force", "--zdims", "2"]
            + ([] if recipe is None else ["--for", recipe])
        )
        == 0
    )
    assert load_model(model)[0][1].zdims == 2


@pytest.mark.parametrize(
    "recipe, said",
    [
        (
            "denoising",
            "Training: 72 spectra of 40 bands (the cube's own: a denoising model never "
            "interpolates up to --bands 256), latent size 16",
        ),
        ("segmentation", "Training: 72 spectra, 40 -> 256 bands (resampled), latent size 8"),
    ],
)
def test_train_says_how_many_bands_the_model_sees(tmp_path, capsys, recipe, said):
    cube_path = write(tmp_path / "cube40.tif", make_cube(n_bands=40))
    model = tmp_path / "m.hsiae"
    assert main(["train", cube_path, "-o", str(model), "--epochs", "1", "--for", recipe]) == 0
    assert said in capsys.readouterr().out
    assert load_model(model)[0][0].n_bands_out_ == (40 if recipe == "denoising" else 256)


def test_train_for_denoising_with_too_few_bands_says_what_to_lower(cube_path, tmp_path, capsys):
    model = tmp_path / "m.hsiae"
    assert main(["train", cube_path, "-o", str(model), "--epochs", "1", "-q", "--for", "denoising"]) == 2
    err = capsys.readouterr().err
    # in the command line's words: options, not the library's keyword arguments
    assert "20 bands with --zdims 16 leave 4" in err and "use --zdims 12 or less" in err
    assert "zdims=" not in err and "shrinkage" not in err
    assert not model.exists()
    # the bound it names is the right one: 12 trains
    assert (
        main(["train", cube_path, "-o", str(model), "--epochs", "1", "-q", "--for", "denoising", "--zdims", "12"]) == 0
    )


def test_train_for_denoising_on_a_cube_with_too_few_bands_points_to_segmentation(tmp_path, capsys):
    path = write(tmp_path / "cube8.tif", make_cube(n_bands=8))
    model = tmp_path / "m.hsiae"
    assert main(["train", path, "-o", str(model), "--epochs", "1", "-q", "--for", "denoising", "--zdims", "1"]) == 2
    err = capsys.readouterr().err
    assert "8 bands with --zdims 1 leave 7" in err and "use --for segmentation" in err
    assert not model.exists()


def test_warnings_name_the_options_not_the_keyword_arguments(cube_path, tmp_path, capsys):
    # a one-dimensional code trained in small batches for two epochs stops while its loss still falls:
    # the convergence warning names --epochs and --lr
    argv = ["segment", cube_path, "-k", "2", "-o", str(tmp_path / "seg"), *FAST, "-q"]
    argv[argv.index("--zdims") + 1] = "1"
    assert main([*argv, "--batch-size", "4"]) == 0
    err = capsys.readouterr().err
    assert "hsiae: warning: Training stopped at --epochs 2 with the validation loss still falling: by " in err
    assert "; increase --epochs (or --lr) to train to convergence." in err
    assert "max_epochs" not in err


def test_library_messages_name_the_options_and_keep_everything_else():
    # the library's text is never edited: only the parameters it names are spelled as options
    from hsiae.cli._errors import one_line
    from hsiae.exceptions import Param, ParameterError
    from hsiae.io import CubeFormatError

    err = ParameterError(
        "after {epochs}; increase {name} (or {lr}); shape (n_rows, n_cols, n_bands); "
        "the HSIAE_DATA environment variable; {none}",
        epochs=Param("max_epochs", 2),
        name=Param("max_epochs"),
        lr=Param("lr"),
        none=Param("shrinkage", None),
    )
    assert str(err) == (
        "after max_epochs=2; increase max_epochs (or lr); shape (n_rows, n_cols, n_bands); "
        "the HSIAE_DATA environment variable; shrinkage=None"
    )
    assert one_line(err) == (
        "after --epochs 2; increase --epochs (or --lr); shape (n_rows, n_cols, "
        "n_bands); the HSIAE_DATA environment variable; --for segmentation"
    )
    mat = CubeFormatError("pass {option} naming an array", option=Param("variable", placeholder="NAME"))
    assert (str(mat), one_line(mat)) == ("pass variable=NAME naming an array", "pass --variable NAME naming an array")
    assert one_line(ValueError("zdims=3 stays as it is")) == "zdims=3 stays as it is"


def test_train_quiet_prints_nothing_and_is_reproducible(cube_path, tmp_path, capsys):
    m1, m2 = tmp_path / "a.joblib", tmp_path / "b.joblib"
    assert main(["train", cube_path, "-o", str(m1), *FAST, "-q", "--seed", "3"]) == 0
    assert main(["train", cube_path, "-o", str(m2), *FAST, "-q", "--seed", "3"]) == 0
    assert capsys.readouterr().out == ""
    X = make_cube().reshape(-1, B)
    np.testing.assert_array_equal(load_model(m1)[0].transform(X), load_model(m2)[0].transform(X))


def test_training_progress_reaches_a_log_file_unless_quiet(cube_path, tmp_path, capsys):
    # standard error captured by pytest is not a terminal, as in a batch job writing to a log file
    assert main(["train", cube_path, "-o", str(tmp_path / "a.hsiae"), *FAST]) == 0
    out = capsys.readouterr().out.splitlines()
    progress = [line for line in out if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in progress] == ["epoch 1/2", "epoch 2/2"]
    assert all("training loss" in line and "validation loss" in line for line in progress)
    assert out.index(progress[0]) > next(i for i, line in enumerate(out) if line.startswith("Training:"))
    assert main(["train", cube_path, "-o", str(tmp_path / "b.hsiae"), *FAST, "--quiet"]) == 0
    assert "epoch 1/2" not in capsys.readouterr().out


def test_train_without_validation_leaves_valid_loss_empty(cube_path, tmp_path):
    model = tmp_path / "m.joblib"
    args = ["train", cube_path, "-o", str(model), *FAST, "-q", "--validation-fraction", "0"]
    assert main(args) == 0
    with open(tmp_path / "m_history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(r["valid_loss"] == "" for r in rows)


# --------------------------------------------------------------------------- segment


def check_segment_outputs(outdir, k):
    labels = tifffile.imread(outdir / "labels.tif")
    assert labels.shape == (H, W)
    assert labels.min() >= 1 and labels.max() <= k
    with open(outdir / "cluster_spectra.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    expected = (
        ["band", "wavelength"] + [f"cluster_{c}" for c in range(1, k + 1)] + [f"mean_{c}" for c in range(1, k + 1)]
    )  # the cube's file gives no wavelength units: the column's name has none
    assert rows[0][: len(expected)] == expected
    assert len(rows) == 1 + B  # one row per input band, numbered from 1 as in the file
    assert [int(row[0]) for row in rows[1:]] == list(range(1, B + 1))
    assert float(rows[1][1]) == pytest.approx(WAVELENGTHS[0])
    for name in ("segments.png", "cluster_spectra.png", "latent_maps.png"):
        assert (outdir / name).stat().st_size > 0
    return labels


def test_segment_trains_and_saves_the_model_in_the_safe_format(cube_path, tmp_path, capsys):
    outdir = tmp_path / "new" / "seg"  # created, parents included
    assert main(["segment", cube_path, "-k", "3", "-o", str(outdir), *FAST]) == 0
    labels = check_segment_outputs(outdir, 3)
    assert len(np.unique(labels)) == 3  # three well separated regions
    assert listing(outdir) == sorted(
        [
            "labels.tif",
            "segments.png",
            "cluster_spectra.png",
            "cluster_spectra.csv",
            "latent_maps.png",
            "model.hsiae",
            "model_loss.png",
            "model_history.csv",
        ]
    )
    assert (outdir / "model.hsiae").read_bytes()[:4] == b"PK\x03\x04"  # a zip, not a pickle
    pipe, info = load_model(outdir / "model.hsiae")
    assert info.format == "hsiae"
    assert info.has_segmenter and pipe[-1].n_clusters == 3
    # the recipe's shaded mixture, told where a black spectrum's codes lie
    assert pipe[-1].covariance_type == "shaded"
    np.testing.assert_array_equal(pipe[-1].shade_point_, shade_point(pipe[:-1]))
    # the saved model gives the labels segment wrote
    X = make_cube().reshape(-1, B)
    np.testing.assert_array_equal(pipe.predict(X).reshape(H, W) + 1, labels)
    assert str(outdir / "labels.tif") in capsys.readouterr().out


@pytest.mark.parametrize("chunks", [[], ["--chunks", "5"]], ids=["in memory", "chunked"])
def test_segment_no_figures_writes_the_same_data_files_and_no_png(cube_path, tmp_path, capsys, chunks):
    if chunks:
        pytest.importorskip("dask")
    args = ["segment", cube_path, "-k", "3", *FAST, *chunks]
    assert main([*args, "-o", str(tmp_path / "all"), "-q"]) == 0
    assert main([*args, "-o", str(tmp_path / "data"), "--no-figures"]) == 0
    written = capsys.readouterr().out
    assert ".png" not in written and str(tmp_path / "data" / "labels.tif") in written
    full = listing(tmp_path / "all")
    assert listing(tmp_path / "data") == [name for name in full if not name.endswith(".png")]
    assert len(full) - len(listing(tmp_path / "data")) == 4  # segment map, spectra, latent maps, loss curves
    data, full_run = tmp_path / "data", tmp_path / "all"
    np.testing.assert_array_equal(tifffile.imread(data / "labels.tif"), tifffile.imread(full_run / "labels.tif"))
    assert (data / "cluster_spectra.csv").read_text() == (full_run / "cluster_spectra.csv").read_text()

    def losses(folder):  # the history without its last column, the epochs' durations
        return [line.rsplit(",", 1)[0] for line in (folder / "model_history.csv").read_text().splitlines()]

    assert losses(data) == losses(full_run)


def test_train_no_figures_writes_the_model_and_history_only(cube_path, tmp_path):
    model = tmp_path / "m.hsiae"
    assert main(["train", cube_path, "-o", str(model), *FAST, "-q", "--no-figures"]) == 0
    assert listing(tmp_path) == ["cube.tif", "m.hsiae", "m_history.csv"]


@pytest.mark.parametrize("command", ["segment", "train"])
def test_no_figures_never_imports_matplotlib(cube_path, tmp_path, command):
    # in a fresh interpreter: other tests of this process have imported it
    target = ["-k", "2", "-o", str(tmp_path / "seg")] if command == "segment" else ["-o", str(tmp_path / "m.hsiae")]
    argv = [command, cube_path, *target, *FAST, "-q", "--no-figures"]
    code = f"import sys; from hsiae.cli import main; rc = main({argv!r}); print(rc, 'matplotlib' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.stdout.split() == ["0", "False"], run.stderr


def test_the_demo_has_no_no_figures_option(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo"), "--no-figures"]) == 2
    assert "--no-figures" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_segment_saves_a_joblib_model_only_when_asked(cube_path, tmp_path):
    outdir = tmp_path / "seg"
    args = ["segment", cube_path, "-k", "2", "-o", str(outdir), *FAST, "-q"]
    assert main([*args, "--model-format", "joblib"]) == 0
    assert "model.joblib" in listing(outdir) and "model.hsiae" not in listing(outdir)
    pipe, info = load_model(outdir / "model.joblib")
    assert info.format == "joblib" and pipe[-1].n_clusters == 2


def test_segment_with_model(trained, cube_path, tmp_path):
    outdir = tmp_path / "seg"
    args = ["segment", cube_path, "--model", str(trained), "-k", "2", "-o", str(outdir), "-q"]
    assert main([*args, "--spatial-weight", "0.5"]) == 0
    labels = check_segment_outputs(outdir, 2)
    assert not any(name.startswith("model") for name in listing(outdir))  # nothing was trained
    # the recipe's segmenter on the model's codes, with the model's shade point
    head = load_model(trained)[0][:2]
    seg = make_segmentation_pipeline(2, image_shape=(H, W), random_state=0, spatialgmmsegmenter__spatial_weight=0.5)[-1]
    X = make_cube().reshape(-1, B)
    seg.fit(head.transform(X), shade_point=shade_point(head))
    np.testing.assert_array_equal(seg.labels_.reshape(H, W) + 1, labels)


@pytest.mark.parametrize("option", [["--epochs", "5"], ["--model-format", "joblib"]])
def test_segment_rejects_training_options_with_model(option, trained, cube_path, tmp_path, capsys):
    outdir = tmp_path / "seg"
    args = ["segment", cube_path, "--model", str(trained), "-k", "2", "-o", str(outdir)]
    assert main([*args, *option]) == 2
    assert_one_line_error(capsys, option[0], "--model")
    assert not outdir.exists()


def test_segment_labels_no_data_pixels_0(tmp_path):
    cube = make_cube()
    cube[0, 0] = np.nan  # a non-finite pixel
    cube[5, 6] = -1.0  # a declared no-data pixel
    path = write(tmp_path / "holes.tif", cube, nodata=-1.0)
    outdir = tmp_path / "seg"
    assert main(["segment", path, "-k", "3", "-o", str(outdir), *FAST, "-q"]) == 0
    labels = tifffile.imread(outdir / "labels.tif")
    assert labels[0, 0] == 0 and labels[5, 6] == 0
    assert (labels > 0).sum() == H * W - 2 and labels.max() <= 3


@pytest.mark.parametrize("chunks", [None, "4"])
def test_segment_figures_show_no_data_pixels_as_no_data(tmp_path, monkeypatch, chunks):
    # the latent maps got the codes of the stand-in spectrum at no-data pixels, painted as data
    import hsiae.plotting

    if chunks is not None:
        pytest.importorskip("dask")
    cube = make_cube()
    cube[0, 0] = np.nan
    cube[5, 6] = -1.0
    path = write(tmp_path / "holes.tif", cube, nodata=-1.0)
    shown = {}
    for name in ("plot_latent_maps", "plot_segment_map"):

        def record(data, *args, _name=name, _plot=getattr(hsiae.plotting, name), **kwargs):  # noqa: B008
            shown[_name] = np.array(data, dtype=float)
            return _plot(data, *args, **kwargs)

        monkeypatch.setattr(hsiae.plotting, name, record)
    argv = ["segment", path, "-k", "3", "-o", str(tmp_path / "seg"), *FAST, "-q"]
    assert main(argv + ([] if chunks is None else ["--chunks", chunks, "--sample-size", "72"])) == 0
    holes = np.zeros((H, W), dtype=bool)
    holes[0, 0] = holes[5, 6] = True
    np.testing.assert_array_equal(np.isnan(shown["plot_latent_maps"]).all(axis=2), holes)
    assert not np.isnan(shown["plot_latent_maps"][~holes]).any()
    np.testing.assert_array_equal(shown["plot_segment_map"] < 0, holes)


# --------------------------------------------------------------------------- denoise


@pytest.mark.parametrize(
    "dtype, band_axis",
    [(np.float32, 0), (np.float64, 2), (np.int16, 2), (np.uint16, 0)],
)
def test_denoise_keeps_layout_and_dtype(trained, tmp_path, dtype, band_axis):
    cube = make_cube()
    if np.dtype(dtype).kind in "iu":
        cube = np.round(cube * 1000)  # integer counts, like a camera's
    path = write(tmp_path / "in.tif", cube.astype(dtype), band_axis=band_axis)
    target = tmp_path / "den.tif"
    assert main(["denoise", path, "--model", str(trained), "-o", str(target), "-q"]) == 0
    result, info = read_cube(target, mmap=False)
    _, info_in = read_cube(path)
    assert result.shape == (H, W, B)
    assert result.dtype == np.dtype(dtype)
    assert info.band_axis == info_in.band_axis == band_axis
    np.testing.assert_allclose(info.wavelengths, WAVELENGTHS)
    with tifffile.TiffFile(target) as tif:  # the layout on disk, not only what read_cube reports
        assert len(tif.pages) == (B if band_axis == 0 else 1)
    # the model's reconstruction, cast back (integers rounded and clipped)
    pipe, _ = load_model(trained)
    expected = denoise(pipe, cube.astype(dtype).reshape(-1, B).astype(np.float32)).reshape(H, W, B)
    if np.dtype(dtype).kind in "iu":
        limits = np.iinfo(dtype)
        expected = np.clip(np.rint(expected), limits.min, limits.max)
    np.testing.assert_allclose(result, expected.astype(dtype), rtol=1e-5, atol=1e-6)
    assert not np.array_equal(result, cube.astype(dtype))


def test_denoise_integer_output_is_clipped_to_the_dtype(trained, tmp_path):
    # the model was trained on values in [0, 1]; a uint8 cube of 255s decodes to values far
    # outside what the model knows: whatever comes out must still be valid uint8
    path = write(tmp_path / "in.tif", np.full((H, W, B), 255, dtype=np.uint8))
    target = tmp_path / "d.tif"
    assert main(["denoise", path, "--model", str(trained), "-o", str(target), "-q"]) == 0
    result, _ = read_cube(target)
    assert result.dtype == np.uint8


def test_denoise_refuses_a_cube_with_other_bands(trained, tmp_path, capsys):
    path = write(tmp_path / "other.tif", make_cube(n_bands=24))
    target = tmp_path / "den.tif"
    assert main(["denoise", path, "--model", str(trained), "-o", str(target)]) == 2
    assert_one_line_error(capsys, "20 bands", "24 bands")
    assert not target.exists()
    assert listing(tmp_path) == ["other.tif"]


def test_safe_model_file_through_train_segment_and_denoise(cube_path, tmp_path, capsys):
    """-o model.hsiae writes the safe format; --model reads it; results match the Python API."""
    model = tmp_path / "m.hsiae"
    assert main(["train", cube_path, "-o", str(model), *FAST, "-q"]) == 0
    assert model.read_bytes()[:4] == b"PK\x03\x04"  # a zip archive, not a pickle
    pipe, info = load_model(model)
    assert info.format == "hsiae" and info.n_bands == B
    assert listing(tmp_path) == ["cube.tif", "m.hsiae", "m_history.csv", "m_loss.png"]

    target = tmp_path / "den.tif"
    assert main(["denoise", cube_path, "--model", str(model), "-o", str(target), "-q"]) == 0
    cube = make_cube()
    expected = denoise(pipe, cube.reshape(-1, B)).reshape(cube.shape)
    np.testing.assert_array_equal(read_cube(target)[0], expected)

    outdir = tmp_path / "seg"
    assert (
        main(["segment", cube_path, "--model", str(model), "-k", "3", "-o", str(outdir), "-q", "--threads", "1"]) == 0
    )
    check_segment_outputs(outdir, 3)

    bad = tmp_path / "bad.hsiae"
    bad.write_bytes(b"not a model at all")
    assert main(["denoise", cube_path, "--model", str(bad), "-o", str(tmp_path / "d.tif")]) == 2
    assert_one_line_error(capsys, "bad.hsiae", "not a valid .hsiae model file")


# --------------------------------------------------------------------------- demo


@pytest.mark.slow
def test_demo_writes_every_output_and_overwrites_them(tmp_path, capsys):
    outdir = tmp_path / "demo"
    args = ["demo", "-o", str(outdir), "--size", "16", "--epochs", "2", "--bands", "16"]
    assert main(args) == 0
    out = capsys.readouterr().out
    expected = [
        "band_image.png",
        "cluster_spectra.csv",
        "cluster_spectra.png",
        "labels.tif",
        "latent_maps.png",
        "latent_traversal.png",
        "model.hsiae",
        "model_history.csv",
        "model_loss.png",
        "reconstruction_error.png",
        "scene.tif",
        "segments.png",
        "spectrum.png",
    ]
    assert listing(outdir) == expected
    for name in expected:
        assert str(outdir / name) in out
    assert "adjusted Rand index" in out and "PSNR" in out
    labels = tifffile.imread(outdir / "labels.tif")
    assert labels.shape == (16, 16) and labels.min() >= 1 and labels.max() <= 6
    # the scene it wrote can be segmented with the model it wrote
    assert load_model(outdir / "model.hsiae")[1].format == "hsiae"
    assert (
        main(
            [
                "segment",
                str(outdir / "scene.tif"),
                "--model",
                str(outdir / "model.hsiae"),
                "-k",
                "3",
                "-o",
                str(tmp_path / "again"),
                "-q",
            ]
        )
        == 0
    )

    before = (outdir / "labels.tif").stat().st_mtime_ns
    assert main([*args, "-q"]) == 0  # overwrites its own outputs without --force
    assert (outdir / "labels.tif").stat().st_mtime_ns >= before
    assert listing(outdir) == expected


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["train", "segment", "denoise", "demo"])
def test_help_shows_a_description_and_an_example(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"usage: hsiae {command}" in out
    assert "example" in out and f"hsiae {command} " in out.split("example")[-1]


def test_top_level_help_and_version(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("train", "segment", "denoise", "demo"))
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("hsiae ")
    assert "OVERWRITES" in (main(["demo", "--help"]), capsys.readouterr().out)[1]


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "hsiae", "denoise", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage: hsiae denoise" in result.stdout


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["segment", "{cube}", "-k", "0", "-o", "{tmp}/seg"], "-k"),
        (["train", "{cube}", "-o", "{tmp}/m.joblib", "--bands", "1"], "--bands"),
        (["train", "{cube}", "-o", "{tmp}/m.joblib", "--epochs", "0"], "--epochs"),
        (["train", "{cube}", "-o", "{tmp}/m.joblib", "--epochs", "many"], "--epochs"),
        (["train", "{cube}", "-o", "{tmp}/m.joblib", "--validation-fraction", "1.5"], "--validation-fraction"),
        (["train", "{cube}", "-o", "{tmp}/m.joblib", "--lr", "-0.1"], "--lr"),
        (["train", "{cube}", "-o", "{tmp}/m.joblib", "--lr", "nan"], "--lr"),
        (["train", "{cube}", "-o", "{tmp}/m.joblib", "--band-axis", "1"], "--band-axis"),
        (["train", "{cube}", "-o", "{tmp}/m.joblib", "--seed", "-1"], "--seed"),
        (["train", "{cube}"], "-o"),
        (["segment", "{cube}", "-k", "2", "-o", "{tmp}/seg", "--spatial-weight", "-1"], "--spatial-weight"),
        (["segment", "{cube}", "-k", "100", "-o", "{tmp}/seg", "--epochs", "1"], "-k 100"),
        (["denoise", "{cube}", "--model", "{tmp}/m.joblib", "-o", "{tmp}/den.png"], ".tif"),
        (["demo", "-o", "{tmp}/demo", "--size", "2"], "--size"),
        (["frobnicate"], "frobnicate"),
        ([], "COMMAND"),
    ],
)
def test_impossible_options_fail_in_one_line_without_outputs(args, fragment, cube_path, tmp_path, capsys):
    before = listing(tmp_path)
    args = [a.format(cube=cube_path, tmp=tmp_path) for a in args]
    assert main(args) == 2
    assert_one_line_error(capsys, fragment)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("command", ["train", "segment", "denoise"])
def test_descending_wavelengths_are_explained_in_the_command_lines_words(
    command, trained, tmp_path, capsys, monkeypatch
):
    # some files list their bands from the longest wavelength down; the advice is about the file,
    # not about sorting the columns of an array X
    path = write(tmp_path / "desc.tif", make_cube()[:, :, ::-1].copy(), wavelengths=WAVELENGTHS[::-1].copy())
    _forbid_work(monkeypatch)
    argv = {
        "train": ["-o", str(tmp_path / "m.hsiae")],
        "segment": ["-k", "2", "-o", str(tmp_path / "seg")],
        "denoise": ["--model", str(trained), "-o", str(tmp_path / "d.tif")],
    }[command]
    assert main([command, path, *argv]) == 2
    line = assert_one_line_error(capsys, "desc.tif", "decreasing order (1000 to 400)", "increasing", "bands reversed")
    assert "columns of X" not in line
    assert listing(tmp_path) == ["desc.tif"]


def test_a_model_applied_to_a_finer_grid_over_the_same_range_says_what_differs(trained, tmp_path, capsys):
    finer = write(tmp_path / "finer.tif", make_cube(n_bands=30), wavelengths=np.linspace(400.0, 1000.0, 30))
    assert main(["denoise", finer, "--model", str(trained), "-o", str(tmp_path / "d.tif")]) == 2
    line = assert_one_line_error(capsys, "20 bands", "30 bands")
    # both grids span 400-1000: the message shows their steps, not the same range twice
    assert "every 31.58" in line and "every 20.69" in line
    assert "differ too" not in line


def test_missing_input_file(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.tif"), "-o", str(tmp_path / "m.joblib")]) == 2
    assert_one_line_error(capsys, "nope.tif")
    assert listing(tmp_path) == []


def test_damaged_input_file(tmp_path, capsys):
    damaged = tmp_path / "damaged.tif"
    damaged.write_bytes(np.random.default_rng(0).bytes(1000))
    assert main(["segment", str(damaged), "-k", "2", "-o", str(tmp_path / "seg")]) == 2
    assert_one_line_error(capsys, "damaged.tif")
    assert listing(tmp_path) == ["damaged.tif"]


def test_directory_as_input(tmp_path, capsys):
    (tmp_path / "folder.tif").mkdir()
    assert main(["train", str(tmp_path / "folder.tif"), "-o", str(tmp_path / "m.joblib")]) == 2
    assert_one_line_error(capsys, "folder.tif")


def test_damaged_and_wrong_model_files(cube_path, tmp_path, capsys):
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"not a model at all")
    assert main(["denoise", cube_path, "--model", str(bad), "-o", str(tmp_path / "d.tif")]) == 2
    assert_one_line_error(capsys, "bad.joblib", "not a joblib/pickle file")
    import joblib

    joblib.dump({"weights": [1, 2]}, tmp_path / "other.joblib")
    assert (
        main(["segment", cube_path, "--model", str(tmp_path / "other.joblib"), "-k", "2", "-o", str(tmp_path / "seg")])
        == 2
    )
    assert_one_line_error(capsys, "not an hsiae model file")
    assert listing(tmp_path) == sorted(["bad.joblib", "cube.tif", "other.joblib"])


@pytest.mark.parametrize("command", ["segment", "denoise"])
def test_an_unmixer_model_is_refused_by_the_commands(cube_path, tmp_path, capsys, command):
    from hsiae import AEUnmixer, save_model

    unmixer = AEUnmixer(2, max_epochs=1, random_state=0).fit(make_cube().reshape(-1, B))
    save_model(tmp_path / "unmixer.hsiae", unmixer)
    out = ["-k", "2", "-o", str(tmp_path / "seg")] if command == "segment" else ["-o", str(tmp_path / "d.tif")]
    assert main([command, cube_path, "--model", str(tmp_path / "unmixer.hsiae"), *out]) == 2
    assert_one_line_error(capsys, "unmixer.hsiae' holds an unmixer (AEUnmixer)", "hsiae train")
    assert listing(tmp_path) == ["cube.tif", "unmixer.hsiae"]


def test_existing_output_needs_force(cube_path, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    model.write_bytes(b"precious")
    assert main(["train", cube_path, "-o", str(model), *FAST]) == 2
    assert_one_line_error(capsys, "already exists", "--force")
    assert model.read_bytes() == b"precious"
    assert listing(tmp_path) == ["cube.tif", "m.joblib"]

    # a file that train would write next to the model counts too
    model.unlink()
    (tmp_path / "m_loss.png").write_bytes(b"precious")
    assert main(["train", cube_path, "-o", str(model), *FAST]) == 2
    assert_one_line_error(capsys, "m_loss.png")
    assert not model.exists()

    assert main(["train", cube_path, "-o", str(model), *FAST, "-q", "--force"]) == 0
    assert (tmp_path / "m_loss.png").read_bytes() != b"precious"
    load_model(model)


def test_existing_segment_output_needs_force(trained, cube_path, tmp_path, capsys):
    outdir = tmp_path / "seg"
    outdir.mkdir()
    (outdir / "labels.tif").write_bytes(b"precious")
    args = ["segment", cube_path, "--model", str(trained), "-k", "2", "-o", str(outdir), "-q"]
    assert main(args) == 2
    assert_one_line_error(capsys, "labels.tif", "already exists")
    assert listing(outdir) == ["labels.tif"]
    assert main([*args, "--force"]) == 0
    check_segment_outputs(outdir, 2)


def test_output_folder_that_is_a_file(cube_path, tmp_path, capsys):
    (tmp_path / "seg").write_text("I am a file")
    assert main(["segment", cube_path, "-k", "2", "-o", str(tmp_path / "seg")]) == 2
    assert_one_line_error(capsys, "not a folder")


def test_train_creates_the_model_folder_and_removes_it_when_the_run_fails(cube_path, tmp_path, capsys, monkeypatch):
    # as segment does for its output folder: missing folders are made, and removed with a failed run
    model = tmp_path / "new" / "sub" / "m.hsiae"
    assert main(["train", cube_path, "-o", str(model), *FAST, "-q"]) == 0
    assert listing(tmp_path / "new") == ["sub", "sub/m.hsiae", "sub/m_history.csv", "sub/m_loss.png"]

    import hsiae.cli._outputs

    def broken(*args, **kwargs):
        raise ValueError("plotting broke")

    monkeypatch.setattr(hsiae.cli._outputs, "save_figure", broken)
    other = tmp_path / "other" / "sub" / "m.hsiae"
    assert main(["train", cube_path, "-o", str(other), *FAST, "-q"]) == 2
    assert_one_line_error(capsys, "plotting broke")
    assert not (tmp_path / "other").exists()


def _forbid_reading(monkeypatch):
    """Make reading the cube (or opening it lazily) fail the test."""
    import hsiae.io

    def started(*args, **kwargs):
        raise AssertionError("the run started reading the cube")

    monkeypatch.setattr(hsiae.io, "read_cube", started)
    monkeypatch.setattr(hsiae.io, "open_cube", started)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into folders without write permission"
)
@pytest.mark.parametrize("command", ["train", "segment", "denoise", "unmix", "demo"])
def test_an_output_folder_without_write_permission_fails_before_any_work(
    command, trained, cube_path, tmp_path, capsys, monkeypatch
):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        _forbid_reading(monkeypatch)
        target = {"train": locked / "m.hsiae", "denoise": locked / "d.tif"}.get(command, locked / "out")
        argv = {
            "train": [cube_path, *FAST],
            "segment": [cube_path, "-k", "2", *FAST],
            "denoise": [cube_path, "--model", str(trained)],
            "unmix": [cube_path, "-p", "2"],
            "demo": ["--size", "8", "--epochs", "1"],
        }[command]
        assert main([command, *argv, "-o", str(target)]) == 2
        line = assert_one_line_error(capsys, f"'{locked}'", "Permission denied", "write the outputs elsewhere")
        assert ".tmp" not in line  # the user's path, not a temporary file's
        assert listing(locked) == []
    finally:
        locked.chmod(0o755)


def test_an_output_name_too_long_for_its_folder_fails_before_any_work(cube_path, tmp_path, capsys, monkeypatch):
    # the name fits the file system, but the temporary names it is written under first do not
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    name = "m" * (limit - 19) + ".hsiae"  # 242 characters where names may have 255
    _forbid_reading(monkeypatch)
    assert main(["train", cube_path, "-o", str(tmp_path / name), *FAST]) == 2
    line = assert_one_line_error(capsys, str(tmp_path / name[:-6]), f"up to {limit} characters", "shorten")
    assert ".tmp" not in line
    assert listing(tmp_path) == ["cube.tif"]
    # the length the message asks for works
    shorter = int(line.split("by at least ")[1].split()[0])
    fits = "m" * (limit - 19 - shorter) + ".hsiae"
    monkeypatch.undo()
    assert main(["train", cube_path, "-o", str(tmp_path / fits), *FAST, "-q"]) == 0


def test_an_output_folder_name_too_long_fails_before_any_work(cube_path, tmp_path, capsys, monkeypatch):
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    _forbid_reading(monkeypatch)
    outdir = tmp_path / ("s" * (limit + 1)) / "seg"
    assert main(["segment", cube_path, "-k", "2", "-o", str(outdir), *FAST]) == 2
    assert_one_line_error(capsys, "s" * (limit + 1), f"up to {limit} characters")
    assert listing(tmp_path) == ["cube.tif"]


def test_a_late_failure_removes_every_file_of_the_run(cube_path, tmp_path, capsys, monkeypatch):
    import hsiae.plotting

    def broken(*args, **kwargs):
        raise ValueError("plotting broke")

    monkeypatch.setattr(hsiae.plotting, "plot_latent_maps", broken)
    outdir = tmp_path / "seg"
    assert main(["segment", cube_path, "-k", "2", "-o", str(outdir), *FAST]) == 2
    assert_one_line_error(capsys, "plotting broke")
    assert not outdir.exists()  # created by the run, removed with its files
    assert listing(tmp_path) == ["cube.tif"]

    # with --force, existing outputs survive a failed run untouched
    outdir.mkdir()
    (outdir / "labels.tif").write_bytes(b"old")
    assert main(["segment", cube_path, "-k", "2", "-o", str(outdir), *FAST, "--force"]) == 2
    assert listing(outdir) == ["labels.tif"]
    assert (outdir / "labels.tif").read_bytes() == b"old"


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["train", str(tmp_path / "nope.tif"), "-o", str(tmp_path / "m.joblib"), "--debug"])
    assert listing(tmp_path) == []


def test_errors_do_not_leak_logging_handlers(tmp_path, capsys):
    import logging

    handlers = list(logging.getLogger("hsiae").handlers)
    main(["train", str(tmp_path / "nope.tif"), "-o", str(tmp_path / "m.joblib")])
    assert logging.getLogger("hsiae").handlers == handlers
    capsys.readouterr()
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- memory


def _forbid_work(monkeypatch):
    """Make any use of the cube's pixels by the pipeline fail the test."""
    import hsiae.workflow.fitting
    import hsiae.workflow.usable

    def started(*args, **kwargs):
        raise AssertionError("the run started working on the pixels")

    monkeypatch.setattr(hsiae.workflow.usable, "pixel_spectra", started)


@pytest.mark.parametrize("command", ["train", "segment", "denoise"])
def test_a_cube_too_large_for_memory_is_refused_before_any_work(
    command, trained, cube_path, tmp_path, capsys, monkeypatch
):
    import hsiae.cli._memory

    monkeypatch.setattr(hsiae.cli._memory, "_available_memory", lambda: 1000)
    _forbid_work(monkeypatch)
    args = {
        "train": ["train", cube_path, "-o", str(tmp_path / "m.hsiae")],
        "segment": ["segment", cube_path, "-k", "2", "-o", str(tmp_path / "seg")],
        "denoise": ["denoise", cube_path, "--model", str(trained), "-o", str(tmp_path / "d.tif")],
    }[command]
    assert main(args) == 2
    line = assert_one_line_error(
        capsys,
        f"{H} x {W} x {B} float32 cube",
        "cube.tif",
        "KiB of memory",
        "but 1000 bytes is available",
        "crop the cube",
        "more memory",
    )
    assert line.split("needs about ")[1].split(" KiB")[0].replace(".", "").isdigit(), line
    assert listing(tmp_path) == ["cube.tif"]


@pytest.mark.parametrize(
    "command, argv, option",
    [
        ("segment", ["-k", "1000000"], "-k 1000000"),  # the mixture's responsibilities and covariances
        ("train", ["--bands", "1000000000"], "--bands 1000000000"),  # the resampled spectra
        ("demo", ["--bands", "1000000000"], "--bands 1000000000"),
    ],
)
def test_a_memory_need_driven_by_an_option_names_that_option(
    command, argv, option, cube_path, tmp_path, capsys, monkeypatch
):
    import hsiae.cli._memory

    monkeypatch.setattr(hsiae.cli._memory, "_available_memory", lambda: 2**30)
    _forbid_work(monkeypatch)
    out = str(tmp_path / "out")
    given = {"segment": [cube_path, "-o", out], "train": [cube_path, "-o", out + ".hsiae"], "demo": ["-o", out]}[
        command
    ]
    assert main([command, *given, *argv]) == 2
    line = assert_one_line_error(capsys, "of memory", f"for {option})", f"lower {option.split()[0]}")
    # not the advice for a cube too large, which would not help
    assert "--chunks" not in line and "--size" not in line and "crop" not in line
    assert not os.path.exists(out) and not os.path.exists(out + ".hsiae")


@pytest.mark.parametrize("fmt", ["compressed tiff", "mat v5"])
def test_a_cube_read_whole_is_checked_before_its_pixels_are_loaded(fmt, tmp_path, capsys, monkeypatch):
    import scipy.io

    import hsiae.cli._memory

    cube = make_cube()
    if fmt == "mat v5":
        path = tmp_path / "cube.mat"
        scipy.io.savemat(path, {"cube": cube})

        def load(*args, **kwargs):
            raise AssertionError("pixels loaded")

        monkeypatch.setattr(scipy.io, "loadmat", load)
    else:
        path = tmp_path / "cube.tif"
        tifffile.imwrite(path, np.moveaxis(cube, 2, 0), compression="zlib", photometric="minisblack")
        monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", lambda *a, **k: pytest.fail("pixels loaded"))
    # the run alone fits, the run plus the cube read whole does not
    needed = hsiae.cli._memory._needed_bytes("train", cube.shape, cube.dtype, n_bands_model=B, zdims=3)
    monkeypatch.setattr(hsiae.cli._memory, "_available_memory", lambda: int((needed + cube.nbytes / 2) / 0.9))
    band_axis = "2" if fmt == "mat v5" else "0"
    assert (
        main(
            [
                "train",
                str(path),
                "-o",
                str(tmp_path / "m.hsiae"),
                "--zdims",
                "3",
                "--bands",
                str(B),
                "--band-axis",
                band_axis,
            ]
        )
        == 2
    )
    assert_one_line_error(capsys, f"{H} x {W} x {B}", "of memory", "crop the cube")
    assert listing(tmp_path) == [path.name]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_a_cube_larger_than_the_machine_is_refused_with_real_figures(tmp_path, capsys):
    # a sparse 64 GB .npy file: memory-mapped, so only the check stands between it and training
    path = tmp_path / "huge.npy"
    shape = (40000, 40000, 10)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
        try:
            fh.truncate(fh.tell() + np.prod(shape) * 4)
        except OSError as exc:
            pytest.skip(f"this file system cannot hold a sparse 64 GB file: {exc}")
    with open("/proc/meminfo") as fh:
        available = int(next(line for line in fh if line.startswith("MemAvailable:")).split()[1])
    if available * 1024 > 300 * 2**30:
        pytest.skip("this machine has the memory to train on the 64 GB cube")
    assert main(["train", str(path), "-o", str(tmp_path / "m.hsiae"), "--bands", "10"]) == 2
    line = assert_one_line_error(capsys, "40000 x 40000 x 10 float32 cube", "GiB of memory", "GiB is available")
    needed = float(line.split("needs about ")[1].split(" GiB")[0])
    assert needed >= 2 * np.prod(shape) * 4 / 2**30  # at least the float32 spectra, twice
    assert listing(tmp_path) == ["huge.npy"]


def _array_memory_error():
    try:
        from numpy._core._exceptions import _ArrayMemoryError
    except ImportError:  # numpy < 2
        from numpy.core._exceptions import _ArrayMemoryError
    return _ArrayMemoryError((100000, 100000, 200), np.dtype(np.float32))


@pytest.mark.parametrize(
    "error, fragment",
    [
        (_array_memory_error(), "Unable to allocate 7.28 TiB"),
        (MemoryError(), "ran out of memory;"),
        (
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't "
                "allocate memory: you tried to allocate 400000000000 bytes."
            ),
            "you tried to allocate 400000000000 bytes",
        ),
    ],
)
def test_running_out_of_memory_during_a_run_is_one_line_without_outputs(
    error, fragment, cube_path, tmp_path, capsys, monkeypatch
):
    import hsiae.workflow.fitting
    import hsiae.workflow.usable

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(hsiae.workflow.fitting, "segment_pixels", fail)
    outdir = tmp_path / "seg"
    assert main(["segment", cube_path, "-k", "2", "-o", str(outdir), *FAST]) == 2
    assert_one_line_error(capsys, "ran out of memory", fragment, "crop the cube", "more memory")
    assert listing(tmp_path) == ["cube.tif"]


def test_other_runtime_errors_are_not_reported_as_memory(cube_path, tmp_path, monkeypatch):
    import hsiae.workflow.fitting
    import hsiae.workflow.usable

    def fail(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(hsiae.workflow.fitting, "segment_pixels", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["segment", cube_path, "-k", "2", "-o", str(tmp_path / "seg"), *FAST])
    assert listing(tmp_path) == ["cube.tif"]


# --------------------------------------------------------------------------- damaged input files


def _truncated_tiff(folder):
    path = folder / "cut.tif"
    write(path, make_cube())
    path.write_bytes(path.read_bytes()[:-100])
    return path


def _tiff_named_mat(folder):
    path = folder / "scene.mat"
    write(folder / "scene.tif", make_cube())
    os.replace(folder / "scene.tif", path)
    return path


def _unsupported_suffix(folder):
    path = folder / "scene.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    return path


def _envi(folder, *, lines=H, data=True):
    header = folder / "scene.hdr"
    header.write_text(
        f"ENVI\nsamples = {W}\nlines = {lines}\nbands = {B}\ndata type = 4\ninterleave = bip\nbyte order = 0\n"
    )
    if data:
        (folder / "scene.img").write_bytes(make_cube().tobytes())
    return header


def _mat_without(folder):
    import scipy.io

    path = folder / "scene.mat"
    scipy.io.savemat(path, {"cube": make_cube()})
    return path


DAMAGED_INPUTS = {
    # name: (writes the file and returns its path, extra arguments, fragments of the error)
    "truncated tiff": (_truncated_tiff, [], ["cut.tif", "damaged", "copy or export it again"]),
    "tiff named .mat": (_tiff_named_mat, [], ["scene.mat", "looks like TIFF", "suffix"]),
    "unsupported suffix": (_unsupported_suffix, [], ["'.png' is not supported", "use one of"]),
    "envi header without data": (lambda f: _envi(f, data=False), [], ["ENVI data file of header", "found none"]),
    "envi inconsistent sizes": (
        lambda f: _envi(f, lines=H + 1),
        [],
        ["Expected 6480 bytes", "it has 5760", "check samples, lines"],
    ),
    "mat without the variable": (
        _mat_without,
        ["--variable", "scene"],
        ["variable 'scene'", "it has: cube (8, 9, 20)", "--variable NAME"],
    ),
}


@pytest.mark.parametrize("command", ["train", "segment", "denoise"])
@pytest.mark.parametrize("damage", DAMAGED_INPUTS)
def test_damaged_input_files_fail_in_one_line_without_outputs(damage, command, trained, tmp_path, capsys):
    make, extra, fragments = DAMAGED_INPUTS[damage]
    path = make(tmp_path)
    before = listing(tmp_path)
    args = {
        "train": ["train", str(path), "-o", str(tmp_path / "m.hsiae")],
        "segment": ["segment", str(path), "-k", "2", "-o", str(tmp_path / "seg")],
        "denoise": ["denoise", str(path), "--model", str(trained), "-o", str(tmp_path / "d.tif")],
    }[command]
    assert main([*args, *extra]) == 2
    assert_one_line_error(capsys, *fragments)
    assert listing(tmp_path) == before


def test_unreadable_input_file_fails_in_one_line(cube_path, tmp_path, capsys, monkeypatch):
    import tifffile as tf

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    # as root, chmod cannot make a file unreadable: refuse the open itself
    monkeypatch.setattr(tf, "TiffFile", denied)
    assert main(["segment", cube_path, "-k", "2", "-o", str(tmp_path / "seg")]) == 2
    assert_one_line_error(capsys, "Permission denied", "cube.tif")
    assert listing(tmp_path) == ["cube.tif"]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their permissions"
)
def test_input_file_without_read_permission_fails_in_one_line(cube_path, tmp_path, capsys):
    os.chmod(cube_path, 0)
    try:
        assert main(["train", cube_path, "-o", str(tmp_path / "m.hsiae")]) == 2
    finally:
        os.chmod(cube_path, 0o644)
    assert_one_line_error(capsys, "Permission denied", "cube.tif")
    assert listing(tmp_path) == ["cube.tif"]


# --------------------------------------------------------------------------- --chunks (dask)


def test_segment_chunked_labels_equal_the_saved_model_on_the_whole_image(cube_path, tmp_path):
    pytest.importorskip("dask")
    runs = {}
    for chunks in ("3", "16"):  # 3 is below the halo of spatial_iter=5; 16 holds the whole image
        outdir = tmp_path / f"chunks{chunks}"
        args = [
            "segment",
            cube_path,
            "-k",
            "3",
            "-o",
            str(outdir),
            *FAST,
            "-q",
            "--chunks",
            chunks,
            "--sample-size",
            "50",
        ]
        assert main(args) == 0
        check_segment_outputs(outdir, 3)
        runs[chunks] = tifffile.imread(outdir / "labels.tif")
    np.testing.assert_array_equal(runs["3"], runs["16"])
    pipe, _ = load_model(tmp_path / "chunks3" / "model.hsiae")
    assert pipe[-1].image_shape == (H, W) and pipe[-1].labels_.shape == (50,)  # fitted on the sample
    np.testing.assert_array_equal(pipe[-1].shade_point_, shade_point(pipe[:-1]))
    expected = pipe.predict(make_cube().reshape(-1, B)).reshape(H, W) + 1
    np.testing.assert_array_equal(runs["3"], expected)


def test_denoise_chunked_equals_denoise_in_memory(cube_path, trained, tmp_path):
    pytest.importorskip("dask")
    whole, chunked = tmp_path / "whole.tif", tmp_path / "chunked.tif"
    assert main(["denoise", cube_path, "--model", str(trained), "-o", str(whole), "-q"]) == 0
    assert (
        main(
            [
                "denoise",
                cube_path,
                "--model",
                str(trained),
                "-o",
                str(chunked),
                "-q",
                "--chunks",
                "4",
                "--scheduler",
                "synchronous",
            ]
        )
        == 0
    )
    a, info_a = read_cube(whole)
    b, info_b = read_cube(chunked)
    assert b.dtype == a.dtype and info_b.band_axis == info_a.band_axis
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(info_b.wavelengths, info_a.wavelengths)
    assert listing(tmp_path) == ["chunked.tif", "cube.tif", "whole.tif"]


def test_train_chunked_model_does_not_depend_on_the_chunks(cube_path, tmp_path):
    pytest.importorskip("dask")
    models = []
    for chunks in ("2", "8"):
        model = tmp_path / f"m{chunks}.joblib"
        assert main(["train", cube_path, "-o", str(model), *FAST, "-q", "--chunks", chunks, "--sample-size", "40"]) == 0
        models.append(load_model(model)[0])
    X = make_cube().reshape(-1, B)
    np.testing.assert_array_equal(models[0].transform(X), models[1].transform(X))


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--scheduler", "threads"], ["--scheduler only apply with --chunks"]),
        (["--sample-size", "100"], ["--sample-size only apply with --chunks"]),
        (["--chunks", "0"], ["--chunks", "must be an integer >= 1"]),
        (["--chunks", "8", "--scheduler", "gpu"], ["expected threads, processes, synchronous"]),
        (["--chunks", "8", "--sample-size", "1"], ["--sample-size", ">= 2"]),
    ],
)
def test_chunk_options_are_checked_before_any_work(cube_path, tmp_path, capsys, extra, fragments):
    pytest.importorskip("dask")
    outdir = tmp_path / "out"
    assert main(["segment", cube_path, "-k", "3", "-o", str(outdir), *FAST, *extra]) == 2
    assert_one_line_error(capsys, *fragments)
    assert not outdir.exists()


def test_unreachable_dask_scheduler_is_one_line_and_no_output(cube_path, trained, tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    import hsiae.cli._inputs

    monkeypatch.setattr(hsiae.cli._inputs, "_CONNECT_TIMEOUT", "1s")
    target = tmp_path / "den.tif"
    args = [
        "denoise",
        cube_path,
        "--model",
        str(trained),
        "-o",
        str(target),
        "--chunks",
        "4",
        "--scheduler",
        "tcp://127.0.0.1:9",
    ]
    assert main(args) == 2
    assert_one_line_error(capsys, "could not connect to the dask scheduler at tcp://127.0.0.1:9")
    assert listing(tmp_path) == ["cube.tif"]


def _cgroup_files(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


GiB = 2**30


@pytest.mark.parametrize(
    "layout, expected",
    [
        # cgroup v2, a limited job: limit - usage + inactive page cache
        (
            {
                "proc": "0::/job.slice/job_42\n",
                "sys/job.slice/job_42/memory.max": f"{8 * GiB}\n",
                "sys/job.slice/job_42/memory.current": f"{3 * GiB}\n",
                "sys/job.slice/job_42/memory.stat": f"anon 123\ninactive_file {GiB}\nactive_file 5\n",
            },
            6 * GiB,
        ),
        # v2 without a limit anywhere
        (
            {
                "proc": "0::/user.slice\n",
                "sys/user.slice/memory.max": "max\n",
                "sys/user.slice/memory.current": f"{GiB}\n",
            },
            None,
        ),
        # v2: a tighter limit on the parent counts
        (
            {
                "proc": "0::/a/b\n",
                "sys/a/b/memory.max": f"{8 * GiB}\n",
                "sys/a/b/memory.current": f"{GiB}\n",
                "sys/a/memory.max": f"{4 * GiB}\n",
                "sys/a/memory.current": f"{2 * GiB}\n",
            },
            2 * GiB,
        ),
        # v1 inside a container: the recorded path is not mounted; the group is the mount's root
        (
            {
                "proc": "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n",
                "sys/memory/memory.limit_in_bytes": f"{2 * GiB}\n",
                "sys/memory/memory.usage_in_bytes": f"{GiB}\n",
                "sys/memory/memory.stat": f"inactive_file 7\ntotal_inactive_file {GiB // 2}\n",
            },
            GiB + GiB // 2,
        ),
        # v1 unlimited (2**63 rounded to a page), as on most desktops
        (
            {
                "proc": "4:memory:/\n",
                "sys/memory/memory.limit_in_bytes": "9223372036854771712\n",
                "sys/memory/memory.usage_in_bytes": f"{GiB}\n",
            },
            None,
        ),
        # no cgroup file at all (not Linux)
        ({}, None),
    ],
)
def test_the_memory_check_reads_the_control_group_limit(tmp_path, layout, expected):
    from hsiae.cli._memory import _cgroup_available

    layout = dict(layout)
    proc = layout.pop("proc", None)
    _cgroup_files(tmp_path, layout)
    if proc is not None:
        (tmp_path / "cgroup").write_text(proc)
    assert _cgroup_available(tmp_path / "cgroup", tmp_path / "sys") == expected


def test_a_job_limit_smaller_than_the_machine_refuses_the_run_and_says_why(cube_path, tmp_path, capsys, monkeypatch):
    import hsiae.cli._memory

    monkeypatch.setattr(hsiae.cli._memory, "_machine_available", lambda: 64 * GiB)
    monkeypatch.setattr(hsiae.cli._memory, "_cgroup_available", lambda: 1000)
    _forbid_work(monkeypatch)
    assert main(["train", cube_path, "-o", str(tmp_path / "m.hsiae")]) == 2
    assert_one_line_error(capsys, "but 1000 bytes is available under this process's control-group memory limit")
    # and a machine with less free memory than the job's limit is judged by the machine
    monkeypatch.setattr(hsiae.cli._memory, "_cgroup_available", lambda: 64 * GiB)
    monkeypatch.setattr(hsiae.cli._memory, "_machine_available", lambda: 1000)
    assert main(["train", cube_path, "-o", str(tmp_path / "m.hsiae")]) == 2
    line = assert_one_line_error(capsys, "but 1000 bytes is available;")
    assert "control-group" not in line


def test_help_version_and_usage_errors_load_nothing_heavy():
    # torch, scikit-learn and the file readers take seconds to import: a command line that only
    # prints help or an error must answer without them
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from hsiae.cli import main\n"
        "codes = [main(['--help']), main(['--version']), main(['segment', 'x.tif', '-k', '0']), main(['train'])]\n"
        "heavy = ('torch', 'skorch', 'sklearn', 'scipy', 'matplotlib', 'tifffile', 'h5py', 'dask', 'numpy')\n"
        "print(codes, [m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[0, 0, 2, 2] []"


def test_latent_constraints_and_device_reach_the_encoder(cube_path, tmp_path, capsys):
    model = tmp_path / "m.hsiae"
    assert (
        main(
            [
                "train",
                cube_path,
                "-o",
                str(model),
                *FAST,
                "-q",
                "--latent-activation",
                "relu",
                "--latent-l1",
                "0.01",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    encoder = load_model(model)[0][1]
    assert (encoder.latent_activation, encoder.latent_l1, encoder.device) == ("relu", 0.01, "cpu")
    assert main(["train", cube_path, "-o", str(tmp_path / "d.hsiae"), *FAST, "--device", "bogus"]) == 2
    assert_one_line_error(capsys, "--device bogus is not a torch device")
    assert not (tmp_path / "d.hsiae").exists()
    assert (
        main(["segment", cube_path, "--model", str(model), "-k", "2", "--latent-l1", "0.1", "-o", str(tmp_path / "s")])
        == 2
    )
    assert_one_line_error(capsys, "--latent-l1 only apply when segment trains a model")


@pytest.mark.parametrize(
    "name, status, word", [("SIGTERM", 143, "terminated"), ("SIGINT", 130, "interrupted"), ("SIGHUP", 129, "hung up")]
)
def test_a_killed_run_leaves_nothing_behind(tmp_path, name, status, word):
    # SIGTERM (a batch system's kill), Ctrl-C and SIGHUP (the terminal closed) stop the run, not
    # just its training (skorch would carry on after a KeyboardInterrupt): no output, no temporary
    # file
    import signal
    import time

    if not hasattr(signal, name):
        pytest.skip(f"no {name} on this platform")

    cube = write(tmp_path / "cube.tif", make_cube())
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hsiae",
            "segment",
            cube,
            "-k",
            "2",
            "-o",
            str(out),
            "--epochs",
            "500",
            "--threads",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:  # wait until training runs
        if line.startswith("epoch "):
            break
    time.sleep(0.5)
    proc.send_signal(getattr(signal, name))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert f"hsiae: {word}; no output was written" in err
    assert listing(tmp_path) == ["cube.tif"]


def test_a_signal_that_lands_where_python_drops_exceptions_still_stops_the_run(
    cube_path, tmp_path, capsys, monkeypatch
):
    # a SIGTERM handled while a weakref callback runs (as when an import's module lock is freed)
    # raised inside the callback, where Python prints and drops exceptions: the run went on and
    # wrote every output with exit status 0
    import signal
    import threading
    import time
    import weakref

    import hsiae.cli._outputs

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are only installed in the main thread")
    save_figure = hsiae.cli._outputs.save_figure

    class Lock:
        pass

    def save_after_a_signal_in_a_callback(*args, **kwargs):
        def freed(ref):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs here, inside the callback

        lock = Lock()
        ref = weakref.ref(lock, freed)
        del lock
        assert ref() is None
        time.sleep(0.5)
        return save_figure(*args, **kwargs)

    monkeypatch.setattr(hsiae.cli._outputs, "save_figure", save_after_a_signal_in_a_callback)
    out = tmp_path / "seg"
    assert main(["segment", cube_path, "-k", "2", "-o", str(out), *FAST, "-q"]) == 143
    err = capsys.readouterr().err
    assert "hsiae: terminated; no output was written" in err
    assert "Exception ignored" not in err
    assert not out.exists()


@pytest.mark.parametrize("chunks", [[], ["--chunks", "4"]], ids=["in memory", "chunked"])
def test_drop_bands_gives_what_a_cube_without_those_bands_gives(tmp_path, capsys, chunks):
    # --drop-bands 1-2,20 (numbered from 1) is the cube with bands 3-19 only: same labels, same model
    cube = make_cube()
    full = write(tmp_path / "full.tif", cube)
    part = write(tmp_path / "part.tif", cube[:, :, 2:19], wavelengths=WAVELENGTHS[2:19])
    args = ["-k", "2", *FAST, "--seed", "3", "--no-figures", "-q", *chunks]
    assert main(["segment", full, "--drop-bands", "20,1-2", "-o", str(tmp_path / "a"), *args]) == 0
    assert main(["segment", part, "-o", str(tmp_path / "b"), *args]) == 0
    a, b = (tifffile.imread(tmp_path / name / "labels.tif") for name in "ab")
    np.testing.assert_array_equal(a, b)
    with open(tmp_path / "a" / "cluster_spectra.csv", newline="") as fh:
        assert [int(row[0]) for row in list(csv.reader(fh))[1:]] == list(range(3, 20))  # the file's numbers
    capsys.readouterr()

    model = tmp_path / "m.hsiae"
    assert main(["train", full, "--drop-bands", "1-2,20", "-o", str(model), *FAST, *chunks]) == 0
    assert "Left out 3 bands (--drop-bands): 1-2,20; 17 bands remain" in capsys.readouterr().out
    pipe, info = load_model(model)
    assert pipe[0].n_features_in_ == 17
    np.testing.assert_allclose(info.wavelengths, WAVELENGTHS[2:19])
    # applied with the same bands left out: the denoised cube has those 17 bands and their wavelengths
    out = tmp_path / "den.tif"
    assert main(["denoise", full, "--model", str(model), "--drop-bands", "1,2,20", "-o", str(out), *chunks]) == 0
    denoised, den_info = read_cube(out)
    assert denoised.shape == (H, W, 17)
    np.testing.assert_allclose(den_info.wavelengths, WAVELENGTHS[2:19])
    capsys.readouterr()
    # without them, the model's bands do not match, and the message says what to do
    assert main(["denoise", full, "--model", str(model), "-o", str(tmp_path / "d2.tif"), *chunks]) == 2
    assert_one_line_error(
        capsys, "trained on cubes with 17 bands", f"has {B} bands", "the model's 17 bands are bands of this cube: "
        "pass --drop-bands 1-2,20 to leave out the others",
    )  # fmt: skip
    assert main(["denoise", full, "--model", str(model), "--drop-bands", "20", "-o", str(tmp_path / "d3.tif")]) == 2
    assert_one_line_error(capsys, "pass --drop-bands 1-2,20 to leave out the others")  # with the band given
    # without wavelengths to tell which bands the model's are, the advice is general
    bare = write(tmp_path / "bare.tif", cube, wavelengths=None)
    assert main(["denoise", bare, "--model", str(model), "-o", str(tmp_path / "d4.tif")]) == 2
    assert_one_line_error(capsys, "leave out the same ones as in training")


@pytest.mark.parametrize(
    "bands, message",
    [
        ("21", f"--drop-bands names band 21, but '{{cube}}' has {B} bands (numbered 1 to {B})"),
        # checked as a range, never listed number by number: no memory filled before the check
        ("3-999999999999", f"--drop-bands names band 999999999999, but '{{cube}}' has {B} bands"),
        (f"1-{B - 1}", f"--drop-bands leaves 1 of the {B} bands of '{{cube}}', but hsiae needs spectra of at least 2"),
        ("0", "bands are numbered from 1 and a range goes up (as 108-112), got '0'"),
        ("5-3", "got '5-3' in '5-3'"),
        ("1,x", "expected band numbers and ranges separated by commas, like 1-3,108-112,224, got '1,x'"),
    ],
)
def test_drop_bands_that_do_not_fit_the_cube_are_refused_before_any_work(cube_path, tmp_path, capsys, bands, message):
    out = tmp_path / "seg"
    assert main(["segment", cube_path, "-k", "2", "-o", str(out), "--drop-bands", bands, *FAST]) == 2
    assert_one_line_error(capsys, message.format(cube=cube_path))
    assert not out.exists()


def test_no_output_replaces_the_input_even_with_force(tmp_path, capsys):
    # train's -o named like its input is refused for its extension (tested below)
    out = tmp_path / "out"
    out.mkdir()
    name = "labels.tif"
    cube = write(out / name, make_cube())
    before = open(cube, "rb").read()
    assert main(["segment", cube, "-k", "2", "-o", str(out), *FAST, "--force"]) == 2
    assert_one_line_error(capsys, f"would replace the input '{cube}'")
    assert open(cube, "rb").read() == before
    assert listing(out) == [name]


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_train_writes_a_model_only_under_a_model_extension(tmp_path, capsys, force):
    # -o cube.tif --force used to replace the input cube with a pickle; any name but .hsiae,
    # .joblib or .pkl is refused before any work, naming the accepted extensions
    cube = write(tmp_path / "cube.tif", make_cube())
    before = open(cube, "rb").read()
    for target in (cube, str(tmp_path / "model.tif"), str(tmp_path / "model")):
        assert main(["train", cube, "-o", target, *FAST, *force]) == 2
        assert_one_line_error(capsys, f"got '{target}'", ".hsiae", ".joblib / .pkl")
    assert open(cube, "rb").read() == before
    assert listing(tmp_path) == ["cube.tif"]


@pytest.mark.parametrize("command", ["train", "segment"])
@pytest.mark.parametrize("spelling", ["symlink", "dotted", "hardlink"])
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_no_output_replaces_the_input_under_another_name(tmp_path, capsys, command, spelling, force):
    # the same file reached through a link or another spelling of its path is still the input
    out = tmp_path / "out"
    out.mkdir()
    real = write(tmp_path / "cube.tif", make_cube())
    before = open(real, "rb").read()
    name = {"train": "model.hsiae", "segment": "labels.tif"}[command]
    if spelling == "symlink":  # the output is a link to the input
        os.symlink(real, out / name)
        cube, outdir = real, str(out)
    elif spelling == "hardlink":
        os.link(real, out / name)
        cube, outdir = real, str(out)
    else:  # the input is the output, reached by another path
        os.replace(real, out / name)
        real = str(out / name)
        cube, outdir = str(tmp_path / "out" / ".." / "out" / name), f"{tmp_path}/./out/"
    args = {"train": ["-o", os.path.join(outdir, name)], "segment": ["-k", "2", "-o", outdir]}
    assert main([command, cube, *args[command], *FAST, *force]) == 2
    assert_one_line_error(capsys, "would replace the input")
    assert open(real, "rb").read() == before


@pytest.mark.parametrize("command", ["segment", "denoise", "unmix"])
def test_a_model_under_another_name_is_refused_without_being_unpickled(cube_path, tmp_path, capsys, command):
    import pickle

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.model"
    evil.write_bytes(pickle.dumps(_Boom(marker)))
    out = {
        "segment": ["-k", "2", "-o", str(tmp_path / "seg")],
        "denoise": ["-o", str(tmp_path / "d.tif")],
        "unmix": ["-o", str(tmp_path / "u")],
    }
    assert main([command, cube_path, "--model", str(evil), *out[command]]) == 2
    assert_one_line_error(capsys, "evil.model", ".hsiae", ".joblib / .pkl")
    assert not marker.exists()
    assert listing(tmp_path) == ["cube.tif", "evil.model"]


def test_a_pickled_model_is_loaded_with_a_warning_line(trained, cube_path, tmp_path, capsys):
    assert main(["denoise", cube_path, "--model", str(trained), "-o", str(tmp_path / "d.tif"), "-q"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if "pickle" in line] == [
        f"hsiae: warning: '{trained}' is a pickle: loading it runs code from the file. Load only "
        f"models from sources you trust; share models as .hsiae files, which never run code."
    ]


class _Boom:
    """Unpickling this creates ``marker``: proof that something ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


# --------------------------------------------------------------------------- two runs, one folder


def _race(monkeypatch, on):
    """Let ``on(final)`` act as another run just before this run moves each output in place."""
    import hsiae.io

    real = hsiae.io.commit

    def commit(tmp, final, **kwargs):
        on(final)
        return real(tmp, final, **kwargs)

    monkeypatch.setattr(hsiae.io, "commit", commit)


def test_an_output_another_run_writes_meanwhile_is_never_replaced(cube_path, tmp_path, capsys, monkeypatch):
    # the other run writes the history after this run's checks, while it commits the model and
    # the loss curves: this run stops with a clear error and takes back only its own two files
    out = tmp_path / "out"
    out.mkdir()

    def other_run(final):
        if final.name == "m_history.csv":
            final.write_text("the other run's")

    _race(monkeypatch, other_run)
    assert main(["train", cube_path, "-o", str(out / "m.hsiae"), *FAST, "-q"]) == 2
    assert_one_line_error(capsys, f"'{out / 'm_history.csv'}' already exists", "--force")
    assert listing(out) == ["m_history.csv"]
    assert (out / "m_history.csv").read_text() == "the other run's"


def test_a_failed_run_with_force_puts_back_what_it_replaced(cube_path, tmp_path, capsys, monkeypatch):
    # --force replaces the other run's model (as asked), then the run fails before its end: the
    # other run's model comes back, and nothing of this run is left
    out = tmp_path / "out"
    out.mkdir()

    def other_run_then_failure(final):
        if final.name == "m.hsiae":
            final.write_text("the other run's model")
        if final.name == "m_history.csv":
            raise OSError("No space left on device")

    _race(monkeypatch, other_run_then_failure)
    assert main(["train", cube_path, "-o", str(out / "m.hsiae"), *FAST, "-q", "--force"]) == 2
    assert_one_line_error(capsys, "No space left on device")
    assert listing(out) == ["m.hsiae"]
    assert (out / "m.hsiae").read_text() == "the other run's model"


def test_a_failed_run_never_removes_a_file_another_run_put_in_its_place(cube_path, tmp_path, capsys, monkeypatch):
    # this run moved its model in; another run (with --force) replaced it; then this run fails:
    # its rollback sees that the model is no longer its own file and leaves it
    out = tmp_path / "out"
    out.mkdir()

    def other_run_then_failure(final):
        if final.name == "m_loss.png":
            other = out / ".other.tmp"
            other.write_text("the other run's model")
            os.replace(other, out / "m.hsiae")
        if final.name == "m_history.csv":
            raise OSError("No space left on device")

    _race(monkeypatch, other_run_then_failure)
    assert main(["train", cube_path, "-o", str(out / "m.hsiae"), *FAST, "-q"]) == 2
    assert_one_line_error(capsys, "No space left on device")
    assert listing(out) == ["m.hsiae"]
    assert (out / "m.hsiae").read_text() == "the other run's model"


# --------------------------------------------------------------------------- --nodata and --mask

FILL = -9999.0
HOLES = ([0, 2, 5, 7], [0, 5, 1, 8])  # four fill pixels, rows and columns


def holes_mask():
    """True = usable pixel, False at the fill pixels."""
    mask = np.ones((H, W), bool)
    mask[HOLES] = False
    return mask


def write_as(path, cube):
    """``cube`` in a file that declares no no-data value (.npy, .mat or an untagged TIFF)."""
    if path.suffix == ".npy":
        np.save(path, cube)
    elif path.suffix == ".mat":
        import scipy.io

        scipy.io.savemat(path, {"cube": cube})
    else:
        tifffile.imwrite(path, cube, photometric="minisblack", planarconfig="contig", metadata=None)
    return str(path)


def labels_of(args, outdir):
    assert main([*args, "-o", str(outdir), "-q"]) == 0
    return tifffile.imread(outdir / "labels.tif")


@pytest.mark.parametrize(
    "command, fate",
    [("train", ""), ("segment", ", labelled 0"), ("denoise", ", copied unchanged")],
)
def test_the_log_says_what_each_command_writes_for_no_data_pixels(trained, tmp_path, capsys, command, fate):
    # "labelled 0" was said by every command, though only segment labels pixels
    filled = make_cube()
    filled[HOLES] = FILL
    path = write(tmp_path / "filled.tif", filled)
    args = {
        "train": ["train", path, "-o", str(tmp_path / "m.hsiae"), *FAST],
        "segment": ["segment", path, "-k", "2", "--model", str(trained), "-o", str(tmp_path / "s"), "--no-figures"],
        "denoise": ["denoise", path, "--model", str(trained), "-o", str(tmp_path / "d.tif")],
    }[command]
    assert main([*args, "--nodata", "-9999"]) == 0
    n_holes = int((~holes_mask()).sum())
    assert f"{n_holes} of {H * W} pixels are no-data or non-finite: left out{fate}\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    "suffix, chunks",
    [(".npy", []), (".mat", []), (".tif", []), (".npy", ["--chunks", "4"]), (".tif", ["--chunks", "5"])],
)
def test_segment_nodata_labels_fill_pixels_0_and_splits_the_rest_as_without_them(trained, tmp_path, suffix, chunks):
    from sklearn.metrics import adjusted_rand_score

    cube = make_cube()
    filled = cube.copy()
    filled[HOLES] = FILL
    path = write_as(tmp_path / f"filled{suffix}", filled)
    clean = write_as(tmp_path / f"clean{suffix}", cube)
    mask = tmp_path / "mask.npy"
    np.save(mask, holes_mask().astype(np.uint8))  # nonzero = usable
    run = ["segment", "-k", "3", "--model", str(trained), "--threads", "1", "--band-axis", "2", *chunks]

    unmarked = labels_of([*run, path], tmp_path / "unmarked")
    labels = labels_of([*run, path, "--nodata", "-9999"], tmp_path / "nodata")
    masked = labels_of([*run, clean, "--mask", str(mask)], tmp_path / "masked")
    without = labels_of([*run, clean], tmp_path / "clean")

    # without --nodata the fill pixels are data: they take a cluster of their own
    assert len(set(unmarked[HOLES])) == 1 and unmarked[HOLES][0] not in unmarked[holes_mask()]
    # with it they are no data, labelled 0, and the others are split as without them
    assert (labels[HOLES] == 0).all() and (labels[holes_mask()] > 0).all()
    np.testing.assert_array_equal(labels, masked)
    assert adjusted_rand_score(labels[holes_mask()], without[holes_mask()]) == 1.0
    assert len(np.unique(labels[holes_mask()])) == 3


@pytest.mark.parametrize("chunks", [[], ["--chunks", "4", "--sample-size", "72"]])
def test_train_leaves_fill_and_masked_pixels_out(tmp_path, chunks):
    cube = make_cube()
    filled = cube.copy()
    filled[HOLES] = FILL
    path = write(tmp_path / "filled.tif", filled)
    clean = write(tmp_path / "clean.tif", cube)
    mask = tmp_path / "mask.tif"
    tifffile.imwrite(mask, holes_mask())  # a TIFF of booleans (stored as uint8 0/1)
    X = cube.reshape(-1, B)
    transforms = []
    for name, args in [
        ("nodata", [path, "--nodata", "-9999"]),
        ("mask", [clean, "--mask", str(mask)]),
        ("unmarked", [path]),
    ]:
        model = tmp_path / f"{name}.hsiae"
        assert main(["train", *args, "-o", str(model), *FAST, "-q", *chunks]) == 0
        transforms.append(load_model(model)[0].transform(X))
    np.testing.assert_array_equal(transforms[0], transforms[1])
    assert not np.allclose(transforms[0], transforms[2])  # the fill pixels trained that one


@pytest.mark.parametrize("declared", ["tag", "option"])
def test_denoise_compares_an_int32_fill_value_exactly_in_memory_and_in_chunks(trained, tmp_path, capsys, declared):
    # 2**24 + 1 and 2**24 are one float32 value; the fill value is compared in the file's dtype
    fill = 2**24 + 1
    cube = np.round(make_cube() * 1000).astype(np.int32)
    cube[1, 1] = fill
    cube[2, 2] = fill - 1
    path = tmp_path / "int32.tif"
    if declared == "tag":  # as write_cube wrote it before: tifffile logged a ValueError for it
        tifffile.imwrite(
            path,
            cube,
            photometric="minisblack",
            planarconfig="contig",
            metadata=None,
            extratags=[(42113, "s", 0, f"{fill}.0", True)],
        )
        option = []
    else:
        write_as(path, cube)
        option = ["--nodata", str(fill)]
    results = []
    for chunks in ([], ["--chunks", "4", "--scheduler", "synchronous"]):
        target = tmp_path / f"den{len(chunks)}.tif"
        assert main(["denoise", str(path), "--model", str(trained), "-o", str(target), "-q", *option, *chunks]) == 0
        err = capsys.readouterr().err  # no stray line of tifffile's under -q, only the pickle's warning
        assert [line for line in err.splitlines() if "is a pickle" not in line] == []
        result, info = read_cube(target)
        assert result.dtype == np.int32 and info.nodata == fill
        np.testing.assert_array_equal(result[1, 1], cube[1, 1])  # no data: copied
        assert (result[2, 2] != cube[2, 2]).all()  # data: denoised, on both paths
        with tifffile.TiffFile(target) as tif:
            assert tif.pages[0].tags.valueof(42113) == str(fill)
        results.append(np.array(result))
    # float32 arithmetic on values near 2**24: the batches differ, so a count or two
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6, atol=2)


def test_nodata_none_ignores_the_files_value_and_says_so(tmp_path, capsys):
    cube = make_cube()
    cube[5, 6] = -1.0
    path = write(tmp_path / "holes.tif", cube, nodata=-1.0)
    assert main(["segment", path, "-k", "3", "-o", str(tmp_path / "declared"), *FAST]) == 0
    assert f"No-data value -1, as '{path}' declares" in capsys.readouterr().out
    assert tifffile.imread(tmp_path / "declared" / "labels.tif")[5, 6] == 0
    assert main(["segment", path, "-k", "3", "-o", str(tmp_path / "ignored"), *FAST, "--nodata", "none"]) == 0
    out = capsys.readouterr().out
    assert f"No fill value (--nodata none): the -1 that '{path}' declares is ignored" in out
    assert tifffile.imread(tmp_path / "ignored" / "labels.tif")[5, 6] > 0
    assert main(["segment", path, "-k", "3", "-o", str(tmp_path / "other"), *FAST, "--nodata", "0.5"]) == 0
    assert f"No-data value 0.5 (--nodata), in place of the -1 that '{path}' declares" in capsys.readouterr().out


@pytest.mark.parametrize(
    "mask, fragments",
    [
        (
            lambda d: np.save(d / "m.npy", np.ones((W, H), bool)),
            ["--mask", "m.npy", "is 9 x 8 pixels", "the cube", "is 8 x 9 pixels"],
        ),
        (
            lambda d: tifffile.imwrite(d / "m.tif", np.ones((H, W, 3), np.uint8), photometric="rgb"),
            ["--mask", "m.tif", "3-D array of shape (8, 9, 3)", "one value per pixel"],
        ),
        (lambda d: (d / "m.png").write_bytes(b"\x89PNG"), ["--mask", "m.png", ".tif", ".npy"]),
        (lambda d: None, ["--mask", "m.npy", "No such mask file"]),
        (lambda d: np.save(d / "m.npy", np.zeros((H, W), bool)), ["--mask", "m.npy", "no pixel", "nonzero"]),
    ],
)
@pytest.mark.parametrize("command", ["train", "segment", "denoise", "unmix"])
def test_a_bad_mask_is_refused_in_one_line_before_any_work(
    trained, cube_path, tmp_path, capsys, monkeypatch, mask, fragments, command
):
    folder = tmp_path / "masks"
    folder.mkdir()
    mask(folder)
    name = next((p.name for p in folder.iterdir()), "m.npy")
    _forbid_work(monkeypatch)
    out = tmp_path / "out"
    args = {
        "train": ["train", cube_path, "-o", str(out / "m.hsiae")],
        "segment": ["segment", cube_path, "-k", "2", "-o", str(out)],
        "denoise": ["denoise", cube_path, "--model", str(trained), "-o", str(out / "d.tif")],
        "unmix": ["unmix", cube_path, "-p", "2", "-o", str(out)],
    }[command]
    out.mkdir()
    assert main([*args, "--mask", str(folder / name)]) == 2
    assert_one_line_error(capsys, *fragments)
    assert listing(out) == []


def test_nodata_must_be_a_number(cube_path, tmp_path, capsys):
    assert main(["train", cube_path, "-o", str(tmp_path / "m.hsiae"), "--nodata", "zero"]) == 2
    assert_one_line_error(capsys, "--nodata", "expected a number or none, got 'zero'")

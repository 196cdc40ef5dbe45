"""Command-line interface: ``hsiae train | segment | denoise | demo``.

Every command validates its options and output paths before reading a cube
or training, writes each output to a temporary file beside its target and
moves all of them into place only when the whole run has succeeded, so a
failed run leaves no output behind (and, without ``--force``, never touches
an existing file). User errors (missing or damaged files, existing outputs,
impossible options) print one line ``hsiae: error: ...`` on stderr and exit
with status 2; ``--debug`` shows the traceback instead.
"""

import argparse
import contextlib
import csv
import logging
import math
import os
import sys
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["main"]

_DPI = 120
_DEMO_DEFAULTS = {
    "size": 64, "epochs": 40, "bands": 64, "zdims": 8, "k": 6, "seed": 0, "threads": 1,
}  # fmt: skip
# Demo training settings chosen so that it runs in well under 2 minutes on 2 cores.
_DEMO_TRAINING = {"batch_size": 64, "lr": 3e-3, "patience": 5}
_DEMO_NOISE = 0.03
_TRAINING_OPTIONS = ("architecture", "zdims", "epochs", "bands", "batch_size", "lr",
                     "validation_fraction")


class CLIError(Exception):
    """An impossible option or command line; printed as one line, exit status 2."""


# --------------------------------------------------------------------------- argument parsing


class _ArgumentParser(argparse.ArgumentParser):
    """Reports usage errors as an exception, so that main() prints them as one line."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


def _int_at_least(minimum, maximum=None):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {value}")
        return value

    return parse


def _float_in(low, high=math.inf, *, low_open=False, high_open=True):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if not math.isfinite(value) or too_low or too_high:
            lo = f"{'>' if low_open else '>='} {low:g}"
            hi = "" if high == math.inf else f" and {'<' if high_open else '<='} {high:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {lo}{hi}, got {text}")
        return value

    return parse


def _library_defaults():
    """Training defaults of hsiae.make_segmentation_pipeline, the single source of truth."""
    from hsiae import make_segmentation_pipeline

    params = make_segmentation_pipeline(2).get_params()
    return {
        "bands": params["spectralresampler__n_bands"],
        "zdims": params["aedencoder__zdims"],
        "epochs": params["aedencoder__max_epochs"],
        "batch_size": params["aedencoder__batch_size"],
        "lr": params["aedencoder__lr"],
        "validation_fraction": params["aedencoder__validation_fraction"],
        "spatial_weight": params["spatialgmmsegmenter__spatial_weight"],
        "architecture": params["aedencoder__architecture"],
    }


def _add_general(parser, *, force=True, threads=None):
    group = parser.add_argument_group("general options")
    if force:
        group.add_argument("--force", action="store_true", help="overwrite existing output files")
    group.add_argument("--threads", type=_int_at_least(1), default=threads, metavar="N",
                       help="CPU threads for torch (default: "
                            + ("torch's own choice, usually one per core)" if threads is None else
                               f"{threads}: the demo's small network runs fastest on one thread, "
                               f"and much slower on threads other programs compete for)"))
    group.add_argument("-q", "--quiet", action="store_true",
                       help="print nothing but warnings and errors; no progress bar")
    group.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def _add_cube_input(parser):
    parser.add_argument("cube", metavar="CUBE",
                        help="hyperspectral cube: .tif/.tiff, .mat, .npy or ENVI "
                             "(.hdr or its data file)")
    group = parser.add_argument_group("reading the cube")
    group.add_argument("--band-axis", type=int, choices=(0, 2), default=None,
                       help="axis of the stored array holding the bands: 0 (bands, rows, cols) or "
                            "2 (rows, cols, bands); default: from the file's metadata or shape")
    group.add_argument("--variable", metavar="NAME", help="variable to read from a .mat file")


def _add_training(parser, defaults, *, note=""):
    group = parser.add_argument_group("training" + note)
    group.add_argument("--architecture", choices=("conv", "dense", "lstm", "transformer"),
                       help=f"autoencoder network (default: {defaults['architecture']})")
    group.add_argument("--zdims", type=_int_at_least(1), metavar="N",
                       help=f"size of the latent code (default: {defaults['zdims']})")
    group.add_argument("--epochs", type=_int_at_least(1), metavar="N",
                       help=f"maximum training epochs; training stops early when the validation "
                            f"loss stops improving (default: {defaults['epochs']})")
    group.add_argument("--bands", type=_int_at_least(2), metavar="N",
                       help=f"resample spectra to N evenly spaced bands before encoding "
                            f"(default: the cube's band count, at most {defaults['bands']})")
    group.add_argument("--batch-size", type=_int_at_least(2), metavar="N",
                       help=f"spectra per training batch (default: {defaults['batch_size']})")
    group.add_argument("--lr", type=_float_in(0, low_open=True), metavar="X",
                       help=f"learning rate of the Adam optimizer (default: {defaults['lr']:g})")
    group.add_argument("--validation-fraction", type=_float_in(0, 1), metavar="X",
                       help=f"share of pixels held out for early stopping, in [0, 1); 0 trains "
                            f"on all (default: {defaults['validation_fraction']:g})")
    return group


def _add_seed(group):
    group.add_argument("--seed", type=_int_at_least(0, 2**32 - 1), default=0, metavar="N",
                       help="random seed: the same seed and data give the same result (default: 0)")


def _build_parser():
    defaults = _library_defaults()
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _ArgumentParser(
        prog="hsiae",
        description="Hyperspectral autoencoders: latent features, denoised cubes and segment maps.",
        epilog="Run 'hsiae COMMAND --help' for the options of a command.\n\n"
               "examples:\n"
               "  hsiae demo -o hsiae-demo\n"
               "  hsiae train scene.tif -o model.joblib\n"
               "  hsiae segment scene.tif --model model.joblib -k 6 -o segments\n\n"
               "Model files are pickles: only load models from sources you trust.",
        formatter_class=fmt,
    )
    from hsiae import __version__

    parser.add_argument("--version", action="version", version=f"hsiae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "train", formatter_class=fmt, help="train an autoencoder on a cube and save the model",
        description="Train a spectral autoencoder on every pixel of a cube and save it as a "
                    "model file.",
        epilog="Writes MODEL, MODEL's stem + '_loss.png' (loss curves, linear and log scale) and\n"
               "+ '_history.csv' (epoch, train_loss, valid_loss, dur) next to it.\n\n"
               "example:\n  hsiae train scene.tif -o model.joblib --zdims 16 --epochs 60",
    )
    _add_cube_input(p)
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write, e.g. model.joblib")
    _add_seed(_add_training(p, defaults))
    _add_general(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "segment", formatter_class=fmt,
        help="segment a cube into k clusters (training first, or with --model)",
        description="Segment a cube into k spatially coherent clusters of similar spectra.",
        epilog="Writes into OUTDIR: labels.tif (clusters 1..k, 0 = no data), segments.png,\n"
               "cluster_spectra.png and .csv (decoded cluster centres and mean +- std spectra),\n"
               "latent_maps.png, and when it trains: model.joblib, model_loss.png,\n"
               "model_history.csv.\n\n"
               "examples:\n"
               "  hsiae segment scene.tif -k 6 -o segments\n"
               "  hsiae segment scene.tif --model model.joblib -k 6 -o segments",
    )
    _add_cube_input(p)
    p.add_argument("-k", "--clusters", dest="k", type=_int_at_least(1), required=True, metavar="N",
                   help="number of segments")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for the outputs (created if missing)")
    p.add_argument("--model", metavar="MODEL",
                   help="use the resampler and encoder of this trained model (from 'hsiae train' "
                        "or 'hsiae segment') instead of training; a new k-cluster segmenter is "
                        "always fitted")
    p.add_argument("--spatial-weight", type=_float_in(0), metavar="X",
                   help=f"strength of the spatial prior: 0 ignores neighbours, larger values give "
                        f"smoother segments (default: {defaults['spatial_weight']:g})")
    _add_seed(_add_training(p, defaults, note=" (without --model)"))
    _add_general(p)
    p.set_defaults(func=_cmd_segment)

    p = sub.add_parser(
        "denoise", formatter_class=fmt, help="denoise a cube with a trained model",
        description="Denoise a cube with a trained model: encode and decode every spectrum.",
        epilog="The output keeps the input's layout, wavelengths and dtype (integers are rounded\n"
               "and clipped to the dtype's range); no-data pixels are copied unchanged.\n\n"
               "example:\n  hsiae denoise scene.tif --model model.joblib -o denoised.tif",
    )
    _add_cube_input(p)
    p.add_argument("--model", required=True, metavar="MODEL",
                   help="trained model from 'hsiae train'")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tif",
                   help="denoised cube to write (.tif)")
    _add_general(p)
    p.set_defaults(func=_cmd_denoise)

    d = _DEMO_DEFAULTS
    p = sub.add_parser(
        "demo", formatter_class=fmt, help="the whole pipeline on a built-in synthetic scene",
        description="Run the whole pipeline on a built-in synthetic scene and write every figure.",
        epilog="The scene (hsiae.datasets.make_synthetic_scene) knows its clean spectra and its\n"
               "segments, so the demo reports the adjusted Rand index of the segments and the\n"
               "PSNR of the denoised cube. It takes about a minute on two CPU cores.\n\n"
               "The demo OVERWRITES its own output files in OUTDIR (there is no --force).\n\n"
               "example:\n  hsiae demo -o hsiae-demo",
    )
    p.add_argument("-o", "--output", default="hsiae-demo", metavar="OUTDIR",
                   help="folder for the outputs (default: hsiae-demo)")
    adv = p.add_argument_group("advanced options (smaller, faster runs, e.g. for tests)")
    adv.add_argument("--size", type=_int_at_least(8), default=d["size"], metavar="N",
                     help=f"scene of N x N pixels (default: {d['size']})")
    adv.add_argument("--epochs", type=_int_at_least(1), default=d["epochs"], metavar="N",
                     help=f"maximum training epochs (default: {d['epochs']})")
    adv.add_argument("--bands", type=_int_at_least(2), default=d["bands"], metavar="N",
                     help=f"bands the 128-band scene is resampled to (default: {d['bands']})")
    adv.add_argument("--seed", type=_int_at_least(0, 2**32 - 1), default=d["seed"], metavar="N",
                     help=f"random seed (default: {d['seed']})")
    _add_general(p, force=False, threads=d["threads"])
    p.set_defaults(func=_cmd_demo, force=True)
    return parser


# --------------------------------------------------------------------------- outputs


class _Outputs:
    """Outputs of one run: planned first, written to temporary files, moved in place at the end.

    ``plan`` checks a target before any work is done; ``stage`` returns the
    temporary path to write instead (same folder and suffix, hidden name);
    ``commit`` renames every staged file to its target; ``discard`` removes
    whatever a failed run left (temporary files and folders it created).
    """

    def __init__(self, force):
        self.force = force
        self._planned = {}
        self._staged = {}
        self._dirs = []
        self._made = []
        self._committed = False

    def plan_dir(self, path):
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"'{path}' exists and is not a folder; pass a folder for -o")
        self._dirs.append(path)
        return path

    def plan(self, path, what):
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(
                f"Cannot write the {what} to '{path}': it is a folder; pass a file name"
            )
        if path.exists() and not self.force:
            raise FileExistsError(f"'{path}' already exists; pass --force to overwrite it")
        if not path.parent.is_dir() and path.parent not in self._dirs:
            raise FileNotFoundError(
                f"Cannot write the {what} to '{path}': the folder '{path.parent}' does not "
                f"exist; create it first"
            )
        self._planned[path] = what
        return path

    def _make_dirs(self):
        for folder in self._dirs:
            missing = []
            p = folder
            while not p.exists():
                missing.append(p)
                p = p.parent
            for p in reversed(missing):
                p.mkdir()
                self._made.append(p)

    def stage(self, path):
        path = Path(path)
        if path not in self._planned:
            raise RuntimeError(f"output {path} was not planned")  # a bug, not a user error
        self._make_dirs()
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:10]}.tmp{path.suffix}")
        self._staged[path] = tmp
        return tmp

    def commit(self):
        moved = []
        try:
            for final, tmp in self._staged.items():
                existed = final.exists()
                if existed and not self.force:
                    raise FileExistsError(f"'{final}' already exists; pass --force to overwrite it")
                os.replace(tmp, final)
                moved.append((final, existed))
        except BaseException:
            for final, existed in moved:
                if not existed:
                    with contextlib.suppress(OSError):
                        final.unlink()
            raise
        self._committed = True
        width = max((len(self._planned[f]) for f in self._staged), default=0)
        if self._staged:
            logger.info("Wrote:")
        for final in self._staged:
            logger.info("  %-*s  %s", width, self._planned[final], final)

    def discard(self):
        if self._committed:
            return
        for tmp in self._staged.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        for folder in reversed(self._made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty


# --------------------------------------------------------------------------- helpers


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # the CLI never opens a window
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path):
    plt = _pyplot()
    try:
        fig.savefig(path, dpi=_DPI, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)


def _read(args):
    from hsiae.io import read_cube

    cube, info = read_cube(args.cube, band_axis=args.band_axis, variable=args.variable)
    H, W, B = cube.shape
    wl = ""
    if info.wavelengths is not None:
        unit = f" {info.wavelength_units}" if info.wavelength_units else ""
        wl = f", {info.wavelengths[0]:g}-{info.wavelengths[-1]:g}{unit}"
    logger.info("Read %s: %d x %d pixels, %d bands%s, %s", args.cube, H, W, B, wl, cube.dtype)
    if B < 2:
        raise ValueError(f"'{args.cube}' has {B} band; hsiae needs spectra of at least 2 bands")
    return cube, info


def _pixels(cube, nodata):
    """Spectra as float32 ``(H * W, B)``, the usable-pixel mask, and spectra with no-data filled.

    A pixel is unusable when any band is NaN or infinite, or when every band
    equals the file's no-data value. Unusable rows of the filled copy hold the
    mean usable spectrum, so that they can pass through the model harmlessly.
    """
    H, W, B = cube.shape
    X = np.ascontiguousarray(cube, dtype=np.float32).reshape(H * W, B)
    valid = np.all(np.isfinite(X), axis=1)
    if nodata is not None and not math.isnan(nodata):
        valid &= ~np.all(np.asarray(cube).reshape(H * W, B) == nodata, axis=1)
    n_bad = int((~valid).sum())
    if n_bad == valid.size:
        raise ValueError(
            "every pixel of the cube is no-data or non-finite; there is nothing to learn from"
        )
    filled = X
    if n_bad:
        logger.info("%d of %d pixels are no-data or non-finite: left out, labelled 0",
                    n_bad, valid.size)
        filled = X.copy()
        filled[~valid] = X[valid].mean(axis=0)
    return X, valid, filled


def _training_pipeline(args, n_bands_in, wavelengths, *, n_clusters=None, image_shape=None,
                       extra=None):
    """resampler + encoder (+ segmenter when ``n_clusters``) with the CLI's options."""
    from hsiae import make_segmentation_pipeline

    d = _library_defaults()
    opt = {name: getattr(args, name, None) for name in d}
    opt = {name: d[name] if value is None else value for name, value in opt.items()}
    bands = args.bands if args.bands is not None else min(n_bands_in, d["bands"])
    params = {
        "spectralresampler__n_bands": bands,
        "spectralresampler__wavelengths": wavelengths,
        "aedencoder__architecture": opt["architecture"],
        "aedencoder__zdims": opt["zdims"],
        "aedencoder__max_epochs": opt["epochs"],
        "aedencoder__batch_size": opt["batch_size"],
        "aedencoder__lr": opt["lr"],
        "aedencoder__validation_fraction": opt["validation_fraction"],
        "aedencoder__verbose": 0 if args.quiet else 1,
        "spatialgmmsegmenter__spatial_weight": opt["spatial_weight"],
    }
    params.update(extra or {})
    pipe = make_segmentation_pipeline(n_clusters or 2, image_shape=image_shape,
                                      random_state=args.seed, **params)
    return pipe if n_clusters else pipe[:-1]


def _fit_head(head, X):
    enc = head[-1]
    logger.info(
        "Training: %d spectra, %d -> %d bands, latent size %d, up to %d epochs",
        X.shape[0], X.shape[1], head[0].n_bands, enc.zdims, enc.max_epochs,
    )
    start = time.perf_counter()
    head.fit(X)
    if enc.validation_fraction > 0:
        logger.info(
            "Trained %d epochs in %.1f s; best epoch %d, validation loss %.4g",
            enc.n_epochs_, time.perf_counter() - start, enc.best_epoch_,
            enc.history_["valid_loss"][enc.best_epoch_ - 1],
        )
    else:
        logger.info("Trained %d epochs in %.1f s; final training loss %.4g",
                    enc.n_epochs_, time.perf_counter() - start, enc.history_["train_loss"][-1])


def _loss_figure(encoder):
    from hsiae.plotting import plot_loss_curves

    plt = _pyplot()
    history = encoder.history_
    best = encoder.best_epoch_ if "valid_loss" in history else None
    fig, (lin, log) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    plot_loss_curves(history, best_epoch=best, ax=lin)
    lin.set_title("Loss curves (linear scale)")
    losses = np.concatenate([history[k] for k in ("train_loss", "valid_loss") if k in history])
    if np.all(losses[np.isfinite(losses)] > 0):
        plot_loss_curves(history, log=True, best_epoch=best, ax=log)
        log.set_title("Loss curves (log scale)")
    else:
        log.set_axis_off()
        log.text(0.5, 0.5, "no log scale: some losses are <= 0", ha="center", va="center")
    return fig


def _write_history(encoder, path):
    h = encoder.history_
    n = len(h["epoch"])
    valid = h.get("valid_loss")
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["epoch", "train_loss", "valid_loss", "dur"])
        for i in range(n):
            writer.writerow([
                int(h["epoch"][i]), f"{h['train_loss'][i]:.9g}",
                "" if valid is None else f"{valid[i]:.9g}", f"{h['dur'][i]:.6g}",
            ])


def _plan_model_outputs(out, model_path):
    model_path = Path(model_path)
    loss = model_path.with_name(f"{model_path.stem}_loss.png")
    history = model_path.with_name(f"{model_path.stem}_history.csv")
    out.plan(model_path, "model")
    out.plan(loss, "loss curves")
    out.plan(history, "training history")
    return model_path, loss, history


def _write_model_outputs(out, paths, pipe, wavelengths):
    from hsiae.persistence import save_model

    model_path, loss, history = paths
    save_model(out.stage(model_path), pipe, wavelengths=wavelengths, force=True)
    _save_figure(_loss_figure(pipe.steps[1][1]), out.stage(loss))
    _write_history(pipe.steps[1][1], out.stage(history))


_SEGMENT_FILES = {
    "labels": ("labels.tif", "segment labels"),
    "segments": ("segments.png", "segment map"),
    "spectra_png": ("cluster_spectra.png", "cluster spectra"),
    "spectra_csv": ("cluster_spectra.csv", "cluster spectra table"),
    "latent": ("latent_maps.png", "latent maps"),
}


def _plan_segment_outputs(out, outdir):
    return {key: out.plan(outdir / name, what) for key, (name, what) in _SEGMENT_FILES.items()}


def _cluster_names(k):
    return [f"Cluster {c + 1}" for c in range(k)]


def _cluster_spectra_figure(rep, means, std, wavelengths, units, value_label):
    from hsiae.plotting import plot_cluster_spectra

    plt = _pyplot()
    k = rep.shape[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained", sharey=True)
    names = _cluster_names(k)
    plot_cluster_spectra(rep, wavelengths=wavelengths, wavelength_units=units, names=names,
                         value_label=value_label, ax=left)
    left.set_title("Representative spectra (decoded cluster centres)")
    left.get_legend().remove()  # one legend for both panels, on the right
    plot_cluster_spectra(means, wavelengths=wavelengths, wavelength_units=units, names=names,
                         spread=std, value_label=value_label, ax=right)
    right.set_title("Mean input spectra (shaded: \u00b1 1 standard deviation)")
    right.tick_params(labelleft=True)
    return fig


def _write_cluster_csv(path, rep, means, std, wavelengths):
    k, n_bands = rep.shape
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["band", "wavelength"]
            + [f"cluster_{c + 1}" for c in range(k)]
            + [f"mean_{c + 1}" for c in range(k)]
            + [f"std_{c + 1}" for c in range(k)]
        )
        for b in range(n_bands):
            wl = "" if wavelengths is None else f"{wavelengths[b]:.9g}"
            values = [f"{v:.9g}" for v in (*rep[:, b], *means[:, b], *std[:, b])]
            writer.writerow([b, wl, *values])


def _segment(head, seg, X_fit, valid, filled, image_shape, *, train):
    """Fit the head (when ``train``) on usable pixels, then the segmenter on every pixel's code."""
    from sklearn.pipeline import Pipeline

    if train:
        _fit_head(head, X_fit[valid])
    Z = head.transform(filled)
    logger.info("Segmenting %d x %d pixels into %d clusters", *image_shape, seg.n_clusters)
    seg.fit(Z)
    labels = seg.labels_.copy()
    labels[~valid] = -1
    pipe = Pipeline(list(head.steps) + [("spatialgmmsegmenter", seg)])
    return pipe, Z, labels


def _write_segment_outputs(out, paths, pipe, X, valid, Z, labels, image_shape, wavelengths, units,
                           *, value_label="Value", segments_fig=None):
    from hsiae import cluster_mean_spectra, representative_spectra
    from hsiae.io import write_labels
    from hsiae.plotting import plot_latent_maps, plot_segment_map

    H, W = image_shape
    k = pipe[-1].n_clusters
    counts = np.bincount(labels[valid], minlength=k)
    for c in np.flatnonzero(counts == 0):
        warnings.warn(f"cluster {c + 1} has no pixels; its mean spectrum is shown as 0",
                      UserWarning)
    logger.info("Pixels per cluster: %s", ", ".join(f"{c + 1}: {n}" for c, n in enumerate(counts)))

    label_img = labels.reshape(H, W)
    write_labels(out.stage(paths["labels"]), np.maximum(label_img, 0), nodata_mask=label_img < 0)

    if segments_fig is None:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 5), layout="constrained")
        plot_segment_map(label_img, names=_cluster_names(k), ax=ax)
        ax.set_title(f"Segment map ({k} clusters; file values 1..{k}, 0 = no data)")
        segments_fig = fig
    _save_figure(segments_fig, out.stage(paths["segments"]))

    rep = representative_spectra(pipe)
    means, std = cluster_mean_spectra(pipe, X[valid], labels[valid], return_std=True)
    _save_figure(_cluster_spectra_figure(rep, means, std, wavelengths, units, value_label),
                 out.stage(paths["spectra_png"]))
    _write_cluster_csv(out.stage(paths["spectra_csv"]), rep, means, std, wavelengths)
    _save_figure(plot_latent_maps(Z.reshape(H, W, -1)), out.stage(paths["latent"]))
    return rep, means


def _cast_like(values, dtype):
    """``values`` in ``dtype``: floats cast; integers rounded and clipped to the dtype's range."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    limits = np.iinfo(dtype)
    return np.clip(np.rint(values), limits.min, limits.max).astype(dtype)


# --------------------------------------------------------------------------- commands


def _cmd_train(args, out):
    paths = _plan_model_outputs(out, args.output)
    cube, info = _read(args)
    H, W, B = cube.shape
    X, valid, _ = _pixels(cube, info.nodata)
    head = _training_pipeline(args, B, info.wavelengths)
    _fit_head(head, X[valid])
    _write_model_outputs(out, paths, head, info.wavelengths)


def _cmd_segment(args, out):
    from hsiae import SpatialGMMSegmenter

    if args.model is not None:
        given = [f"--{name.replace('_', '-')}" for name in _TRAINING_OPTIONS
                 if getattr(args, name) is not None]
        if given:
            raise CLIError(
                f"{', '.join(given)} only apply when segment trains a model, not with --model; "
                f"drop {'them' if len(given) > 1 else 'it'} or drop --model"
            )
    outdir = out.plan_dir(args.output)
    paths = _plan_segment_outputs(out, outdir)
    model_paths = None
    if args.model is None:
        model_paths = _plan_model_outputs(out, outdir / "model.joblib")

    if args.model is not None:
        from hsiae.persistence import check_model_bands, load_model

        model, model_info = load_model(args.model)
    cube, info = _read(args)
    H, W, B = cube.shape
    if args.k > H * W:
        raise ValueError(f"-k {args.k} asks for more clusters than the cube has pixels ({H * W})")
    X, valid, filled = _pixels(cube, info.nodata)
    spatial_weight = args.spatial_weight
    if spatial_weight is None:
        spatial_weight = _library_defaults()["spatial_weight"]
    if args.model is not None:
        from sklearn.pipeline import Pipeline

        check_model_bands(model_info, B, info.wavelengths)
        head = Pipeline(model.steps[:2])
        seg = SpatialGMMSegmenter(args.k, image_shape=(H, W), spatial_weight=spatial_weight,
                                  random_state=args.seed)
    else:
        full = _training_pipeline(args, B, info.wavelengths, n_clusters=args.k, image_shape=(H, W))
        head, seg = full[:-1], full[-1]
    pipe, Z, labels = _segment(head, seg, X, valid, filled, (H, W), train=args.model is None)
    _write_segment_outputs(out, paths, pipe, X, valid, Z, labels, (H, W), info.wavelengths,
                           info.wavelength_units)
    if model_paths is not None:
        _write_model_outputs(out, model_paths, pipe, info.wavelengths)


def _cmd_denoise(args, out):
    from sklearn.pipeline import Pipeline

    from hsiae import denoise
    from hsiae.io import write_cube
    from hsiae.persistence import check_model_bands, load_model

    target = Path(args.output)
    if target.suffix.lower() not in (".tif", ".tiff"):
        raise CLIError(
            f"the denoised cube is written as TIFF: give -o a .tif or .tiff name, not '{target}'"
        )
    if target.exists() and target.resolve() == Path(args.cube).resolve():
        raise CLIError(f"-o '{target}' is the input cube; write the denoised cube to another file")
    out.plan(target, "denoised cube")
    model, model_info = load_model(args.model)
    cube, info = _read(args)
    H, W, B = cube.shape
    check_model_bands(model_info, B, info.wavelengths)
    X, valid, _ = _pixels(cube, info.nodata)
    head = Pipeline(model.steps[:2])
    logger.info("Denoising %d spectra", int(valid.sum()))
    # A C-ordered copy in the input's dtype, so that flat is a view; no-data pixels stay as is.
    result = np.array(cube, order="C")
    flat = result.reshape(H * W, B)
    flat[valid] = _cast_like(denoise(head, X[valid]), cube.dtype)
    band_axis = info.band_axis
    if band_axis not in (0, 2):
        logger.info("The input is band-interleaved by line, which TIFF cannot store; "
                    "writing one page per band")
        band_axis = 0
    write_cube(out.stage(target), result, band_axis=band_axis, wavelengths=info.wavelengths,
               wavelength_units=info.wavelength_units, nodata=info.nodata)


def _cmd_demo(args, out):
    from sklearn.metrics import adjusted_rand_score

    from hsiae.datasets import make_synthetic_scene
    from hsiae.io import write_cube
    from hsiae.metrics import match_clusters, psnr
    from hsiae.plotting import (
        plot_band_image,
        plot_latent_traversal,
        plot_reconstruction_error,
        plot_segment_map,
        plot_spectrum,
    )

    d = _DEMO_DEFAULTS
    outdir = out.plan_dir(args.output)
    paths = _plan_segment_outputs(out, outdir)
    model_paths = _plan_model_outputs(out, outdir / "model.joblib")
    scene_path = out.plan(outdir / "scene.tif", "input cube (noisy)")
    extra = {name: out.plan(outdir / f"{name}.png", what) for name, what in [
        ("band_image", "band image"), ("spectrum", "pixel spectrum"),
        ("reconstruction_error", "reconstruction error"), ("latent_traversal", "latent traversal"),
    ]}

    start = time.perf_counter()
    scene = make_synthetic_scene(shape=(args.size, args.size), noise=_DEMO_NOISE,
                                 random_state=args.seed)
    H, W, B = scene.cube.shape
    wl, k = scene.wavelengths, d["k"]
    logger.info(
        "Synthetic scene: %d x %d pixels, %d bands (%g-%g nm), %d known segments, "
        "noise %g%% of the range",
        H, W, B, wl[0], wl[-1], k, _DEMO_NOISE * 100,
    )
    demo_training = {"zdims": d["zdims"], **_DEMO_TRAINING}
    full = _training_pipeline(
        args, B, wl, n_clusters=k, image_shape=(H, W),
        extra={f"aedencoder__{key}": value for key, value in demo_training.items()},
    )
    X, valid, filled = _pixels(scene.cube, None)
    pipe, Z, labels = _segment(full[:-1], full[-1], X, valid, filled, (H, W), train=True)
    head = pipe[:-1]
    recon = head.inverse_transform(head.transform(X)).reshape(H, W, B)

    truth = scene.labels.ravel()
    ari = adjusted_rand_score(truth, labels)
    psnr_in, psnr_out = psnr(scene.clean, scene.cube), psnr(scene.clean, recon)

    # Known segments in the colour of the cluster each is matched with, beside the result.
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    to_cluster = {cls: cluster for cluster, cls in match_clusters(truth, labels).items()}
    matched = np.array([to_cluster.get(t, -1) for t in truth]).reshape(H, W)
    plot_segment_map(matched, names=_cluster_names(k), ax=left, legend=False)
    left.set_title("Known segments (coloured as their matched cluster)")
    plot_segment_map(labels.reshape(H, W), names=_cluster_names(k), ax=right)
    right.set_title(f"hsiae segments (adjusted Rand index {ari:.2f})")
    _write_segment_outputs(out, paths, pipe, X, valid, Z, labels, (H, W), wl, "nm",
                           value_label="Reflectance", segments_fig=fig)
    _write_model_outputs(out, model_paths, pipe, wl)
    write_cube(out.stage(scene_path), scene.cube, band_axis=0, wavelengths=wl,
               wavelength_units="nm")

    fig = plot_band_image(scene.cube, recon, wavelengths=wl, value_label="Reflectance")
    _save_figure(fig, out.stage(extra["band_image"]))

    pixel = (H // 2, W // 2)
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    plot_spectrum(scene.cube, recon, pixel=pixel, others={"Clean (ground truth)": scene.clean},
                  wavelengths=wl, value_label="Reflectance", ax=ax)
    ax.set_title(f"Spectrum of pixel (row {pixel[0]}, col {pixel[1]}): "
                 f"noisy input, clean and reconstruction")
    _save_figure(fig, out.stage(extra["spectrum"]))

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    plot_reconstruction_error(scene.cube, recon, ax=left)
    left.set_title("Against the noisy input\n" + left.get_title())
    plot_reconstruction_error(scene.clean, recon, ax=right)
    right.set_title("Against the clean cube\n" + right.get_title())
    _save_figure(fig, out.stage(extra["reconstruction_error"]))

    fig = plot_latent_traversal(head.inverse_transform, Z, wavelengths=wl,
                                value_label="Reflectance")
    _save_figure(fig, out.stage(extra["latent_traversal"]))

    # printed after the list of files, as the last word
    return [
        f"Summary ({time.perf_counter() - start:.0f} s):",
        f"  segments:  adjusted Rand index {ari:.3f} against the {k} known segments",
        f"  denoising: PSNR {psnr_out:.1f} dB against the clean cube "
        f"(the noisy input: {psnr_in:.1f} dB)",
    ]


# --------------------------------------------------------------------------- main


class _StdoutHandler(logging.StreamHandler):
    """Writes to the current ``sys.stdout`` (which tests and callers may swap)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


class _StderrHandler(_StdoutHandler):
    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


@contextlib.contextmanager
def _logging(quiet):
    """INFO of the CLI on stdout (unless quiet); warnings of all of hsiae on stderr."""
    root = logging.getLogger("hsiae")
    out = _StdoutHandler()
    out.setLevel(logging.INFO)
    out.addFilter(lambda r: r.levelno < logging.WARNING and r.name == __name__)
    out.setFormatter(logging.Formatter("%(message)s"))
    err = _StderrHandler()
    err.setLevel(logging.WARNING)
    err.setFormatter(logging.Formatter("hsiae: warning: %(message)s"))
    saved = root.level, root.propagate
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False
    root.addHandler(out)
    root.addHandler(err)
    try:
        with warnings.catch_warnings():
            # Python warnings (e.g. ConvergenceWarning) as one line each, without source lines.
            def show(message, category, filename, lineno, file=None, line=None):
                logger.warning("%s", " ".join(str(message).split()))

            warnings.showwarning = show
            yield
    finally:
        root.removeHandler(out)
        root.removeHandler(err)
        root.setLevel(saved[0])
        root.propagate = saved[1]


@contextlib.contextmanager
def _torch_threads(n):
    if n is None:
        yield
        return
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextlib.contextmanager
def _closing_new_figures():
    """Close figures a failed run left open (successful runs close theirs after saving)."""
    if "matplotlib.pyplot" not in sys.modules:
        before = set()
    else:
        before = set(sys.modules["matplotlib.pyplot"].get_fignums())
    try:
        yield
    finally:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            for num in set(plt.get_fignums()) - before:
                plt.close(num)


def _one_line(exc):
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# Errors a user can fix: printed as one line without a traceback.
_USER_ERRORS = (CLIError, OSError, ValueError, FloatingPointError)


def main(argv=None):
    """Run the ``hsiae`` command line; return the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        0 on success, 2 on a user error (printed as one line on stderr),
        130 when interrupted.
    """
    try:
        parser = _build_parser()
        args = parser.parse_args(argv)
    except CLIError as exc:
        print(f"hsiae: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0

    out = _Outputs(force=args.force)
    with _logging(args.quiet), _torch_threads(args.threads), _closing_new_figures():
        try:
            summary = args.func(args, out)
            out.commit()
            for line in summary or ():
                logger.info("%s", line)
            return 0
        except _USER_ERRORS as exc:
            if args.debug:
                raise
            print(f"hsiae: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            if args.debug:
                raise
            print("hsiae: interrupted; no output was written", file=sys.stderr)
            return 130
        finally:
            out.discard()

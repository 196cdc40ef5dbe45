"""What the commands write: figures, and the files more than one command writes.

Each file is planned and staged through :class:`hsiae.cli._staging.Outputs`,
so it appears only when the whole run has succeeded. The model files
(model, loss curves, history) and the segmentation files (labels, segment
map, cluster spectra, latent maps) are written here once for every command
that writes them, whether it held the image in memory or went chunk by chunk.
"""

import csv
import re
import warnings
from pathlib import Path

import numpy as np

from hsiae.cli._errors import CLIError, one_line
from hsiae.cli._staging import logger

_DPI = 120

SEGMENT_FILES = {
    "labels": ("labels.tif", "segment labels"),
    "segments": ("segments.png", "segment map"),
    "spectra_png": ("cluster_spectra.png", "cluster spectra"),
    "spectra_csv": ("cluster_spectra.csv", "cluster spectra table"),
    "latent": ("latent_maps.png", "latent maps"),
}
# The figures among them: left out with --no-figures.
SEGMENT_FIGURES = ("segments", "spectra_png", "latent")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # the CLI never opens a window
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    plt = pyplot()
    try:
        fig.savefig(path, dpi=_DPI, format="png")  # every figure here has a constrained layout
    finally:
        plt.close(fig)


# -- model files: written by train, and by segment and demo when they train -------------------


def model_file_name(args):
    """``model.hsiae`` (the safe format) unless ``--model-format joblib`` asks for a pickle."""
    return f"model.{args.model_format or 'hsiae'}"


def plan_model_outputs(out, model_path, *, figures=True):
    """Plan the model file (its name checked: .hsiae, .joblib or .pkl), its loss curves and history.

    Returns ``(model, loss, history)`` paths; ``loss`` is None without ``figures``.
    """
    from hsiae.persistence import model_format

    model_path = Path(model_path)
    model_format(model_path)
    loss = model_path.with_name(f"{model_path.stem}_loss.png") if figures else None
    history = model_path.with_name(f"{model_path.stem}_history.csv")
    # the longest name first: if -o's name is too long, the message says by how much for all three
    out.plan(history, "training history")
    if loss is not None:
        out.plan(loss, "loss curves")
    out.plan(model_path, "model")
    return model_path, loss, history


# The terms of the estimators' training losses: (weight parameter, name), in the order written.
_ENCODER_LOSS = (
    ("mse_weight", "MSE"),
    ("mae_weight", "MAE"),
    ("sam_weight", "SAM"),
    ("gradient_weight", "gradient"),
    ("latent_l1", "latent L1/L2"),
)
_UNMIXER_LOSS = (
    ("mse_weight", "MSE/power"),
    ("sam_weight", "SAM"),
    ("sparsity_weight", "entropy"),
    ("volume_weight", "volume"),
)


def loss_label(estimator):
    """What ``estimator`` trained on, from its weights: "loss = MSE + 0.1 SAM + gradient" (and on what)."""
    from hsiae.unmixer import AEUnmixer

    unmixer = isinstance(estimator, AEUnmixer)
    params = estimator.get_params()
    terms = [
        f"{'' if params[name] == 1 else f'{params[name]:g} '}{word}"
        for name, word in (_UNMIXER_LOSS if unmixer else _ENCODER_LOSS)
        if params.get(name)
    ]
    # the encoder sees the resampler's output, not the cube's values
    return "loss = " + " + ".join(terms) + ("" if unmixer else "\non the scaled spectra")


def loss_figure(estimator):
    """One panel: training and validation loss, the best epoch, what the loss is made of.

    A log axis when every loss is positive (equal heights are equal relative
    changes; at least a decade shown, so a change under 1 % stays small),
    else a linear one from zero.
    """
    from hsiae.plotting import plot_loss_curves

    plt = pyplot()
    history = estimator.history_
    best = estimator.best_epoch_ if "valid_loss" in history else None
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    losses = np.concatenate([history[k] for k in ("train_loss", "valid_loss") if k in history])
    log = bool(np.all(losses[np.isfinite(losses)] > 0))
    plot_loss_curves(history, log=log, best_epoch=best, loss_label=loss_label(estimator), ax=ax)
    return fig


def _write_history(estimator, path):
    h = estimator.history_
    n = len(h["epoch"])
    valid = h.get("valid_loss")
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["epoch", "train_loss", "valid_loss", "dur"])
        for i in range(n):
            writer.writerow(
                [
                    int(h["epoch"][i]),
                    f"{h['train_loss'][i]:.9g}",
                    "" if valid is None else f"{valid[i]:.9g}",
                    f"{h['dur'][i]:.6g}",
                ]
            )


def write_model_outputs(out, paths, model, wavelengths):
    """The model file, its loss curves and history; ``model`` is a pipeline or a trained estimator."""
    from hsiae.persistence import save_model
    from hsiae.workflow.recipes import pipeline_parts

    model_path, loss, history = paths
    save_model(out.stage(model_path), model, wavelengths=wavelengths, force=True)
    trained = model if hasattr(model, "history_") else pipeline_parts(model).encoder
    if loss is not None:
        save_figure(loss_figure(trained), out.stage(loss))
    _write_history(trained, out.stage(history))


# -- segmentation files: written by segment (in memory or chunk by chunk) and demo ------------


def plan_segment_outputs(out, outdir, *, figures=True):
    """Plan the segmentation files in ``outdir``, keyed as ``SEGMENT_FILES``.

    Without ``figures`` the keys of ``SEGMENT_FIGURES`` are left out.
    """
    return {
        key: out.plan(outdir / name, what)
        for key, (name, what) in SEGMENT_FILES.items()
        if figures or key not in SEGMENT_FIGURES
    }


def cluster_names(k):
    return [f"Cluster {c + 1}" for c in range(k)]


def segment_map_figure(label_image, k, *, every=1):
    """The segment map (labels 0..k-1, -1 = no data), showing every ``every``-th pixel."""
    from hsiae.plotting import plot_segment_map

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5), layout="constrained")
    plot_segment_map(label_image, names=cluster_names(k), ax=ax)
    shown = "" if every == 1 else f", every {every}th pixel shown"
    ax.set_title(f"Segment map ({k} clusters; file values 1..{k}, 0 = no data{shown})")
    return fig


def _cluster_spectra_figure(rep, means, std, wavelengths, units, value_label, means_title):
    from hsiae.plotting import plot_cluster_spectra

    plt = pyplot()
    k = rep.shape[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained", sharey=True)
    names = cluster_names(k)
    plot_cluster_spectra(
        rep, wavelengths=wavelengths, wavelength_units=units, names=names, value_label=value_label, ax=left
    )
    left.set_title("Representative spectra (decoded cluster centres)")
    left.get_legend().remove()  # one legend for both panels, on the right
    plot_cluster_spectra(
        means,
        wavelengths=wavelengths,
        wavelength_units=units,
        names=names,
        spread=std,
        value_label=value_label,
        ax=right,
    )
    right.set_title(means_title)
    right.tick_params(labelleft=True)
    return fig


def band_columns(wavelengths, units, numbers):
    """The leading columns of every per-band table: a header and, per band, its number and wavelength.

    Bands carry their numbers in the file, from 1 (``numbers``, as
    ``--drop-bands`` takes them and :func:`hsiae.cli._inputs.band_numbers`
    gives them); the wavelength column is named with its units when the
    file gives them (``wavelength_nm``) and left empty without wavelengths.
    """
    name = "wavelength"
    if wavelengths is not None and units:
        name += "_" + re.sub(r"\s+", "_", str(units).strip())
    rows = [[int(n), "" if wavelengths is None else f"{wavelengths[b]:.9g}"] for b, n in enumerate(numbers)]
    return ["band", name], rows


def _write_cluster_csv(path, rep, means, std, wavelengths, units, numbers):
    k, n_bands = rep.shape
    header, bands = band_columns(wavelengths, units, range(1, n_bands + 1) if numbers is None else numbers)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            header
            + [f"cluster_{c + 1}" for c in range(k)]
            + [f"mean_{c + 1}" for c in range(k)]
            + [f"std_{c + 1}" for c in range(k)]
        )
        for b in range(n_bands):
            values = [f"{v:.9g}" for v in (*rep[:, b], *means[:, b], *std[:, b])]
            writer.writerow([*bands[b], *values])


def report_cluster_sizes(counts):
    """Log the pixels per cluster; warn of empty clusters. ``counts[c]`` for clusters 0..k-1."""
    for c in np.flatnonzero(counts == 0):
        warnings.warn(f"cluster {c + 1} has no pixels; its mean spectrum is shown as 0", UserWarning, stacklevel=2)
    logger.info("Pixels per cluster: %s", ", ".join(f"{c + 1}: {n}" for c, n in enumerate(counts)))


def write_segment_figures(
    out,
    paths,
    pipe,
    segments_fig,
    X,
    labels,
    codes,
    wavelengths,
    units,
    *,
    value_label="Value",
    sampled=False,
    band_numbers=None,
):
    """Segment map, cluster spectra (figure and table) and latent maps.

    ``X`` and ``labels`` are the usable spectra the cluster means are taken
    over, with their labels 0..k-1 (a sample of the image when ``sampled``);
    ``codes`` are the latent codes of the image (or its preview), shaped
    ``(n_rows, n_cols, zdims)``, NaN at no-data pixels (their codes are
    those of a stand-in spectrum, which the maps would show as data).
    A figure whose key is not in ``paths`` (``--no-figures``) is not drawn;
    ``segments_fig`` and ``codes`` may then be None.
    """
    from hsiae.workflow.spectra import cluster_mean_spectra, representative_spectra

    if "segments" in paths:
        save_figure(segments_fig, out.stage(paths["segments"]))
    rep = representative_spectra(pipe)
    means, std = cluster_mean_spectra(pipe, X, labels, return_std=True)
    if "spectra_png" in paths:
        title = (
            f"Mean input spectra of {len(X)} sampled pixels (\u00b1 1 std)"
            if sampled
            else "Mean input spectra (shaded: \u00b1 1 standard deviation)"
        )
        save_figure(
            _cluster_spectra_figure(rep, means, std, wavelengths, units, value_label, title),
            out.stage(paths["spectra_png"]),
        )
    _write_cluster_csv(out.stage(paths["spectra_csv"]), rep, means, std, wavelengths, units, band_numbers)
    if "latent" in paths:
        from hsiae.plotting import plot_latent_maps

        save_figure(plot_latent_maps(codes), out.stage(paths["latent"]))
    return rep, means


def output_georeference(info, fmt="tiff"):
    """``info`` with the georeference a run's raster outputs can carry (``fmt``: "tiff" or "envi").

    Called before any work: a transform that ENVI cannot hold is refused.
    Without rasterio, a CRS that only GDAL can write in ``fmt`` is left out
    with a warning: the outputs keep the pixel grid (the transform) without it.
    """
    import dataclasses

    from hsiae.io import Georeference

    georeference = info.georeference
    if georeference is None:
        return info
    try:
        georeference.envi_header_fields() if fmt == "envi" else georeference.geotiff_tags()
    except ValueError as exc:
        raise CLIError(f"{one_line(exc)} (the georeference of '{info.path}')") from exc
    except ImportError:
        logger.warning(
            "'%s' lies in a coordinate reference system that only GDAL can write %s: the raster outputs "
            "carry the pixel grid but not the coordinate reference system; install rasterio to write it: "
            "pip install 'hsiae[geo]'",
            info.path,
            "to ENVI" if fmt == "envi" else "as GeoTIFF keys",
        )
        grid = None if georeference.transform is None else Georeference(None, georeference.transform)
        return dataclasses.replace(info, georeference=grid)
    return info


def tiff_band_axis(info):
    """The band axis to write a cube read with ``info`` in: its own, unless TIFF cannot store it."""
    if info.band_axis in (0, 2):
        return info.band_axis
    logger.info("The input is band-interleaved by line, which TIFF cannot store; writing one page per band")
    return 0


def write_segment_outputs(
    out,
    paths,
    pipe,
    X,
    valid,
    codes,
    labels,
    image_shape,
    wavelengths,
    units,
    *,
    value_label="Value",
    segments_fig=None,
    georeference=None,
    band_numbers=None,
):
    """Every segmentation file of an image segmented in memory (labels -1 for no data).

    ``band_numbers``: the bands' numbers in the file (from 1) for the tables; 1, 2, ... when None.
    """
    from hsiae.io import write_labels
    from hsiae.workflow.recipes import pipeline_parts
    from hsiae.workflow.usable import usable_rows

    H, W = image_shape
    k = pipeline_parts(pipe, segmenter="required").segmenter.n_clusters
    report_cluster_sizes(np.bincount(labels[valid], minlength=k))
    label_image = labels.reshape(H, W)
    write_labels(
        out.stage(paths["labels"]), np.maximum(label_image, 0), nodata_mask=label_image < 0, georeference=georeference
    )
    if segments_fig is None and "segments" in paths:
        segments_fig = segment_map_figure(label_image, k)
    codes = np.where(valid[:, None], codes, np.nan).reshape(H, W, -1)
    return write_segment_figures(
        out,
        paths,
        pipe,
        segments_fig,
        usable_rows(X, valid),
        labels[valid],
        codes,
        wavelengths,
        units,
        value_label=value_label,
        band_numbers=band_numbers,
    )

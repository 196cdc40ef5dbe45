"""``hsiae segment``: segment maps, cluster spectra and latent maps of a cube."""

import csv
import warnings

import numpy as np

from hsiae.cli._common import _recommended_segmenter, _pixels, _pyplot, _read, _save_figure, logger
from hsiae.cli._errors import CLIError
from hsiae.cli._memory import _needed_bytes
from hsiae.workflow.defaults import recipe_defaults
from hsiae.cli._train import (
    _fit_head,
    _model_file_name,
    _plan_model_outputs,
    _training_needs,
    _training_pipeline,
    _write_model_outputs,
)

_TRAINING_OPTIONS = ("architecture", "zdims", "epochs", "bands", "batch_size", "lr",
                     "validation_fraction", "model_format")

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
    from hsiae.workflow.fitting import segment_pixels
    from hsiae.workflow.usable import usable_rows

    if train:
        _fit_head(head, usable_rows(X_fit, valid))
    logger.info("Segmenting %d x %d pixels into %d clusters", *image_shape, seg.n_clusters)
    return segment_pixels(head, seg, X_fit, valid, filled, fit_head=False)


def _write_segment_outputs(out, paths, pipe, X, valid, Z, labels, image_shape, wavelengths, units,
                           *, value_label="Value", segments_fig=None):
    from hsiae import cluster_mean_spectra, representative_spectra
    from hsiae.io import write_labels
    from hsiae.workflow.usable import usable_rows
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
    means, std = cluster_mean_spectra(pipe, usable_rows(X, valid), labels[valid], return_std=True)
    _save_figure(_cluster_spectra_figure(rep, means, std, wavelengths, units, value_label),
                 out.stage(paths["spectra_png"]))
    _write_cluster_csv(out.stage(paths["spectra_csv"]), rep, means, std, wavelengths)
    _save_figure(plot_latent_maps(Z.reshape(H, W, -1)), out.stage(paths["latent"]))
    return rep, means


def run(args, out):
    if args.model is not None:
        given = [f"--{name.replace('_', '-')}" for name in _TRAINING_OPTIONS
                 if getattr(args, name) is not None]
        if given:
            raise CLIError(
                f"{', '.join(given)} only apply when segment trains a model, not with --model; "
                f"drop {'them' if len(given) > 1 else 'it'} or drop --model"
            )
    from hsiae.cli._chunked import _check_chunk_options, _segment_chunked

    if _check_chunk_options(args):
        return _segment_chunked(args, out)
    outdir = out.plan_dir(args.output)
    paths = _plan_segment_outputs(out, outdir)
    model_paths = None
    if args.model is None:
        model_paths = _plan_model_outputs(out, outdir / _model_file_name(args))

    if args.model is not None:
        from hsiae.persistence import check_model_bands, load_model

        model, model_info = load_model(args.model)

        def needs(shape, dtype):
            return _needed_bytes("segment", shape, dtype, n_bands_model=model[0].n_bands_out_,
                                 zdims=model[1].zdims, n_clusters=args.k)
    else:
        needs = _training_needs("segment", args, n_clusters=args.k)
    cube, info = _read(args, "segmenting", needs)
    H, W, B = cube.shape
    if args.k > H * W:
        raise ValueError(f"-k {args.k} asks for more clusters than the cube has pixels ({H * W})")
    X, valid, filled = _pixels(cube, info.nodata)
    # X is a copy whenever the file's layout is not pixel-major (a page per band): drop the
    # cube, or both stay in memory through training.
    del cube
    spatial_weight = args.spatial_weight
    if spatial_weight is None:
        spatial_weight = recipe_defaults()["spatial_weight"]
    if args.model is not None:
        from sklearn.pipeline import Pipeline

        check_model_bands(model_info, B, info.wavelengths)
        head = Pipeline(model.steps[:2])
        seg = _recommended_segmenter(args.k, (H, W), spatial_weight, args.seed)
    else:
        full = _training_pipeline(args, info.wavelengths, n_clusters=args.k, image_shape=(H, W))
        head, seg = full[:-1], full[-1]
    pipe, Z, labels = _segment(head, seg, X, valid, filled, (H, W), train=args.model is None)
    _write_segment_outputs(out, paths, pipe, X, valid, Z, labels, (H, W), info.wavelengths,
                           info.wavelength_units)
    if model_paths is not None:
        _write_model_outputs(out, model_paths, pipe, info.wavelengths)

"""``hsiae train``, and the training, loss curves and history every training command writes."""

import csv
import time
from pathlib import Path

import numpy as np

from hsiae.cli._common import _pixels, _pyplot, _read, _save_figure, logger
from hsiae.cli._memory import _needed_bytes
from hsiae.workflow.defaults import recipe_defaults


def _model_bands(args):
    """Bands the resampler of a trained model gives the encoder."""
    return args.bands if args.bands is not None else recipe_defaults()["bands"]


def _recipe(args):
    """What the model is for: ``hsiae train --for``; segmentation for the other commands."""
    return getattr(args, "recipe", None) or "segmentation"


def _training_needs(command, args, n_clusters=0):
    """``needs(shape, dtype)`` for :func:`hsiae.cli._common._read` of a run that trains."""
    zdims = args.zdims if args.zdims is not None else recipe_defaults(_recipe(args))["zdims"]

    def needs(shape, dtype):
        return _needed_bytes(command, shape, dtype, n_bands_model=_model_bands(args),
                             zdims=zdims, n_clusters=n_clusters)

    return needs


def _training_pipeline(args, wavelengths, *, n_clusters=None, image_shape=None,
                       extra=None):
    """resampler + encoder (+ segmenter when ``n_clusters``) with the CLI's options."""
    from hsiae import make_denoising_pipeline, make_segmentation_pipeline

    recipe = _recipe(args)
    d = recipe_defaults(recipe)
    opt = {name: getattr(args, name, None) for name in d}
    opt = {name: d[name] if value is None else value for name, value in opt.items()}
    bands = _model_bands(args)
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
    if recipe == "denoising":
        params = {k: v for k, v in params.items() if not k.startswith("spatialgmmsegmenter__")}
        return make_denoising_pipeline(random_state=args.seed, **params)
    pipe = make_segmentation_pipeline(n_clusters or 2, image_shape=image_shape,
                                      random_state=args.seed, **params)
    return pipe if n_clusters else pipe[:-1]


def _fit_head(head, X):
    enc = head[-1]
    per_epoch = X.shape[0] if enc.epoch_size is None else min(X.shape[0], enc.epoch_size)
    logger.info(
        "Training: %d spectra, %d -> %d bands, latent size %d, up to %d epochs of %s spectra",
        X.shape[0], X.shape[1], head[0].n_bands, enc.zdims, enc.max_epochs,
        f"{per_epoch:,}",
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


def _model_file_name(args):
    """``model.hsiae`` (the safe format) unless ``--model-format joblib`` asks for a pickle."""
    return f"model.{args.model_format or 'hsiae'}"


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


def run(args, out):
    from hsiae.cli._chunked import _check_chunk_options, _train_chunked
    from hsiae.workflow.usable import usable_rows

    if _check_chunk_options(args):
        return _train_chunked(args, out)
    paths = _plan_model_outputs(out, args.output)
    cube, info = _read(args, "training on", _training_needs("train", args))
    H, W, B = cube.shape
    X, valid, _ = _pixels(cube, info.nodata)
    # X is a copy whenever the file's layout is not pixel-major (a page per band): drop the
    # cube, or both stay in memory through training.
    del cube
    head = _training_pipeline(args, info.wavelengths)
    _fit_head(head, usable_rows(X, valid))
    _write_model_outputs(out, paths, head, info.wavelengths)

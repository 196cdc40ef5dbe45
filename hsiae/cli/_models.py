"""The models the commands train: the recipe with the command line's options, and its fit."""

import time

from hsiae.cli._errors import CLIError
from hsiae.cli._memory import _needed_bytes
from hsiae.cli._staging import logger
from hsiae.workflow.defaults import recipe_defaults


def _model_bands(args):
    """Bands the resampler of a trained model gives the encoder."""
    return args.bands if args.bands is not None else recipe_defaults()["bands"]


def _recipe(args):
    """What the model is for: ``hsiae train --for``; segmentation for the other commands."""
    return getattr(args, "recipe", None) or "segmentation"


def refuse_training_options(args, command, options):
    """With ``--model`` nothing is trained: refuse the training ``options`` given, before any work."""
    given = [f"--{name.replace('_', '-')}" for name in options if getattr(args, name) is not None]
    if given:
        raise CLIError(
            f"{', '.join(given)} only apply when {command} trains a model, not with --model; "
            f"drop {'them' if len(given) > 1 else 'it'} or drop --model"
        )


def training_needs(command, args, n_clusters=0):
    """``needs(shape, dtype)`` for reading a cube for a run that trains (``n_clusters``: ``-k``)."""
    zdims = args.zdims if args.zdims is not None else recipe_defaults(_recipe(args))["zdims"]
    bands = _model_bands(args)
    options = {"n_bands": f"--bands {bands}", "zdims": f"--zdims {zdims}", "n_clusters": f"-k {n_clusters}"}

    def needs(shape, dtype):
        return _needed_bytes(
            command, shape, dtype, n_bands_model=bands, zdims=zdims, n_clusters=n_clusters, options=options
        )

    return needs


def spatial_weight(args):
    value = getattr(args, "spatial_weight", None)
    return recipe_defaults()["spatial_weight"] if value is None else value


def training_pipeline(args, wavelengths, *, n_clusters=None, image_shape=None, extra=None):
    """Resampler + encoder (+ segmenter when ``n_clusters``) with the command line's options."""
    from hsiae.workflow.recipes import make_denoising_pipeline, make_segmentation_pipeline

    recipe = _recipe(args)
    d = recipe_defaults(recipe)
    opt = {name: getattr(args, name, None) for name in d}
    opt = {name: d[name] if value is None else value for name, value in opt.items()}
    params = {
        "spectralresampler__n_bands": _model_bands(args),
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
    for option, name in (("latent_activation", "latent_activation"), ("latent_l1", "latent_l1"), ("device", "device")):
        if getattr(args, option, None) is not None:
            params[f"aedencoder__{name}"] = getattr(args, option)
    params.update(extra or {})
    if recipe == "denoising":
        params = {k: v for k, v in params.items() if not k.startswith("spatialgmmsegmenter__")}
        return make_denoising_pipeline(random_state=args.seed, **params)
    pipe = make_segmentation_pipeline(n_clusters or 2, image_shape=image_shape, random_state=args.seed, **params)
    return pipe if n_clusters else pipe[:-1]


def recommended_segmenter(args, image_shape):
    """The segmenter of the recommended recipe, for a model trained elsewhere (``--model``)."""
    from hsiae.workflow.recipes import make_segmentation_pipeline, pipeline_parts

    pipe = make_segmentation_pipeline(
        args.k,
        image_shape=image_shape,
        random_state=args.seed,
        spatialgmmsegmenter__spatial_weight=spatial_weight(args),
    )
    return pipeline_parts(pipe, segmenter="required", fitted=False).segmenter


def fit_head(head, X):
    """Train the resampler and encoder on the usable spectra ``X``, saying what it does and did."""
    from hsiae.workflow.recipes import pipeline_parts

    parts = pipeline_parts(head, fitted=False)
    enc, res = parts.encoder, parts.resampler
    per_epoch = X.shape[0] if enc.epoch_size is None else min(X.shape[0], enc.epoch_size)
    n_in = X.shape[1]
    # SpectralResampler(upsample=False), the denoising recipe's, keeps the cube's own bands
    # when it has no more than n_bands: say so, rather than a resampling that does not happen.
    if res.target_wavelengths is None and not res.upsample and n_in <= res.n_bands:
        bands = f" of {n_in} bands (the cube's own: a denoising model never interpolates up to --bands {res.n_bands})"
    else:
        bands = f", {n_in} -> {res.n_bands} bands (resampled)"
    logger.info(
        "Training: %d spectra%s, latent size %d, up to %d epochs of %s spectra",
        X.shape[0],
        bands,
        enc.zdims,
        enc.max_epochs,
        f"{per_epoch:,}",
    )
    start = time.perf_counter()
    head.fit(X)
    if enc.validation_fraction > 0:
        logger.info(
            "Trained %d epochs in %.1f s; best epoch %d, validation loss %.4g",
            enc.n_epochs_,
            time.perf_counter() - start,
            enc.best_epoch_,
            enc.history_["valid_loss"][enc.best_epoch_ - 1],
        )
    else:
        logger.info(
            "Trained %d epochs in %.1f s; final training loss %.4g",
            enc.n_epochs_,
            time.perf_counter() - start,
            enc.history_["train_loss"][-1],
        )
    return head


def segment_in_memory(head, seg, X, valid, filled, image_shape, *, train):
    """Train the head (when ``train``) on the usable pixels, then the segmenter on every pixel's code.

    Returns the pipeline, the codes and the labels of :func:`hsiae.workflow.fitting.segment_pixels`.
    """
    from hsiae.workflow.fitting import segment_pixels
    from hsiae.workflow.usable import usable_rows

    if train:
        fit_head(head, usable_rows(X, valid))
    logger.info("Segmenting %d x %d pixels into %d clusters", *image_shape, seg.n_clusters)
    return segment_pixels(head, seg, X, valid, filled, fit_head=False)

"""``--chunks``: train, segment and denoise cubes larger than memory, chunk by chunk with dask.

The cube is opened lazily (:func:`hsiae.open_cube`); the model is trained on
a random sample of pixels drawn across all chunks; labels and denoised cubes
are computed chunk by chunk and streamed to disk. ``--scheduler`` picks the
dask scheduler: threads (default), processes, synchronous, or the address of
a dask.distributed scheduler.
"""

import contextlib
import math

import numpy as np

from hsiae.cli._common import _pyplot, _recommended_segmenter, _save_figure, logger
from hsiae.cli._errors import CLIError
from hsiae.cli._memory import _check_memory, _needed_bytes
from hsiae.cli._parser import LOCAL_SCHEDULERS
from hsiae.workflow.defaults import SAMPLE_SIZE, recipe_defaults

# Figures of a chunked run show the image downsampled to at most this many pixels a side.
_PREVIEW_PIXELS = 600
_CONNECT_TIMEOUT = "10s"


def _check_chunk_options(args):
    """Refuse the chunked options without --chunks, before any work."""
    if args.chunks is None:
        given = [name for name, value in (("--scheduler", args.scheduler),
                                          ("--sample-size", getattr(args, "sample_size", None)))
                 if value is not None]
        if given:
            raise CLIError(
                f"{' and '.join(given)} only apply with --chunks N (chunked processing of large "
                f"cubes); add --chunks or drop {'them' if len(given) > 1 else 'it'}"
            )
        return False
    try:
        import dask  # noqa: F401
    except ImportError:
        raise CLIError(
            "--chunks needs dask; install it with: pip install 'hsiae[dask]'"
        ) from None
    return True


@contextlib.contextmanager
def _scheduler(spec):
    """Run dask computations of the block on the scheduler ``spec`` names."""
    import dask

    spec = spec or "threads"
    if spec in LOCAL_SCHEDULERS:
        with dask.config.set(scheduler=spec):
            yield
        return
    try:
        from distributed import Client
    except ImportError:
        raise CLIError(
            "--scheduler ADDRESS needs dask.distributed; install it with: pip install "
            "'hsiae[dask]'"
        ) from None
    try:
        client = Client(spec, timeout=_CONNECT_TIMEOUT)
    except OSError as exc:
        raise OSError(
            f"could not connect to the dask scheduler at {spec} ({exc}); check the address "
            f"and that the scheduler runs ('dask scheduler'), or use --scheduler threads"
        ) from None
    logger.info("Computing on the dask cluster at %s (%d workers)", spec,
                len(client.scheduler_info().get("workers", {})))
    try:
        yield
    finally:
        client.close()


def _open(args, verb, needs_per_pixel):
    """Open the cube of ``args`` lazily; check that a chunk and the sample fit in memory."""
    from hsiae.io import open_cube

    cube, info = open_cube(args.cube, chunks=args.chunks, band_axis=args.band_axis,
                           variable=args.variable)
    H, W, B = cube.shape
    rows, cols = cube.chunksize[:2]
    import dask

    workers = 1 if args.scheduler == "synchronous" else (dask.system.CPU_COUNT or 1)
    # Each worker holds about one chunk's run at a time (and dask a few chunks more).
    needed = needs_per_pixel((rows, cols, B), cube.dtype) * (workers + 2)
    sample = getattr(args, "sample_size", None)
    if sample is not None or verb != "denoising":
        n = min(sample or SAMPLE_SIZE, H * W)
        needed += needs_per_pixel((n, 1, B), cube.dtype)
    _check_memory(f"{verb} the {H} x {W} x {B} {cube.dtype} cube '{args.cube}' in chunks of "
                  f"{rows} x {cols} pixels", needed,
                  advice="use smaller --chunks, a smaller --sample-size, or a machine with more "
                         "memory")
    logger.info("Opened %s lazily: %d x %d pixels, %d bands, %s, in chunks of %d x %d pixels",
                args.cube, H, W, B, cube.dtype, rows, cols)
    if B < 2:
        raise ValueError(f"'{args.cube}' has {B} band; hsiae needs spectra of at least 2 bands")
    return cube, info


def _sample(args, cube, nodata):
    from hsiae.workflow.fitting import sample_pixels

    n = args.sample_size or SAMPLE_SIZE
    X, index = sample_pixels(cube, n, nodata=nodata, random_state=args.seed)
    logger.info("Sampled %d usable pixels across the image", len(X))
    return X, index


def _train_chunked(args, out):
    from hsiae.cli._train import (
        _fit_head,
        _plan_model_outputs,
        _training_needs,
        _training_pipeline,
        _write_model_outputs,
    )

    paths = _plan_model_outputs(out, args.output)
    cube, info = _open(args, "training on", _training_needs("train", args))
    with _scheduler(args.scheduler):
        X, _ = _sample(args, cube, info.nodata)
    head = _training_pipeline(args, info.wavelengths)
    _fit_head(head, X)
    _write_model_outputs(out, paths, head, info.wavelengths)


def _preview_step(H, W):
    return max(1, math.ceil(max(H, W) / _PREVIEW_PIXELS))


def _stored_labels(path):
    import tifffile

    return tifffile.memmap(path, mode="r")


def _segment_chunked(args, out):
    from sklearn.pipeline import Pipeline

    from hsiae import cluster_mean_spectra, representative_spectra
    from hsiae.workflow.blocks import predict_blocks, transform_blocks
    from hsiae.cli._segment import (
        _cluster_names,
        _cluster_spectra_figure,
        _plan_segment_outputs,
        _write_cluster_csv,
    )
    from hsiae.cli._train import (
        _fit_head,
        _model_file_name,
        _plan_model_outputs,
        _training_needs,
        _training_pipeline,
        _write_model_outputs,
    )
    from hsiae.io import store_labels
    from hsiae.workflow.recipes import SegmentationPipeline, fit_segmenter
    from hsiae.plotting import plot_latent_maps, plot_segment_map

    outdir = out.plan_dir(args.output)
    paths = _plan_segment_outputs(out, outdir)
    model_paths = None
    if args.model is None:
        model_paths = _plan_model_outputs(out, outdir / _model_file_name(args))
        needs = _training_needs("segment", args, n_clusters=args.k)
    else:
        from hsiae.persistence import check_model_bands, load_model

        model, model_info = load_model(args.model)

        def needs(shape, dtype):
            return _needed_bytes("segment", shape, dtype, n_bands_model=model[0].n_bands_out_,
                                 zdims=model[1].zdims, n_clusters=args.k)
    cube, info = _open(args, "segmenting", needs)
    H, W, B = cube.shape
    n_sample = min(args.sample_size or SAMPLE_SIZE, H * W)
    if args.k > n_sample:
        raise ValueError(
            f"-k {args.k} asks for more clusters than the pixels sampled ({n_sample}); raise "
            f"--sample-size or lower -k"
        )
    spatial_weight = args.spatial_weight
    if spatial_weight is None:
        spatial_weight = recipe_defaults()["spatial_weight"]
    if args.model is not None:
        check_model_bands(model_info, B, info.wavelengths)
        head = Pipeline(model.steps[:2])
        seg = _recommended_segmenter(args.k, None, spatial_weight, args.seed)
    else:
        full = _training_pipeline(args, info.wavelengths, n_clusters=args.k)
        head, seg = full[:-1], full[-1]

    with _scheduler(args.scheduler):
        X, index = _sample(args, cube, info.nodata)
        if args.model is None:
            _fit_head(head, X)
        logger.info("Fitting %d clusters on the codes of the sample", args.k)
        fit_segmenter(seg.set_params(image_shape=None), head, head.transform(X))
        seg.set_params(image_shape=(H, W))
        pipe = SegmentationPipeline(list(head.steps) + [("spatialgmmsegmenter", seg)])
        fill = X.mean(axis=0)  # stands in for no-data pixels, as in the whole-image run
        logger.info("Segmenting %d x %d pixels chunk by chunk", H, W)
        labels_path = out.stage(paths["labels"])
        store_labels(labels_path, predict_blocks(pipe, cube, nodata=info.nodata, fill=fill),
                     force=True)
        step = _preview_step(H, W)
        preview = cube[::step, ::step]
        codes = transform_blocks(pipe, preview, nodata=info.nodata, fill=fill).compute()

    stored = _stored_labels(labels_path)  # 1..k, 0 = no data
    k = args.k
    counts = np.zeros(k + 1, dtype=np.int64)
    rows = max(1, (1 << 24) // W)
    for start in range(0, H, rows):
        counts += np.bincount(np.asarray(stored[start:start + rows]).ravel(), minlength=k + 1)
    logger.info("Pixels per cluster: %s", ", ".join(f"{c}: {n}" for c, n in
                                                   enumerate(counts[1:], start=1)))
    label_preview = np.asarray(stored[::step, ::step]).astype(np.int64) - 1
    sample_labels = np.asarray(stored.reshape(-1)[index]).astype(np.int64) - 1
    del stored

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5), layout="constrained")
    plot_segment_map(label_preview, names=_cluster_names(k), ax=ax)
    shown = "" if step == 1 else f", every {step}th pixel shown"
    ax.set_title(f"Segment map ({k} clusters; file values 1..{k}, 0 = no data{shown})")
    _save_figure(fig, out.stage(paths["segments"]))

    rep = representative_spectra(pipe)
    keep = sample_labels >= 0
    means, std = cluster_mean_spectra(pipe, X[keep], sample_labels[keep], return_std=True)
    fig = _cluster_spectra_figure(rep, means, std, info.wavelengths, info.wavelength_units,
                                  "Value")
    fig.axes[1].set_title(f"Mean input spectra of {int(keep.sum())} sampled pixels (\u00b1 1 std)")
    _save_figure(fig, out.stage(paths["spectra_png"]))
    _write_cluster_csv(out.stage(paths["spectra_csv"]), rep, means, std, info.wavelengths)
    _save_figure(plot_latent_maps(codes), out.stage(paths["latent"]))
    if model_paths is not None:
        _write_model_outputs(out, model_paths, pipe, info.wavelengths)


def _denoise_chunked(args, out, target, model, model_info):
    from sklearn.pipeline import Pipeline

    from hsiae.workflow.blocks import denoise_blocks
    from hsiae.cli._denoise import _cast_like
    from hsiae.io import store_cube
    from hsiae.persistence import check_model_bands

    def needs(shape, dtype):
        return _needed_bytes("denoise", shape, dtype, n_bands_model=model[0].n_bands_out_,
                             zdims=model[1].zdims)

    cube, info = _open(args, "denoising", needs)
    check_model_bands(model_info, cube.shape[2], info.wavelengths)
    head = Pipeline(model.steps[:2])
    denoised = denoise_blocks(head, cube, nodata=info.nodata)

    def merge(original, den):
        # no-data pixels (kept by denoise_blocks) are copied bit for bit from the input
        result = _cast_like(den, original.dtype)
        X = np.ascontiguousarray(original, dtype=np.float32).reshape(-1, original.shape[2])
        bad = ~np.all(np.isfinite(X), axis=1)
        if info.nodata is not None and not math.isnan(info.nodata):
            bad |= np.all(X == np.float32(info.nodata), axis=1)
        flat = result.reshape(-1, original.shape[2])
        flat[bad] = original.reshape(-1, original.shape[2])[bad]
        return result

    result = cube.map_blocks(merge, denoised, dtype=cube.dtype)
    band_axis = info.band_axis
    if band_axis not in (0, 2):
        logger.info("The input is band-interleaved by line, which TIFF cannot store; "
                    "writing one page per band")
        band_axis = 0
    logger.info("Denoising %d x %d pixels chunk by chunk", *cube.shape[:2])
    with _scheduler(args.scheduler):
        store_cube(out.stage(target), result, band_axis=band_axis, wavelengths=info.wavelengths,
                   wavelength_units=info.wavelength_units, nodata=info.nodata, force=True)

"""``hsiae unmix``: endmember spectra and per-pixel abundance maps of a cube.

An :class:`hsiae.AEUnmixer` is trained on a random sample of the usable
pixels (or taken from ``--model``); the abundances of every pixel follow,
in memory or, with ``--chunks``, chunk by chunk and streamed to disk.
"""

import csv
import math

import numpy as np

from hsiae.cli._errors import CLIError
from hsiae.cli._inputs import (
    SavedUnmixer,
    band_numbers,
    chunked,
    open_lazy,
    pixels,
    read,
    sample,
    sample_size,
    scheduler,
)
from hsiae.cli._memory import _needed_bytes
from hsiae.cli._models import refuse_training_options
from hsiae.cli._outputs import (
    band_columns,
    model_file_name,
    output_georeference,
    plan_model_outputs,
    pyplot,
    save_figure,
    write_model_outputs,
)
from hsiae.cli._staging import logger
from hsiae.workflow.defaults import SAMPLE_SIZE, UNMIXING

_TRAINING_OPTIONS = ("epochs", "batch_size", "lr", "device", "model_format")
_FILES = {
    "abundances": ("abundances.tif", "abundances"),
    "endmembers_csv": ("endmembers.csv", "endmember spectra table"),
    "endmembers_png": ("endmembers.png", "endmember spectra"),
    "maps": ("abundance_maps.png", "abundance maps"),
    "error": ("reconstruction_error.png", "reconstruction error"),
}
# The figures among them: left out with --no-figures.
_FIGURES = ("endmembers_png", "maps", "error")
# Figures of a chunked run show the image downsampled to at most this many pixels a side.
_PREVIEW_PIXELS = 600
# Pixels reconstructed at a time for the error map.
_SLAB = 1 << 16


def _check_options(args):
    if args.model is not None:
        refuse_training_options(args, "unmix", _TRAINING_OPTIONS)
    elif args.p is None:
        raise CLIError("give the number of endmembers with -p N (or a trained unmixer with --model)")


def _unmixer(args):
    from hsiae.unmixer import AEUnmixer

    def option(name, default_name):
        value = getattr(args, name)
        return UNMIXING[default_name] if value is None else value

    return AEUnmixer(
        args.p,
        max_epochs=option("epochs", "epochs"),
        batch_size=option("batch_size", "batch_size"),
        lr=option("lr", "lr"),
        solver=option("solver", "solver"),
        random_state=args.seed,
        device=args.device or "cpu",
        verbose=0 if args.quiet else 1,
    )


def _fit(unmixer, X):
    import time

    logger.info(
        "Training: %d spectra of %d bands, %d endmembers, %d epochs",
        X.shape[0],
        X.shape[1],
        unmixer.n_endmembers,
        unmixer.max_epochs,
    )
    start = time.perf_counter()
    unmixer.fit(X)
    logger.info(
        "Trained %d epochs in %.1f s; final training loss %.4g",
        unmixer.n_epochs_,
        time.perf_counter() - start,
        unmixer.history_["train_loss"][-1],
    )
    return unmixer


def _errors(unmixer, X, A):
    """Per-pixel RMSE and spectral angle (radians) of the reconstruction of ``X`` from its abundances ``A``."""
    from hsiae.metrics import spectral_angles

    rmse = np.empty(len(X), dtype=np.float32)
    angle = np.empty(len(X), dtype=np.float32)
    for start in range(0, len(X), _SLAB):
        part = X[start : start + _SLAB]
        rec = unmixer.reconstruct(part, abundances=A[start : start + _SLAB])
        rmse[start : start + len(part)] = np.sqrt(np.mean((rec - part) ** 2, axis=1))
        angle[start : start + len(part)] = spectral_angles(rec, part)
    return rmse, angle


def _error_figure(rmse, angle, every):
    """Maps of the per-pixel RMSE and spectral angle; no-data pixels (NaN) in the no-data colour."""
    from matplotlib import colormaps

    from hsiae.plotting import NODATA_COLOR, NODATA_NAME

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    shown = "" if every == 1 else f" (every {every}th pixel)"
    n_nodata = int(np.isnan(rmse).sum())
    if n_nodata:
        fig.suptitle(f"{n_nodata} no-data pixel{'s' if n_nodata != 1 else ''} in {NODATA_NAME}")
    cmap = colormaps["magma"].with_extremes(bad=NODATA_COLOR)
    for ax, values, title, label in (
        (axes[0], rmse, "RMSE", "RMSE (the cube's units)"),
        (axes[1], angle, "Spectral angle", "radians"),
    ):
        finite = values[np.isfinite(values)]
        top = float(np.percentile(finite, 99)) if finite.size else 1.0
        im = ax.imshow(values, cmap=cmap, vmin=0, vmax=top if top > 0 else 1.0, interpolation="nearest")
        ax.set_title(f"{title} of the reconstruction{shown}")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(
            im, ax=ax, shrink=0.85, label=label, extend="max" if finite.size and finite.max() > top else "neither"
        )
    return fig


def _endmember_figure(unmixer, wavelengths, units):
    from hsiae.plotting import plot_cluster_spectra

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    k = unmixer.n_endmembers
    plot_cluster_spectra(
        unmixer.endmembers_,
        wavelengths=wavelengths,
        wavelength_units=units,
        names=[f"Endmember {j + 1}" for j in range(k)],
        ax=ax,
    )
    scale = "at the median brightness of the pixels" if unmixer.normalize else "in the cube's units"
    ax.set_title(f"Endmember spectra ({scale})")
    return fig


def _write_endmembers(path, unmixer, info):
    """One row per band: its number in the file (from 1), its wavelength (or nothing) and each endmember's value."""
    E = unmixer.endmembers_
    header, bands = band_columns(info.wavelengths, info.wavelength_units, band_numbers(info, E.shape[1]))
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header + [f"endmember_{j + 1}" for j in range(len(E))])
        for b, leading in enumerate(bands):
            writer.writerow([*leading, *(f"{v:.9g}" for v in E[:, b])])


def _in_memory(args, out, paths, cube, info, mask, unmixer, train):
    from hsiae.io import write_cube
    from hsiae.workflow.fitting import sample_index
    from hsiae.workflow.usable import usable_rows

    H, W, B = cube.shape
    X, valid, _ = pixels(cube, info.nodata, mask, fate="their abundances NaN")
    del cube
    if train:
        index = sample_index(H * W, sample_size(args, H * W), args.seed)
        index = index[valid[index]]
        if len(index) < 2:
            raise ValueError(
                f"only {len(index)} of the sampled pixels are usable; check the "
                f"cube's no-data value, or raise --sample-size"
            )
        logger.info("Sampled %d usable pixels across the image", len(index))
        _fit(unmixer, X[index])
    k = unmixer.n_endmembers
    logger.info("Unmixing %d spectra", int(valid.sum()))
    usable = usable_rows(X, valid)
    A = np.full((H * W, k), np.nan, dtype=np.float32)
    A[valid] = unmixer.transform(usable)
    rmse = np.full(H * W, np.nan, dtype=np.float32)
    angle = np.full(H * W, np.nan, dtype=np.float32)
    rmse[valid], angle[valid] = _errors(unmixer, usable, A[valid])
    write_cube(out.stage(paths["abundances"]), A.reshape(H, W, k), band_axis=0, georeference=info.georeference)
    return A.reshape(H, W, k), rmse.reshape(H, W), angle.reshape(H, W), 1


def _in_chunks(args, out, paths, cube, info, mask, unmixer, train):
    import tifffile

    from hsiae.io import store_cube
    from hsiae.workflow.unmixing import unmix_blocks
    from hsiae.workflow.usable import usable_mask

    H, W, B = cube.shape
    with scheduler(args.scheduler):
        if train:
            X, _ = sample(args, cube, info.nodata, mask)
            _fit(unmixer, X)
        logger.info("Unmixing %d x %d pixels chunk by chunk", H, W)
        stored = out.stage(paths["abundances"])
        abundances = unmix_blocks(unmixer, cube, nodata=info.nodata, mask=mask)
        store_cube(stored, abundances, band_axis=0, georeference=info.georeference, force=True)
        every = max(1, math.ceil(max(H, W) / _PREVIEW_PIXELS))
        preview = np.asarray(cube[::every, ::every].compute())
    h, w, _ = preview.shape
    k = unmixer.n_endmembers
    # the figures' abundances, read back from the file rather than computed again
    pages = tifffile.memmap(stored, mode="r").reshape(k, H, W)
    A = np.moveaxis(np.asarray(pages[:, ::every, ::every]), 0, -1).reshape(h * w, k)
    del pages
    raw = preview.reshape(h * w, B)
    X = raw.astype(np.float32)
    valid = usable_mask(raw, info.nodata, float32=X, mask=None if mask is None else mask[::every, ::every].reshape(-1))
    rmse = np.full(h * w, np.nan, dtype=np.float32)
    angle = np.full(h * w, np.nan, dtype=np.float32)
    if valid.any():
        rmse[valid], angle[valid] = _errors(unmixer, X[valid], A[valid])
    return A.reshape(h, w, -1), rmse.reshape(h, w), angle.reshape(h, w), every


def run(args, out):
    _check_options(args)
    lazy = chunked(args, sampled=True)
    outdir = out.plan_dir(args.output)
    figures = not args.no_figures
    paths = {
        key: out.plan(outdir / name, what) for key, (name, what) in _FILES.items() if figures or key not in _FIGURES
    }
    train = args.model is None
    if train:
        model_paths = plan_model_outputs(out, outdir / model_file_name(args), figures=figures)
        unmixer = _unmixer(args)
        k = args.p
    else:
        saved = SavedUnmixer(args.model)
        unmixer = saved.unmixer
        k = unmixer.n_endmembers
        if args.p is not None and args.p != k:
            raise CLIError(
                f"-p {args.p} does not match the {k} endmembers of the model '{args.model}'; drop -p or pass -p {k}"
            )
        if args.solver is not None:
            unmixer.set_params(solver=args.solver)

    options = {"n_clusters": f"-p {k}"} if train else None

    def needs(shape, dtype):
        n_fit = min(args.sample_size or SAMPLE_SIZE, math.prod(shape[:2]))
        fit = (
            _needed_bytes(
                "unmix", (n_fit, 1, shape[2]), dtype, n_bands_model=shape[2], zdims=k, n_clusters=k, options=options
            )
            if train and not lazy
            else 0
        )
        return fit + _needed_bytes(
            "unmix", shape, dtype, n_bands_model=shape[2], zdims=k, n_clusters=k, options=options
        )

    # no resampling: the wavelengths only label the endmember spectra, in whatever order
    cube, info, mask = (open_lazy if lazy else read)(args, "unmixing", needs, increasing_wavelengths=False)
    info = output_georeference(info)  # before any work: what the abundances can carry
    H, W, B = cube.shape
    if not train:
        saved.check_bands(B, info)
    elif k > min(B, sample_size(args, H * W)):
        raise ValueError(
            f"-p {k} asks for more endmembers than the cube has bands ({B}) or sampled pixels "
            f"({sample_size(args, H * W)}); lower -p"
        )
    unmix = _in_chunks if lazy else _in_memory
    A, rmse, angle, every = unmix(args, out, paths, cube, info, mask, unmixer, train)
    del cube
    _write_endmembers(out.stage(paths["endmembers_csv"]), unmixer, info)
    if figures:
        from hsiae.plotting import plot_abundance_maps

        endmember_fig = _endmember_figure(unmixer, info.wavelengths, info.wavelength_units)
        save_figure(endmember_fig, out.stage(paths["endmembers_png"]))
        save_figure(plot_abundance_maps(A), out.stage(paths["maps"]))
        save_figure(_error_figure(rmse, angle, every), out.stage(paths["error"]))
    finite = angle[np.isfinite(angle)]
    if finite.size:
        logger.info(
            "Reconstruction: median spectral angle %.4f rad, median RMSE %.4g",
            float(np.median(finite)),
            float(np.nanmedian(rmse)),
        )
    if train:
        write_model_outputs(out, model_paths, unmixer, info.wavelengths)

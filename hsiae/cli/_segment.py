"""``hsiae segment``: segment maps, cluster spectra and latent maps of a cube.

The whole image in memory, or with ``--chunks`` a cube larger than memory:
the model is then trained, and the mixture fitted, on a random sample of
pixels drawn across all chunks, and the labels are computed chunk by chunk
and streamed to disk. Both write the same files.
"""

import math

import numpy as np

from hsiae.cli._inputs import (
    SavedModel,
    band_numbers,
    chunked,
    open_lazy,
    pixels,
    read,
    sample,
    sample_size,
    scheduler,
)
from hsiae.cli._models import (
    fit_head,
    recommended_segmenter,
    refuse_training_options,
    segment_in_memory,
    training_needs,
    training_pipeline,
)
from hsiae.cli._outputs import (
    model_file_name,
    output_georeference,
    plan_model_outputs,
    plan_segment_outputs,
    report_cluster_sizes,
    segment_map_figure,
    write_model_outputs,
    write_segment_figures,
    write_segment_outputs,
)
from hsiae.cli._staging import logger

_TRAINING_OPTIONS = (
    "architecture",
    "zdims",
    "epochs",
    "bands",
    "batch_size",
    "lr",
    "validation_fraction",
    "latent_activation",
    "latent_l1",
    "device",
    "model_format",
)
# Figures of a chunked run show the image downsampled to at most this many pixels a side.
_PREVIEW_PIXELS = 600


def _in_memory(args, out, paths, spectra, image_shape, info, head, seg, train):
    pipe, Z, labels = segment_in_memory(head, seg, *spectra, image_shape, train=train)
    write_segment_outputs(
        out, paths, pipe, spectra[0], spectra[1], Z, labels, image_shape, info.wavelengths, info.wavelength_units,
        georeference=info.georeference, band_numbers=band_numbers(info, spectra[0].shape[1]),
    )  # fmt: skip
    return pipe


def _stored_labels(path):
    import tifffile

    return tifffile.memmap(path, mode="r")


def _in_chunks(args, out, paths, cube, info, mask, head, seg, train):
    """Train on a sample, fit the mixture on its codes, label the image chunk by chunk."""
    from hsiae.io import store_labels
    from hsiae.workflow.blocks import predict_blocks, transform_blocks
    from hsiae.workflow.fitting import fit_on_pixels

    H, W, _ = cube.shape
    k = seg.n_clusters
    with scheduler(args.scheduler):
        X, index = sample(args, cube, info.nodata, mask)
        if train:
            fit_head(head, X)
        logger.info("Fitting %d clusters on the codes of the sample", k)
        pipe = fit_on_pixels(head, seg, X, (H, W), fit_head=False)
        fill = X.mean(axis=0)  # stands in for no-data pixels, as in the whole-image run
        logger.info("Segmenting %d x %d pixels chunk by chunk", H, W)
        labels_path = out.stage(paths["labels"])
        labels = predict_blocks(pipe, cube, nodata=info.nodata, mask=mask, fill=fill)
        store_labels(labels_path, labels, force=True, georeference=info.georeference)
        every = max(1, math.ceil(max(H, W) / _PREVIEW_PIXELS))
        codes = None
        if "latent" in paths:  # the codes of the preview only feed the latent maps
            codes = transform_blocks(
                pipe,
                cube[::every, ::every],
                nodata=info.nodata,
                mask=None if mask is None else mask[::every, ::every],
                fill=fill,
            ).compute()

    stored = _stored_labels(labels_path)  # 1..k, 0 = no data
    counts = np.zeros(k + 1, dtype=np.int64)
    rows = max(1, (1 << 24) // W)
    for start in range(0, H, rows):
        counts += np.bincount(np.asarray(stored[start : start + rows]).ravel(), minlength=k + 1)
    report_cluster_sizes(counts[1:])
    label_preview = np.asarray(stored[::every, ::every]).astype(np.int64) - 1
    sample_labels = np.asarray(stored.reshape(-1)[index]).astype(np.int64) - 1
    del stored
    if codes is not None:
        codes = np.where((label_preview >= 0)[..., None], codes, np.nan)  # no data, not a code
    keep = sample_labels >= 0
    write_segment_figures(
        out,
        paths,
        pipe,
        segment_map_figure(label_preview, k, every=every) if "segments" in paths else None,
        X[keep],
        sample_labels[keep],
        codes,
        info.wavelengths,
        info.wavelength_units,
        sampled=True,
        band_numbers=band_numbers(info, X.shape[1]),
    )
    return pipe


def run(args, out):
    from hsiae.workflow.recipes import pipeline_parts

    if args.model is not None:
        refuse_training_options(args, "segment", _TRAINING_OPTIONS)
    lazy = chunked(args)
    outdir = out.plan_dir(args.output)
    paths = plan_segment_outputs(out, outdir, figures=not args.no_figures)
    if args.model is None:
        model = None
        model_paths = plan_model_outputs(out, outdir / model_file_name(args), figures=not args.no_figures)
        needs = training_needs("segment", args, n_clusters=args.k)
    else:
        model = SavedModel(args.model)
        needs = model.needs("segment", n_clusters=args.k)
    cube, info, mask = (open_lazy if lazy else read)(args, "segmenting", needs)
    info = output_georeference(info)  # before any work: what the labels can carry
    H, W, B = cube.shape
    if lazy and args.k > sample_size(args, H * W):
        raise ValueError(
            f"-k {args.k} asks for more clusters than the pixels sampled "
            f"({sample_size(args, H * W)}); raise --sample-size or lower -k"
        )
    if args.k > H * W:
        raise ValueError(f"-k {args.k} asks for more clusters than the cube has pixels ({H * W})")
    image_shape = None if lazy else (H, W)
    if model is not None:
        model.check_bands(B, info)
        head, seg = model.head, recommended_segmenter(args, image_shape)
    else:
        head, seg = pipeline_parts(
            training_pipeline(args, info.wavelengths, n_clusters=args.k, image_shape=image_shape), fitted=False
        )
    train = model is None
    if lazy:
        pipe = _in_chunks(args, out, paths, cube, info, mask, head, seg, train)
    else:
        spectra = pixels(cube, info.nodata, mask, fate="labelled 0")
        # the spectra are a copy whenever the file's layout is not pixel-major (a page per
        # band): drop the cube, or both stay in memory through training.
        del cube
        pipe = _in_memory(args, out, paths, spectra, (H, W), info, head, seg, train)
    if train:
        write_model_outputs(out, model_paths, pipe, info.wavelengths)

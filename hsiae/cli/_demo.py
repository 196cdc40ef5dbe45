"""``hsiae demo``: the whole pipeline on a synthetic scene with known segments and spectra."""

import math
import time

import numpy as np

from hsiae.cli._inputs import pixels
from hsiae.cli._memory import _check_memory, _needed_bytes
from hsiae.cli._models import segment_in_memory, training_pipeline
from hsiae.cli._outputs import (
    cluster_names,
    model_file_name,
    plan_model_outputs,
    plan_segment_outputs,
    pyplot,
    save_figure,
    write_model_outputs,
    write_segment_outputs,
)
from hsiae.cli._parser import DEMO_DEFAULTS
from hsiae.cli._staging import logger

_DEMO_NOISE = 0.03
_DEMO_SCENE_BANDS = 128  # bands of make_synthetic_scene's cube


def run(args, out):
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
    from hsiae.workflow.recipes import pipeline_parts

    d = DEMO_DEFAULTS
    outdir = out.plan_dir(args.output)
    paths = plan_segment_outputs(out, outdir)
    model_paths = plan_model_outputs(out, outdir / model_file_name(args))
    scene_path = out.plan(outdir / "scene.tif", "input cube (noisy)")
    extra = {
        name: out.plan(outdir / f"{name}.png", what)
        for name, what in [
            ("band_image", "band image"),
            ("spectrum", "pixel spectrum"),
            ("reconstruction_error", "reconstruction error"),
            ("latent_traversal", "latent traversal"),
        ]
    }

    # the scene's noisy and clean cubes and its reconstruction, besides what segment holds
    shape = (args.size, args.size, _DEMO_SCENE_BANDS)
    _check_memory(
        f"the demo on a {args.size} x {args.size} scene",
        _needed_bytes(
            "segment",
            shape,
            np.dtype(np.float32),
            n_bands_model=args.bands,
            zdims=d["zdims"],
            n_clusters=d["k"],
            options={"n_bands": f"--bands {args.bands}"},
        )
        + 3 * math.prod(shape) * 4,
        advice="pass a smaller --size",
    )
    start = time.perf_counter()
    scene = make_synthetic_scene(
        shape=(args.size, args.size), n_bands=_DEMO_SCENE_BANDS, noise=_DEMO_NOISE, random_state=args.seed
    )
    H, W, B = scene.cube.shape
    wl, k = scene.wavelengths, d["k"]
    logger.info(
        "Synthetic scene: %d x %d pixels, %d bands (%g-%g nm), %d known segments, noise %g%% of the range",
        H,
        W,
        B,
        wl[0],
        wl[-1],
        k,
        _DEMO_NOISE * 100,
    )
    full = training_pipeline(args, wl, n_clusters=k, image_shape=(H, W), extra={"aedencoder__zdims": d["zdims"]})
    head, seg = pipeline_parts(full, fitted=False)
    X, valid, filled = pixels(scene.cube, None)
    pipe, Z, labels = segment_in_memory(head, seg, X, valid, filled, (H, W), train=True)
    recon = head.inverse_transform(head.transform(X)).reshape(H, W, B)

    truth = scene.labels.ravel()
    ari = adjusted_rand_score(truth, labels)
    psnr_in, psnr_out = psnr(scene.clean, scene.cube), psnr(scene.clean, recon)

    # Known segments in the colour of the cluster each is matched with, beside the result.
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    to_cluster = {cls: cluster for cluster, cls in match_clusters(truth, labels).items()}
    matched = np.array([to_cluster.get(t, -1) for t in truth]).reshape(H, W)
    plot_segment_map(matched, names=cluster_names(k), ax=left, legend=False)
    left.set_title("Known segments (coloured as their matched cluster)")
    plot_segment_map(labels.reshape(H, W), names=cluster_names(k), ax=right)
    right.set_title(f"hsiae segments (adjusted Rand index {ari:.2f})")
    write_segment_outputs(
        out, paths, pipe, X, valid, Z, labels, (H, W), wl, "nm", value_label="Reflectance", segments_fig=fig
    )
    write_model_outputs(out, model_paths, pipe, wl)
    write_cube(out.stage(scene_path), scene.cube, band_axis=0, wavelengths=wl, wavelength_units="nm")

    fig = plot_band_image(scene.cube, recon, wavelengths=wl, value_label="Reflectance")
    save_figure(fig, out.stage(extra["band_image"]))

    pixel = (H // 2, W // 2)
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    plot_spectrum(
        scene.cube,
        recon,
        pixel=pixel,
        others={"Clean (ground truth)": scene.clean},
        wavelengths=wl,
        value_label="Reflectance",
        ax=ax,
    )
    ax.set_title(f"Spectrum of pixel (row {pixel[0]}, col {pixel[1]}): noisy input, clean and reconstruction")
    save_figure(fig, out.stage(extra["spectrum"]))

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    plot_reconstruction_error(scene.cube, recon, ax=left)
    left.set_title("Against the noisy input\n" + left.get_title())
    plot_reconstruction_error(scene.clean, recon, ax=right)
    right.set_title("Against the clean cube\n" + right.get_title())
    save_figure(fig, out.stage(extra["reconstruction_error"]))

    fig = plot_latent_traversal(head.inverse_transform, Z, wavelengths=wl, value_label="Reflectance")
    save_figure(fig, out.stage(extra["latent_traversal"]))

    # printed after the list of files, as the last word
    return [
        f"Summary ({time.perf_counter() - start:.0f} s):",
        f"  segments:  adjusted Rand index {ari:.3f} against the {k} known segments",
        f"  denoising: PSNR {psnr_out:.1f} dB against the clean cube (the noisy input: {psnr_in:.1f} dB)",
    ]

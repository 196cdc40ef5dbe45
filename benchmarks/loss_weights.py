"""Measure the composite loss weights: MSE only, + SAM, + gradient, and their mix.

For each weighting, trains the same encoder on a scene and reports, on the
original bands: reconstruction RMSE, mean spectral angle, RMSE of the first
differences (spectral shape), and how well a plain Gaussian mixture on the
latent codes recovers the ground-truth classes (adjusted Rand index, overall
accuracy after Hungarian matching). Prints a Markdown table.

    python benchmarks/loss_weights.py --scene salinas_a --epochs 40 --seeds 0 1
"""

import argparse
import platform
import time

import numpy as np
import sklearn
import torch
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline

import hsiae
from hsiae import AEDEncoder, SpatialGMMSegmenter, SpectralResampler, load_scene, make_synthetic_scene
from hsiae.metrics import cluster_accuracy, mean_spectral_angle

WEIGHTS = {
    "MSE": (1.0, 0.0, 0.0),
    "MSE + 0.1 SAM": (1.0, 0.1, 0.0),
    "MSE + G": (1.0, 0.0, 1.0),
    "MSE + 0.1 SAM + G (default)": (1.0, 0.1, 1.0),
    "MSE + SAM + G": (1.0, 1.0, 1.0),
}


def run(scene, weights, epochs, seed, zdims):
    H, W, B = scene.cube.shape
    X = scene.cube.reshape(-1, B)
    mse, sam, grad = weights
    t0 = time.perf_counter()
    head = make_pipeline(
        SpectralResampler(n_bands=256),
        AEDEncoder(
            zdims=zdims, max_epochs=epochs, mse_weight=mse, sam_weight=sam, gradient_weight=grad, random_state=seed
        ),
    ).fit(X)
    fit_s = time.perf_counter() - t0
    Z = head.transform(X)
    rec = head.inverse_transform(Z)
    k = int(scene.labels.max())
    labels = SpatialGMMSegmenter(k, random_state=seed).fit_predict(Z)
    y = scene.labels.ravel()
    keep = y > 0
    d_err = np.diff(rec, axis=1) - np.diff(X, axis=1)
    return {
        "rmse": float(np.sqrt(np.mean((rec - X) ** 2))),
        "sam_deg": float(np.degrees(mean_spectral_angle(rec, X))),
        "grad_rmse": float(np.sqrt(np.mean(d_err**2))),
        "ari": adjusted_rand_score(y[keep], labels[keep]),
        "oa": cluster_accuracy(y, labels, ignore=0),
        "fit_s": fit_s,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default="salinas_a", help="salinas_a, samson, jasper_ridge or synthetic")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--zdims", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    if args.scene == "synthetic":
        scene = make_synthetic_scene(n_bands=128, noise=0.02, random_state=0)
    else:
        scene = load_scene(args.scene)
    print(
        f"# Loss weights on {scene.name} {scene.cube.shape}, zdims={args.zdims}, {args.epochs} epochs max, "
        f"seeds {args.seeds}"
    )
    print(
        f"# {platform.node()} ({platform.machine()}, {torch.get_num_threads()} torch threads), "
        f"hsiae {hsiae.__version__}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    print()
    print("| loss (mse, sam, gradient) | RMSE | SAM (deg) | gradient RMSE | ARI (GMM on latent) | OA | fit (s) |")
    print("|---|---|---|---|---|---|---|")
    for name, w in WEIGHTS.items():
        rows = [run(scene, w, args.epochs, s, args.zdims) for s in args.seeds]

        def cell(key, fmt):
            v = np.array([r[key] for r in rows])
            return f"{v.mean():{fmt}} ± {v.std():{fmt}}"

        print(
            f"| {name} {w} | {cell('rmse', '.4f')} | {cell('sam_deg', '.2f')} | {cell('grad_rmse', '.4f')} "
            f"| {cell('ari', '.3f')} | {cell('oa', '.3f')} | {cell('fit_s', '.0f')} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

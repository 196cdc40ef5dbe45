"""Compare the four autoencoder architectures on the synthetic scene.

For each architecture, a 3-dimensional latent is trained on
``make_synthetic_scene`` (whose spectra come from 3 known factors through a
nonlinear function) and the script reports:

- training throughput (spectra per second over whole epochs, data handling
  included) and its ratio to "conv", measured in the same run;
- reconstruction RMSE against the noise-free cube;
- how much of each generating factor the latent keeps: 5-fold cross-validated
  R^2 of a k-nearest-neighbours regression from the latent codes to the factor.

    python benchmarks/architectures.py --epochs 60 --seeds 0 1
"""

import argparse
import platform
import time

import numpy as np
import sklearn
import torch
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hsiae
from hsiae import AEDEncoder, SpectralResampler, make_synthetic_scene

ARCHITECTURES = ["conv", "dense", "lstm", "transformer"]


def factor_r2(Z, factors, seed):
    model = make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=10))
    cv = KFold(5, shuffle=True, random_state=seed)
    return [float(cross_val_score(model, Z, factors[:, j], cv=cv, scoring="r2").mean()) for j in range(3)]


def run(architecture, scene, epochs, seed):
    H, W, B = scene.cube.shape
    X = scene.cube.reshape(-1, B)
    clean = scene.clean.reshape(-1, B)
    head = make_pipeline(
        SpectralResampler(n_bands=B),
        AEDEncoder(zdims=3, architecture=architecture, max_epochs=epochs, random_state=seed),
    )
    t0 = time.perf_counter()
    head.fit(X)
    wall = time.perf_counter() - t0
    enc = head[-1]
    n_train = int(round(len(X) * (1 - enc.validation_fraction)))
    throughput = n_train * enc.n_epochs_ / enc.history_["dur"].sum()
    Z = head.transform(X)
    rec = head.inverse_transform(Z)
    return {
        "throughput": throughput,
        "wall": wall,
        "epochs": enc.n_epochs_,
        "rmse": float(np.sqrt(np.mean((rec - clean) ** 2))),
        "r2": factor_r2(Z, scene.factors.reshape(-1, 3), seed),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--bands", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    scene = make_synthetic_scene(n_bands=args.bands, noise=0.01, random_state=0)
    print(
        f"# Architectures on the synthetic scene {scene.cube.shape}, zdims=3, up to {args.epochs} epochs "
        f"(early stopping), seeds {args.seeds}"
    )
    print(
        f"# {platform.machine()}, {torch.get_num_threads()} torch threads, hsiae {hsiae.__version__}, "
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, {time.strftime('%Y-%m-%d')}"
    )
    print()
    print("| architecture | train spectra/s | vs conv | epochs | fit (s) | RMSE vs clean | R² f1 | R² f2 | R² f3 |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = {a: [run(a, scene, args.epochs, s) for s in args.seeds] for a in ARCHITECTURES}
    conv_tp = np.mean([r["throughput"] for r in results["conv"]])
    for a, rows in results.items():
        tp = np.array([r["throughput"] for r in rows])
        r2 = np.array([r["r2"] for r in rows])
        print(
            f"| {a} | {tp.mean():,.0f} | {tp.mean() / conv_tp:.2f} | {np.mean([r['epochs'] for r in rows]):.0f} "
            f"| {np.mean([r['wall'] for r in rows]):.0f} | {np.mean([r['rmse'] for r in rows]):.4f} | "
            + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(r2.mean(0), r2.std(0)))
            + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()

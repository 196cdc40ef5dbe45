"""Sparse latent codes: what AEDEncoder(latent_l1=...) gives, and what it costs in reconstruction.

The scene is ``hsiae.make_synthetic_scene(n_bands=64, shape=(64, 64))``
(noise 0.01, a new scene per seed), scaled by ``SpectralResampler(scaling="range")``
as in the recipes; the encoder is ``AEDEncoder(zdims=8)`` with the library's
other defaults. Per ``latent_l1``: the share of near-zero code entries
(``|z|`` below 1 % of the largest ``|z|`` of the scene), the share below 1 %
of each pixel's own largest ``|z|``, the mean number of entries per pixel
above that, and the reconstruction RMSE in the resampler's units; mean ±
standard deviation over the seeds.

    python benchmarks/latent_sparsity.py                      # latent_l1 0 0.01 0.1 1, seeds 0 1 2
    python benchmarks/latent_sparsity.py --l1 0 --set linear_path=False     # the network alone, no penalty
    python benchmarks/latent_sparsity.py --l1 0 0.1 --seeds 0 --set latent_activation=relu
"""

import argparse
import time

import numpy as np
import torch
from sklearn.pipeline import make_pipeline

from hsiae import AEDEncoder, SpectralResampler, make_synthetic_scene


def run(l1, seed, overrides):
    cube = make_synthetic_scene(64, shape=(64, 64), random_state=seed).cube
    X = cube.reshape(-1, cube.shape[-1])
    pipe = make_pipeline(
        SpectralResampler(scaling="range"), AEDEncoder(zdims=8, latent_l1=l1, random_state=seed, **overrides)
    )
    start = time.perf_counter()
    pipe.fit(X)
    elapsed = time.perf_counter() - start
    Xs = pipe[0].transform(X)
    Z = pipe[1].transform(Xs)
    A = np.abs(Z)
    rec = pipe[1].inverse_transform(Z)
    per_pixel = A < 0.01 * A.max(axis=1, keepdims=True)
    return {
        "global": float(np.mean(A < 0.01 * A.max())),
        "pixel": float(per_pixel.mean()),
        "active": float((~per_pixel).sum(axis=1).mean()),
        "rmse": float(np.sqrt(np.mean((rec - Xs) ** 2))),
        "time": elapsed,
    }


def _cell(values, fmt="{:.3f}"):
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(values.mean())} ± {fmt.format(values.std())}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--l1", nargs="+", type=float, default=[0.0, 0.01, 0.1, 1.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--set",
        nargs="*",
        metavar="PARAM=VALUE",
        default=[],
        help="AEDEncoder parameters to override (numbers or words)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if value in ("True", "False", "None"):
            overrides[key] = {"True": True, "False": False, "None": None}[value]
            continue
        try:
            overrides[key] = float(value) if "." in value or "e" in value else int(value)
        except ValueError:
            overrides[key] = value
    print(
        f"# AEDEncoder(zdims=8) on make_synthetic_scene(64 bands, 64 x 64), seeds {args.seeds}, "
        f"overrides: {overrides or 'none'}, {time.strftime('%Y-%m-%d')}\n"
    )
    print(
        "| latent_l1 | entries < 1 % of the largest | entries < 1 % of the pixel's largest "
        "| active entries per pixel (of 8) | reconstruction RMSE | fit (s) |"
    )
    print("|---|---|---|---|---|---|")
    for l1 in args.l1:
        runs = [run(l1, seed, overrides) for seed in args.seeds]
        print(
            f"| {l1:g} | {_cell([r['global'] for r in runs], '{:.2f}')} | "
            f"{_cell([r['pixel'] for r in runs], '{:.2f}')} | {_cell([r['active'] for r in runs], '{:.1f}')} | "
            f"{_cell([r['rmse'] for r in runs], '{:.4f}')} | {_cell([r['time'] for r in runs], '{:.1f}')} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

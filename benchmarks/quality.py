"""Segmentation and denoising quality on the real scenes, against baselines.

Segmentation (labels used only for scoring): hsiae's recommended pipeline,
``hsiae.make_segmentation_pipeline(k, image_shape, random_state)``, against

- the same pipeline with scikit-learn's ``PCA(zdims)`` in place of the
  encoder, everything else equal (the linear method at the same rank: what
  the network has to beat),
- k-means on normalised spectra (the cube scaled to [0, 1] by its range),
- PCA(10) + k-means,
- PCA(10) + GaussianMixture (full covariances),
- GaussianMixture on the spectra (full covariances),

on Salinas-A (6 crop classes), Samson (3) and Jasper Ridge (4; class = the
endmember with the largest abundance). Per method and scene: overall accuracy
after the best one-to-one matching of clusters to classes (Hungarian),
normalised mutual information, adjusted Rand index and wall time, as mean ±
standard deviation over the seeds; for Samson and Jasper Ridge also the mean
spectral angle between the matched clusters' spectra and the ground-truth
endmembers (decoded centres for hsiae, cluster means for every method).

Denoising: Gaussian noise of 1 %, 5 % and 10 % of the data range added to
Salinas-A and Jasper Ridge; PSNR and mean spectral angle against the clean
cube for hsiae's recommended denoiser, ``hsiae.make_denoising_pipeline``
(trained on the noisy cube), the PCA projection at the same rank as its
``zdims`` (plain, and with the Wiener shrinkage that the denoiser's linear
path applies, to show what the network adds), Savitzky-Golay along the
bands, and nothing.

Prints Markdown tables with the machine, versions and date::

    python benchmarks/quality.py                       # everything, seeds 0 1 2
    python benchmarks/quality.py --part segmentation --scenes samson --seeds 0
    python benchmarks/quality.py --set aedencoder__zdims=16   # try an override

Run it on a quiet machine: it sets torch to one thread by default so that
the numbers do not depend on what else runs.
"""

import argparse
import ast
import platform
import time
import warnings

import numpy as np
import sklearn
import torch
from scipy.signal import savgol_filter
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture

import hsiae
from hsiae import (
    SegmentationPipeline,
    load_scene,
    make_denoising_pipeline,
    make_segmentation_pipeline,
    representative_spectra,
)
from hsiae.metrics import cluster_accuracy, match_clusters, psnr, spectral_angles

SCENES = {"salinas_a": 6, "samson": 3, "jasper_ridge": 4}
NOISE_LEVELS = (0.01, 0.05, 0.10)
SAVGOL = {"window_length": 9, "polyorder": 2}


# -- segmentation ---------------------------------------------------------------


def _cluster_means(X, labels, k):
    return np.stack([X[labels == c].mean(axis=0) if np.any(labels == c) else np.zeros(X.shape[1]) for c in range(k)])


def _baselines(X, k, seed):
    """{name: (labels, wall seconds)} for the baseline methods, each timed alone."""
    lo, hi = X.min(), X.max()
    Xn = (X - lo) / (hi - lo)
    jobs = {
        "k-means (normalised spectra)": lambda: KMeans(k, n_init=10, random_state=seed).fit_predict(Xn),
        "PCA(10) + k-means": lambda: KMeans(k, n_init=10, random_state=seed).fit_predict(
            PCA(10, random_state=seed).fit_transform(Xn)
        ),
        "PCA(10) + GaussianMixture": lambda: GaussianMixture(k, random_state=seed).fit_predict(
            PCA(10, random_state=seed).fit_transform(Xn)
        ),
        "GaussianMixture (spectra)": lambda: GaussianMixture(k, reg_covar=1e-4, random_state=seed).fit_predict(Xn),
    }
    out = {}
    for method, job in jobs.items():
        t0 = time.perf_counter()
        labels = job()
        out[method] = (labels, time.perf_counter() - t0)
    return out


def _endmember_angle(labels, spectra, scene):
    """Mean angle (degrees) between matched cluster spectra and the ground-truth endmembers."""
    y = scene.labels.ravel()
    mapping = match_clusters(y, labels)
    E = np.asarray(scene.endmembers).T  # (k, bands)
    pairs = [(c, cls) for c, cls in mapping.items()]
    A = np.stack([spectra[c] for c, _ in pairs])
    B = np.stack([E[cls - 1] for _, cls in pairs])
    return float(np.degrees(np.mean(spectral_angles(A, B))))


def _scores(scene, labels):
    y = scene.labels.ravel()
    keep = y > 0
    return {
        "OA": cluster_accuracy(y, labels, ignore=0),
        "NMI": normalized_mutual_info_score(y[keep], labels[keep]),
        "ARI": adjusted_rand_score(y[keep], labels[keep]),
    }


def segmentation_runs(name, seeds, overrides):
    scene = load_scene(name)
    H, W, B = scene.cube.shape
    X = scene.cube.reshape(-1, B).astype(np.float64)
    k = SCENES[name]
    rows = {}
    for seed in seeds:
        t0 = time.perf_counter()
        pipe = make_segmentation_pipeline(k, image_shape=(H, W), random_state=seed, **overrides)
        labels = pipe.fit_predict(X.astype(np.float32))
        seconds = time.perf_counter() - t0
        r = {**_scores(scene, labels), "time": seconds}
        if scene.endmembers is not None:
            r["angle"] = _endmember_angle(labels, representative_spectra(pipe), scene)
            r["angle_mean"] = _endmember_angle(labels, _cluster_means(X, labels, k), scene)
        rows.setdefault("hsiae (recommended pipeline)", []).append(r)
        # the recipe with PCA at the same rank in the encoder's place
        steps = pipe.steps
        pca_pipe = SegmentationPipeline(
            [
                steps[0],
                ("pca", PCA(steps[1][1].zdims, random_state=seed)),
                steps[2],
            ]
        )
        pca_pipe = sklearn.base.clone(pca_pipe)
        t0 = time.perf_counter()
        labels = pca_pipe.fit_predict(X.astype(np.float32))
        r = {**_scores(scene, labels), "time": time.perf_counter() - t0}
        if scene.endmembers is not None:
            r["angle"] = _endmember_angle(labels, representative_spectra(pca_pipe), scene)
            r["angle_mean"] = _endmember_angle(labels, _cluster_means(X, labels, k), scene)
        rows.setdefault(f"the recipe with PCA({steps[1][1].zdims}) in the encoder's place", []).append(r)
        for method, (labels, seconds) in _baselines(X, k, seed).items():
            r = {**_scores(scene, labels), "time": seconds}
            if scene.endmembers is not None:
                r["angle_mean"] = _endmember_angle(labels, _cluster_means(X, labels, k), scene)
            rows.setdefault(method, []).append(r)
        print(
            f"  {name} seed {seed}: hsiae OA {rows['hsiae (recommended pipeline)'][-1]['OA']:.3f}, "
            f"with PCA {list(rows.values())[1][-1]['OA']:.3f}",
            flush=True,
        )
    return scene, rows


def _cell(values, fmt):
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return "-"
    return f"{v.mean():{fmt}} ± {v.std():{fmt}}"


def print_segmentation(scene, rows, seeds):
    H, W, B = scene.cube.shape
    print(f"\n### {scene.name} ({H} x {W} x {B}, {SCENES[scene.name]} classes), seeds {seeds}\n")
    has_em = scene.endmembers is not None
    head = "| method | OA | NMI | ARI | time (s) |"
    sep = "|---|---|---|---|---|"
    if has_em:
        head += " endmember angle, decoded centres (deg) | endmember angle, cluster means (deg) |"
        sep += "---|---|"
    print(head)
    print(sep)
    for method, rs in rows.items():
        line = (
            f"| {method} | {_cell([r['OA'] for r in rs], '.3f')} | {_cell([r['NMI'] for r in rs], '.3f')} "
            f"| {_cell([r['ARI'] for r in rs], '.3f')} | {_cell([r['time'] for r in rs], '.1f')} |"
        )
        if has_em:
            line += (
                f" {_cell([r.get('angle') for r in rs], '.2f')} | {_cell([r.get('angle_mean') for r in rs], '.2f')} |"
            )
        print(line, flush=True)


# -- denoising ------------------------------------------------------------------


def denoising_runs(name, seeds, overrides):
    scene = load_scene(name)
    H, W, B = scene.cube.shape
    clean = scene.cube.reshape(-1, B).astype(np.float64)
    data_range = float(clean.max() - clean.min())
    rows = {}
    for level in NOISE_LEVELS:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            noisy = clean + rng.normal(scale=level * data_range, size=clean.shape)
            head = make_denoising_pipeline(random_state=seed, **overrides)
            t0 = time.perf_counter()
            head.fit(noisy.astype(np.float32))
            hs = head.inverse_transform(head.transform(noisy.astype(np.float32))).astype(np.float64)
            t_hs = time.perf_counter() - t0
            zdims = head[-1].zdims
            t0 = time.perf_counter()
            pca = PCA(zdims, random_state=seed).fit(noisy)
            scores = pca.transform(noisy)
            pc = pca.inverse_transform(scores)
            t_pc = time.perf_counter() - t0
            # The same projection with each component weighed by Wiener's gain (var - noise) / var, the
            # noise variance taken as the median variance of the components beyond the rank: what the
            # recommended denoiser's linear path does, without the network.
            t0 = time.perf_counter()
            variances = np.linalg.eigvalsh(np.cov(noisy, rowvar=False))[::-1]
            noise = np.median(variances[zdims:])
            gains = np.clip((variances[:zdims] - noise) / variances[:zdims], 0.0, 1.0)
            pw = pca.inverse_transform(scores * gains)
            t_pw = t_pc + time.perf_counter() - t0
            t0 = time.perf_counter()
            sg = savgol_filter(noisy, axis=1, **SAVGOL)
            t_sg = time.perf_counter() - t0
            for method, est, t in [
                ("hsiae (encode + decode)", hs, t_hs),
                (f"PCA projection, rank {zdims}", pc, t_pc),
                (f"PCA projection, rank {zdims}, Wiener-shrunk", pw, t_pw),
                (f"Savitzky-Golay ({SAVGOL['window_length']}, {SAVGOL['polyorder']})", sg, t_sg),
                ("noisy input", noisy, 0.0),
            ]:
                rows.setdefault((level, method), []).append(
                    {
                        "psnr": psnr(clean, est, data_range=data_range),
                        "sam": float(np.degrees(np.mean(spectral_angles(clean, est)))),
                        "time": t,
                    }
                )
            ours = rows[(level, "hsiae (encode + decode)")][-1]["psnr"]
            print(
                f"  {name} noise {level:.0%} seed {seed}: hsiae {ours:.2f} dB, "
                f"PCA {rows[(level, f'PCA projection, rank {zdims}')][-1]['psnr']:.2f} dB",
                flush=True,
            )
    return scene, rows


def print_denoising(scene, rows, seeds):
    H, W, B = scene.cube.shape
    print(f"\n### Denoising {scene.name} ({H} x {W} x {B}), seeds {seeds}\n")
    print("| noise (of range) | method | PSNR (dB) | mean spectral angle (deg) | time (s) |")
    print("|---|---|---|---|---|")
    for (level, method), rs in rows.items():
        print(
            f"| {level:.0%} | {method} | {_cell([r['psnr'] for r in rs], '.2f')} "
            f"| {_cell([r['sam'] for r in rs], '.3f')} | {_cell([r['time'] for r in rs], '.1f')} |",
            flush=True,
        )


def _parse_overrides(items):
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "segmentation", "denoising"], default="all")
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="PARAM=VALUE",
        help="segmentation pipeline overrides in set_params form, e.g. aedencoder__zdims=16",
    )
    parser.add_argument(
        "--set-denoising",
        nargs="*",
        default=[],
        metavar="PARAM=VALUE",
        help="denoising pipeline overrides, e.g. aedencoder__max_epochs=100",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=sklearn.exceptions.ConvergenceWarning)
    overrides = _parse_overrides(args.set)
    print(f"# Quality: hsiae against baselines{' with ' + str(overrides) if overrides else ''}")
    print(
        f"# {platform.node()} ({platform.machine()}, {torch.get_num_threads()} torch threads), "
        f"hsiae {hsiae.__version__}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}, {time.strftime('%Y-%m-%d')}"
    )
    if args.part in ("all", "segmentation"):
        for name in args.scenes:
            scene, rows = segmentation_runs(name, args.seeds, overrides)
            print_segmentation(scene, rows, args.seeds)
    if args.part in ("all", "denoising"):
        for name in [s for s in args.scenes if s in ("salinas_a", "jasper_ridge")]:
            scene, rows = denoising_runs(name, args.seeds, _parse_overrides(args.set_denoising))
            print_denoising(scene, rows, args.seeds)


if __name__ == "__main__":
    main()

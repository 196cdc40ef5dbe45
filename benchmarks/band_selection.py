"""Leaving noisy bands out before segmenting: `hsiae bands`' suggestion against the scene's curated band list.

Salinas-A is published both whole (224 bands) and "corrected" (204: bands
108-112, 154-167 and 224 left out by hand, for water absorption). This
script segments it three ways with the recommended pipeline
(``make_segmentation_pipeline(6, image_shape, spectralresampler__wavelengths=...)``,
as ``hsiae segment`` builds it) and scores the labels against the ground
truth (overall accuracy after the best matching of clusters to classes,
and NMI; labels are used only for scoring):

- all 224 bands;
- the bands ``hsiae bands`` keeps: those whose SNR (``hsiae.noise.band_snr``)
  is at most 15 dB below the median band's, estimated on the 224-band cube;
- the 204 bands of the corrected cube.

Each row also fits the same pipeline with ``PCA`` of the encoder's rank in
the encoder's place, the linear method a user would try first.

    python benchmarks/band_selection.py                 # seeds 0-5
    python benchmarks/band_selection.py --seeds 0 1 2
"""

import argparse
import platform
import time

import numpy as np
import sklearn
import torch
from _scenes import SALINAS_CURATED_OUT, band_ranges
from sklearn.decomposition import PCA

import hsiae
from hsiae import SegmentationPipeline, load_scene, make_segmentation_pipeline
from hsiae.metrics import cluster_accuracy
from hsiae.noise import band_snr

K = 6
BELOW = 15.0


def band_sets(cube):
    X = cube.reshape(-1, cube.shape[-1])
    snr = band_snr(X)
    flagged = np.flatnonzero(snr < np.median(snr) - BELOW)
    curated = SALINAS_CURATED_OUT
    every = np.arange(cube.shape[-1])
    return {
        "all 224 bands": every,
        f"hsiae bands' suggestion ({len(every) - len(flagged)} bands; out: {band_ranges(flagged)})": np.setdiff1d(
            every, flagged
        ),
        f"the corrected cube ({len(every) - len(curated)} bands; out: {band_ranges(curated)})": np.setdiff1d(
            every, curated
        ),
    }


def run(cube, wavelengths, labels, keep, seed):
    H, W, _ = cube.shape
    X = cube[:, :, keep].reshape(-1, len(keep)).astype(np.float32)
    pipe = make_segmentation_pipeline(
        K, image_shape=(H, W), random_state=seed, spectralresampler__wavelengths=wavelengths[keep]
    )
    start = time.perf_counter()
    predicted = pipe.fit_predict(X)
    seconds = time.perf_counter() - start
    pca = sklearn.base.clone(
        SegmentationPipeline([pipe.steps[0], ("pca", PCA(pipe.steps[1][1].zdims, random_state=seed)), pipe.steps[2]])
    )
    with_pca = pca.fit_predict(X)
    y = labels.ravel()
    keep_y = y > 0
    return {
        "OA": cluster_accuracy(y, predicted, ignore=0),
        "NMI": sklearn.metrics.normalized_mutual_info_score(y[keep_y], predicted[keep_y]),
        "OA_pca": cluster_accuracy(y, with_pca, ignore=0),
        "time": seconds,
    }


def _cell(values, fmt="{:.3f}"):
    values = np.asarray(values, dtype=float)
    return f"{fmt.format(values.mean())} ± {fmt.format(values.std())}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4, 5])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"# {platform.node()} ({platform.machine()}, 1 torch thread), hsiae {hsiae.__version__}, "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}; seeds {args.seeds}\n"
    )
    scene = load_scene("salinas_a", corrected=False)
    cube, wavelengths = scene.cube, np.asarray(scene.wavelengths)
    sets = band_sets(cube)
    results = {name: [] for name in sets}
    for seed in args.seeds:
        for name, keep in sets.items():
            results[name].append(run(cube, wavelengths, scene.labels, keep, seed))
            print(f"  seed {seed}, {name.split(' (')[0]}: OA {results[name][-1]['OA']:.3f}", flush=True)
    print("\n| bands | OA | NMI | OA with PCA in the encoder's place | time of a fit (s) |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        cells = [_cell([r[key] for r in rows]) for key in ("OA", "NMI", "OA_pca")]
        print(f"| {name} | {' | '.join(cells)} | {_cell([r['time'] for r in rows], '{:.1f}')} |")
    print("\nOA per seed:")
    for name, rows in results.items():
        per_seed = " ".join(f"{r['OA']:.3f}" for r in rows)
        print(f"- {name.split(' (')[0]}: {per_seed}")


if __name__ == "__main__":
    main()

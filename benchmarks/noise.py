"""Noise, band SNR and signal subspace estimated from the data alone (`hsiae.noise`), against what is known.

Four tables:

1. ``estimate_noise`` on ``make_unmixing_scene(4, snr=...)`` (64 x 64 x 128,
   white noise of known standard deviation): the relative error of each
   band's estimate against the standard deviation of the noise actually added
   (median and largest over the bands), and the scene's SNR from ``band_snr``
   against the one asked for.
2. ``hysime`` on ``make_unmixing_scene(k, snr=...)``: how often it gives
   ``k``, next to two rules a user might try first on PCA's eigenvalues of the
   (uncentred) correlation matrix: the components for 99.9 % of the power,
   and those whose eigenvalue exceeds twice the mean noise power.
3. The same three estimates on the real scenes, against the number of
   materials their ground truth names (Samson 3, Jasper Ridge 4 endmembers;
   Salinas-A 6 crop classes).
4. Salinas-A's 224-band cube: the 20 bands its corrected version leaves out
   (108-112, 154-167, 224, 1-based) against the 20 bands of lowest estimated
   SNR, and the time of ``band_snr`` and ``hysime`` on 1,000,000 pixels x 224 bands
   (Salinas-A's pixels tiled, float32).

    python benchmarks/noise.py                                   # all tables
    python benchmarks/noise.py --figure docs/images/band_snr_salinas_a.png

The real scenes are read from ``HSIAE_DATA`` (default ``../shared/data``); tables 3-4 are skipped without them.
"""

import argparse
import platform
import time

import numpy as np
from _scenes import SALINAS_CURATED_OUT, band_ranges

import hsiae
from hsiae import load_scene, make_unmixing_scene
from hsiae.datasets import get_data_home
from hsiae.noise import band_snr, estimate_noise, hysime

REAL = {"samson": 3, "jasper_ridge": 4, "salinas_a": 6}


def pixels(cube):
    return cube.reshape(-1, cube.shape[-1])


def pca_rules(X):
    """Components for 99.9 % of the power, and eigenvalues above twice the mean noise power."""
    X = np.asarray(X, dtype=np.float64)
    values = np.sort(np.linalg.eigvalsh(X.T @ X / len(X)))[::-1]
    share = np.cumsum(values) / values.sum()
    noise = np.mean(estimate_noise(X) ** 2)
    return int(np.searchsorted(share, 0.999) + 1), int(np.count_nonzero(values > 2 * noise))


def table_noise(seeds):
    print("\n### 1. Noise per band on the synthetic scene (4 endmembers, 64 x 64 x 128)\n")
    print("| SNR asked (dB) | seed | median relative error | largest relative error | scene SNR from band_snr (dB) |")
    print("|---|---|---|---|---|")
    for snr in (20, 30, 40):
        for seed in seeds:
            scene = make_unmixing_scene(4, snr=snr, random_state=seed)
            X, clean = pixels(scene.cube), pixels(scene.clean)
            error = np.abs(estimate_noise(X) / (X - clean).std(axis=0) - 1)
            ratios = band_snr(X)
            # the scene's SNR: total signal power over total noise power, from the per-band ratios
            signal = (X.astype(np.float64) ** 2).mean(axis=0) / (1 + 10 ** (-ratios / 10))
            noise = signal / 10 ** (ratios / 10)
            overall = 10 * np.log10(signal.sum() / noise.sum())
            print(f"| {snr} | {seed} | {np.median(error):.3f} | {error.max():.3f} | {overall:.2f} |")


def table_hysime(seeds):
    print("\n### 2. Signal subspace on the synthetic scene: how often each rule finds k\n")
    print("| k | SNR (dB) | HySime | PCA 99.9 % power | PCA eigenvalue > 2 x noise | HySime's estimates |")
    print("|---|---|---|---|---|---|")
    totals = np.zeros(3, dtype=int)
    runs = 0
    for k in (3, 4, 5, 6, 8):
        for snr in (20, 30, 40):
            found = []
            for seed in seeds:
                X = pixels(make_unmixing_scene(k, snr=snr, random_state=seed).cube)
                found.append((hysime(X), *pca_rules(X)))
            found = np.array(found)
            right = (found == k).sum(axis=0)
            totals += right
            runs += len(seeds)
            cells = " | ".join(f"{r}/{len(seeds)}" for r in right)
            print(f"| {k} | {snr} | {cells} | {' '.join(map(str, found[:, 0]))} |")
    print(f"| all | | {totals[0]}/{runs} | {totals[1]}/{runs} | {totals[2]}/{runs} | |")


def table_real():
    print("\n### 3. The real scenes: estimates against the materials of the ground truth\n")
    print(
        "| scene | pixels x bands | materials | HySime | PCA 99.9 % power | PCA eigenvalue > 2 x noise "
        "| median band SNR (dB) | time of hysime (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, materials in REAL.items():
        X = pixels(load_scene(name).cube)
        start = time.perf_counter()
        k = hysime(X)
        elapsed = time.perf_counter() - start
        power, eigen = pca_rules(X)
        print(
            f"| {name} | {X.shape[0]} x {X.shape[1]} | {materials} | {k} | {power} | {eigen} | "
            f"{np.median(band_snr(X)):.1f} | {elapsed:.2f} |"
        )


def table_salinas(figure=None):
    print("\n### 4. Salinas-A's 224 bands: the 20 its corrected cube leaves out, against the 20 of lowest SNR\n")
    scene = load_scene("salinas_a", corrected=False)
    X = pixels(scene.cube)
    snr = band_snr(X)
    lowest = np.sort(np.argsort(snr)[:20])
    dropped = set(SALINAS_CURATED_OUT.tolist())
    kept = np.setdiff1d(np.arange(len(snr)), SALINAS_CURATED_OUT)
    print("| | bands (1-based) |")
    print("|---|---|")
    print(f"| left out of the corrected cube | {band_ranges(SALINAS_CURATED_OUT)} |")
    print(f"| the 20 of lowest estimated SNR | {band_ranges(lowest)} |")
    print(f"| in both | {len(dropped & set(lowest.tolist()))} of 20 |")
    print(
        f"| median SNR (dB): left out / kept / bands 108-112 | {np.median(snr[SALINAS_CURATED_OUT]):.1f} / "
        f"{np.median(snr[kept]):.1f} / {np.median(snr[107:112]):.1f} |"
    )
    big = np.tile(X.astype(np.float32), (-(-1_000_000 // len(X)), 1))[:1_000_000]
    start = time.perf_counter()
    band_snr(big)
    t_snr = time.perf_counter() - start
    start = time.perf_counter()
    hysime(big)
    t_hysime = time.perf_counter() - start
    print(
        f"\n1,000,000 pixels x 224 bands (float32, {big.nbytes / 2**20:.0f} MiB): band_snr {t_snr:.1f} s, "
        f"hysime {t_hysime:.1f} s."
    )
    if figure:
        import matplotlib

        matplotlib.use("Agg")
        from hsiae.plotting import plot_band_snr

        ax = plot_band_snr(
            snr,
            wavelengths=scene.wavelengths,
            marked=SALINAS_CURATED_OUT,
            marked_label="Left out of Salinas-A's corrected cube",
        )
        ax.figure.set_size_inches(8, 4)
        ax.set_title(f"Salinas-A, 224 bands: estimated SNR per band (median {np.median(snr):.1f} dB)")
        ax.figure.savefig(figure, dpi=100)
        print(f"\nFigure: {figure}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--figure", help="write Salinas-A's SNR per band to this PNG")
    args = parser.parse_args()
    print(
        f"# {platform.node()} ({platform.machine()}), hsiae {hsiae.__version__}, numpy {np.__version__}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    table_noise(args.seeds[:3])
    table_hysime(args.seeds)
    if not get_data_home().is_dir():
        print(f"\nThe real scenes are not in {get_data_home()}; set HSIAE_DATA to run tables 3-4.")
        return
    table_real()
    table_salinas(args.figure)


if __name__ == "__main__":
    main()

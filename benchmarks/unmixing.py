"""Unmixing quality and scale: AEUnmixer against VCA + FCLS and NMF.

Scenes: Samson (3 endmembers) and Jasper Ridge (4), scored against their
ground-truth endmembers and abundance maps, and the synthetic linear mixture
``hsiae.make_unmixing_scene(4, snr=30)`` (64 x 64 x 128, a new scene per
seed). Methods, each with the same seeds:

- ``VCA + FCLS``: hsiae.unmixing.vca, then hsiae.unmixing.fcls, on the pixels
  as stored (the classic pipeline);
- ``VCA + FCLS (L2)``: the same on L2-normalised pixels, the model
  AEUnmixer uses (``normalize="l2"``), to show what the network adds beyond
  that normalisation;
- ``NMF``: scikit-learn's NMF (``init="random"``, ``max_iter=1000``) with
  as many components as endmembers, the activations scaled to sum to one
  (negative values, from the synthetic scene's noise, clipped to 0 first);
- ``AEUnmixer``: one configuration, the defaults, for every scene;
  abundances from its encoder;
- ``AEUnmixer + FCLS``: the same fit, abundances by FCLS with its endmembers
  (``solver="fcls"``).

Per method: mean endmember spectral angle after the best one-to-one matching
(radians; per endmember too), abundance RMSE with the same matching,
reconstruction RMSE and SAM of the pixels, and wall time; mean ± standard
deviation over the seeds.

``--part large``: a 1000 x 1000 x 100 synthetic cube (a 250 x 250 scene tiled
4 x 4, fresh noise per tile, written to a file and opened as a lazy dask
array with ``hsiae.open_cube``) unmixed with ``hsiae.unmix_cube`` (fit on
100,000 sampled pixels, abundances of all 10^6 in blocks): time, peak
anonymous memory (sampled from /proc every 20 ms) and the abundance RMSE.

Prints Markdown tables::

    python benchmarks/unmixing.py                          # scenes + synthetic, seeds 0 1 2
    python benchmarks/unmixing.py --part large
    python benchmarks/unmixing.py --part scenes --scenes jasper_ridge --seeds 0 --set lr=3e-3
"""

import argparse
import os
import platform
import tempfile
import threading
import time

import numpy as np
import sklearn
import torch
from sklearn.decomposition import NMF

import hsiae
from hsiae import AEUnmixer, load_scene, make_unmixing_scene
from hsiae.metrics import (
    abundance_rmse,
    endmember_angles,
    match_endmembers,
    reconstruction_rmse,
    reconstruction_sam,
)
from hsiae.unmixing import fcls, vca

SCENES = ("samson", "jasper_ridge", "synthetic")
METHODS = ("VCA + FCLS", "VCA + FCLS (L2)", "NMF", "AEUnmixer", "AEUnmixer + FCLS")


def _scene(name, seed):
    """(X as rows, true endmembers as rows, true abundances as rows)."""
    if name == "synthetic":
        s = make_unmixing_scene(4, snr=30, random_state=seed)
    else:
        s = load_scene(name)
    B = s.cube.shape[-1]
    return s.cube.reshape(-1, B).astype(np.float64), s.endmembers.T, s.abundances.reshape(-1, s.abundances.shape[-1])


def _l2(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-300)


def _run(method, X, k, seed):
    """(estimated endmembers as rows, abundances, reconstruction of X)."""
    if method == "VCA + FCLS":
        E, _ = vca(X, k, random_state=seed)
        A = fcls(X, E)
        return E, A, A @ E
    if method == "VCA + FCLS (L2)":
        Xn = _l2(X)
        E, _ = vca(Xn, k, random_state=seed)
        E = _l2(np.abs(E))
        A = fcls(Xn, E)
        rec = A @ E
        scale = np.sum(rec * X, axis=1) / np.sum(rec * rec, axis=1).clip(1e-300)
        return E, A, rec * scale[:, None]
    if method == "NMF":
        nmf = NMF(k, init="random", max_iter=1000, random_state=seed)
        W = nmf.fit_transform(np.clip(X, 0, None))  # NMF refuses the noise's negative values
        return nmf.components_, W / W.sum(axis=1, keepdims=True).clip(1e-300), W @ nmf.components_
    raise ValueError(f"unknown method {method!r}")


def scene_runs(name, seeds, overrides, methods=METHODS):
    rows = {m: [] for m in methods}
    ae_cache = {}
    for seed in seeds:
        X, E_true, A_true = _scene(name, seed)
        k = E_true.shape[0]
        for method in methods:
            start = time.perf_counter()
            if method.startswith("AEUnmixer"):
                # one fit per seed for both AEUnmixer rows; the time is the fit's plus this transform
                if seed not in ae_cache:
                    t0 = time.perf_counter()
                    unmixer = AEUnmixer(k, random_state=seed, **overrides).fit(X)
                    ae_cache[seed] = (unmixer, time.perf_counter() - t0)
                unmixer, fit_time = ae_cache[seed]
                unmixer.set_params(solver="fcls" if method.endswith("FCLS") else "encoder")
                start = time.perf_counter()
                E, A, rec = unmixer.endmembers_, unmixer.transform(X), unmixer.reconstruct(X)
                elapsed = fit_time + time.perf_counter() - start  # fit, then transform and reconstruct
            else:
                E, A, rec = _run(method, X, k, seed)
                elapsed = time.perf_counter() - start
            order = match_endmembers(E_true, E)
            rows[method].append(
                {
                    "angles": endmember_angles(E_true, E, order=order),
                    "rmse": abundance_rmse(A_true, A, order=order),
                    "rec_rmse": reconstruction_rmse(X, rec),
                    "rec_sam": reconstruction_sam(X, rec),
                    "time": elapsed,
                }
            )
    return rows


def _cell(values, fmt="{:.3f}"):
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(values.mean())} ± {fmt.format(values.std())}"


def print_scene(name, rows, seeds):
    print(f"\n### {name} (seeds {' '.join(map(str, seeds))})\n")
    print(
        "| method | mean endmember angle (rad) | per endmember | abundance RMSE | reconstruction RMSE "
        "| reconstruction SAM (rad) | time (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for method, runs in rows.items():
        angles = np.array([r["angles"] for r in runs])
        per = " / ".join(f"{a:.3f}" for a in angles.mean(axis=0))
        print(
            f"| {method} | {_cell(angles.mean(axis=1))} | {per} | {_cell([r['rmse'] for r in runs])} | "
            f"{_cell([r['rec_rmse'] for r in runs], '{:.4f}')} | {_cell([r['rec_sam'] for r in runs])} | "
            f"{_cell([r['time'] for r in runs], '{:.1f}')} |"
        )


# -- a million pixels ------------------------------------------------------------------------


class _PeakAnon:
    """Peak anonymous resident memory of this process (RssAnon in /proc/self/status), sampled in a thread."""

    def __init__(self, interval=0.02):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    @staticmethod
    def now():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.interval)

    def __enter__(self):
        self.base = self.now()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def large_run(folder, n_bands=100, tiles=4, tile=250, seed=0, overrides=None):
    H = W = tiles * tile
    path = os.path.join(folder, "cube.npy")
    cube = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(H, W, n_bands))
    truth = np.empty((H, W, 4), dtype=np.float32)
    base = make_unmixing_scene(4, n_bands=n_bands, shape=(tile, tile), snr=None, random_state=seed)
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(np.mean(base.clean.astype(np.float64) ** 2) / 10**3)  # 30 dB
    for i in range(tiles):
        for j in range(tiles):
            rows, cols = slice(i * tile, (i + 1) * tile), slice(j * tile, (j + 1) * tile)
            cube[rows, cols] = base.clean + rng.normal(0, sigma, base.clean.shape).astype(np.float32)
            truth[rows, cols] = base.abundances
    cube.flush()
    del cube
    lazy, _ = hsiae.open_cube(path, chunks=250)
    unmixer = AEUnmixer(4, random_state=seed, **(overrides or {}))
    with _PeakAnon() as mem:
        start = time.perf_counter()
        A = hsiae.unmix_cube(unmixer, lazy, n_samples=100_000, random_state=seed)
        elapsed = time.perf_counter() - start
    order = match_endmembers(base.endmembers.T, unmixer.endmembers_)
    return {
        "shape": (H, W, n_bands),
        "time": elapsed,
        "peak": mem.peak,
        "base": mem.base,
        "cube_bytes": H * W * n_bands * 4,
        "rmse": abundance_rmse(truth, A, order=order),
        "angle": float(np.mean(endmember_angles(base.endmembers.T, unmixer.endmembers_, order=order))),
    }


def print_large(r):
    H, W, B = r["shape"]
    print(
        f"\n### {H} x {W} x {B} cube ({H * W:,} pixels, {r['cube_bytes'] / 2**20:.0f} MiB as float32), "
        f"hsiae.unmix_cube on a lazy open_cube array\n"
    )
    print(
        "| time (s) | peak anonymous memory during the run (MiB) | before (MiB) | mean endmember angle (rad) "
        "| abundance RMSE |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {r['time']:.1f} | {r['peak'] / 2**20:.0f} | {r['base'] / 2**20:.0f} | {r['angle']:.3f} | {r['rmse']:.3f} |"
    )


def _parse_overrides(items):
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            out[key] = eval(value, {})  # numbers, tuples, None, strings in quotes
        except Exception:
            out[key] = value
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["scenes", "large", "all"], default="scenes")
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=SCENES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", metavar="PARAM=VALUE", help="AEUnmixer parameters to override")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = _parse_overrides(args.set)
    print(
        f"# {platform.node()} ({platform.machine()}, {torch.get_num_threads()} torch threads), "
        f"hsiae {hsiae.__version__}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}, {time.strftime('%Y-%m-%d')}; AEUnmixer overrides: {overrides or 'none'}"
    )
    if args.part in ("scenes", "all"):
        for name in args.scenes:
            print_scene(name, scene_runs(name, args.seeds, overrides), args.seeds)
    if args.part in ("large", "all"):
        with tempfile.TemporaryDirectory(dir=os.environ.get("HSIAE_BENCH_TMP")) as folder:
            print_large(large_run(folder, overrides=overrides))


if __name__ == "__main__":
    main()

"""Segment a cube larger than the memory a run may use: time and peak resident memory.

Writes a synthetic 2000 x 2000 x 100 float32 scene (1.5 GiB, one page per band)
to a scratch folder (not the repository), chunk by chunk so that making it
needs little memory, then runs

    hsiae segment SCENE.tif -k 6 -o OUT --chunks 256 --sample-size 50000 --epochs 10 --threads 1

in a child process and reports its wall time and peak resident memory
(``ru_maxrss`` of the child: every page it held, file pages it mapped
included). The scene has six materials (smooth spectra) in a Voronoi
pattern of 400 cells, with 1 % noise; the report includes the adjusted Rand
index of labels.tif against the ground truth, which is written beside it.

    python benchmarks/out_of_core.py --workdir /tmp/hsiae-ooc
    python benchmarks/out_of_core.py --workdir /tmp/hsiae-ooc --size 500   # quick check
"""

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_MATERIALS, N_CELLS, NOISE = 6, 400, 0.01


def _materials(n_bands, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_bands)
    centres, widths, heights = rng.uniform(0.1, 0.9, (3, N_MATERIALS, 2))
    spectra = 0.1 + sum(
        heights[:, i, None] * np.exp(-((t - centres[:, i, None]) ** 2) / (0.02 + 0.1 * widths[:, i, None]))
        for i in range(2)
    )
    return spectra.astype(np.float32)


def _cells(size, seed=0):
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, size, (N_CELLS, 2))
    material = rng.integers(0, N_MATERIALS, N_CELLS)
    return points, material


def _truth_block(rows, cols, points, material):
    """Material of each pixel of a block: that of its nearest Voronoi seed."""
    r, c = np.meshgrid(np.arange(*rows), np.arange(*cols), indexing="ij")
    best = np.full(r.shape, np.inf)
    label = np.zeros(r.shape, dtype=np.int8)
    for (pr, pc), m in zip(points, material):
        d = (r - pr) ** 2 + (c - pc) ** 2
        closer = d < best
        best[closer], label[closer] = d[closer], m
    return label


def make_scene(path, truth_path, size, n_bands):
    """Write the scene with hsiae.store_cube from a lazy dask array: a chunk at a time."""
    import dask.array as da
    import tifffile

    from hsiae import store_cube

    spectra = _materials(n_bands)
    points, material = _cells(size)
    chunk = 500

    def block(_, block_info=None):
        (r0, r1), (c0, c1) = block_info[None]["array-location"][:2]
        labels = _truth_block((r0, r1), (c0, c1), points, material)
        rng = np.random.default_rng([r0, c0])
        cube = spectra[labels] + NOISE * rng.standard_normal((*labels.shape, n_bands), dtype=np.float32)
        return cube.astype(np.float32)

    template = da.zeros((size, size, n_bands), chunks=(chunk, chunk, -1), dtype=np.float32)
    lazy = template.map_blocks(block, dtype=np.float32)
    store_cube(path, lazy, wavelengths=np.linspace(400, 1000, n_bands), wavelength_units="nm", force=True)
    truth = np.empty((size, size), dtype=np.int8)
    for r in range(0, size, chunk):
        truth[r : r + chunk] = _truth_block((r, min(size, r + chunk)), (0, size), points, material)
    tifffile.imwrite(truth_path, truth)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir",
        default="/tmp/hsiae-out-of-core",
        type=Path,
        help="scratch folder for the scene and the outputs (not the repository)",
    )
    parser.add_argument("--size", type=int, default=2000, help="rows and columns of the scene")
    parser.add_argument("--bands", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=256)
    parser.add_argument("--sample-size", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--scheduler", default="threads")
    parser.add_argument("--keep", action="store_true", help="keep the scene and outputs")
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    scene = args.workdir / f"scene_{args.size}x{args.size}x{args.bands}.tif"
    truth_path = args.workdir / f"truth_{args.size}.tif"
    if not scene.exists() or not truth_path.exists():
        start = time.perf_counter()
        make_scene(scene, truth_path, args.size, args.bands)
        print(f"wrote {scene} ({scene.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - start:.0f} s")
    out = args.workdir / "segments"
    command = [
        sys.executable, "-m", "hsiae", "segment", str(scene), "-k", str(N_MATERIALS),
        "-o", str(out), "--chunks", str(args.chunks), "--sample-size", str(args.sample_size),
        "--epochs", str(args.epochs), "--threads", "1", "--scheduler", args.scheduler,
        "--force", "-q",
    ]  # fmt: skip
    print("$", " ".join(command[2:]).replace("-m hsiae", "hsiae"))
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: kB

    import tifffile
    from sklearn.metrics import adjusted_rand_score

    labels = tifffile.memmap(out / "labels.tif", mode="r")
    truth = tifffile.imread(truth_path)
    step = 4  # the ARI on every 16th pixel: 250,000 pixels
    ari = adjusted_rand_score(truth[::step, ::step].ravel(), labels[::step, ::step].ravel())
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    import hsiae

    print(
        f"scene        {args.size} x {args.size} x {args.bands} float32, {scene.stat().st_size / 2**30:.2f} GiB on disk"
    )
    print(f"wall time    {seconds:.0f} s")
    print(f"peak RSS     {peak / 2**20:.0f} MiB ({peak / 2**30:.2f} GiB)")
    print(f"ARI          {ari:.3f} (labels.tif against the ground truth, every {step}th pixel)")
    print(
        f"machine      {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, hsiae {hsiae.__version__}, load average after "
        f"{' '.join(load)}"
    )
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

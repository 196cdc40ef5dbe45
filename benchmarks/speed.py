"""Speed and memory of training, inference and segmentation on a WHU-Hi-LongKou-sized scene.

A synthetic scene of 550 x 400 pixels x 270 bands (220,000 spectra, resampled to
512 bands, as the original AED work did) is processed by hsiae and by
references written here that mirror the original code, in the same run and
with the same torch thread count (``--threads``):

1. training throughput, spectra per second over a whole epoch, data handling
   included: ``AEDEncoder.fit`` against a torch ``DataLoader`` over a
   ``TensorDataset`` (batch 256, shuffling, Adam) training the original
   network (``ConvAED`` with ``torch.nn.Tanh`` and no linear path);
2. ``transform`` + ``inverse_transform`` against a plain batched ``no_grad``
   loop over the reference's trained network (batch 256);
3. ``SpatialGMMSegmenter`` fit + predict on the latent codes against
   scikit-learn's ``GaussianMixture(covariance_type="full")`` on the codes plus
   (x, y) of all pixels;
4. ``--memory``: peak resident memory of the whole pipeline (resampler,
   encoder fit + transform, segmenter fit + predict) in a fresh subprocess,
   against the target "interpreter with torch imported + 3x the float32 size of
   the resampled cube" (2 training epochs: memory does not grow with epochs);
5. ``--cli``: wall time and peak memory of ``hsiae segment scene.tif -k 8``
   with default settings, the scene written to a TIFF in a temporary folder.

Medians over ``--repeats`` runs; ratios > 1 mean hsiae is faster, and the
ratio column is the median of the per-run ratios.

    OMP_NUM_THREADS=2 python benchmarks/speed.py --repeats 3 --threads 2
    python benchmarks/speed.py --memory --cli --skip-speed
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.mixture import GaussianMixture
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hsiae
from hsiae import AEDEncoder, SpatialGMMSegmenter, SpectralResampler, make_synthetic_scene
from hsiae.metrics import cluster_accuracy
from hsiae.losses import SpectralLoss
from hsiae.networks import ConvAED, _Tanh

H, W, BANDS, RESAMPLED, ZDIMS, K = 550, 400, 270, 512, 16, 8


def original_network(n_bands):
    """The original network: hsiae's ConvAED with torch's own Tanh and no linear path."""
    module = ConvAED(n_bands, ZDIMS)
    for seq in (module.encoder_conv, module.decoder_conv):
        for name, layer in list(seq._modules.items()):
            if isinstance(layer, _Tanh):
                seq._modules[name] = nn.Tanh()
    return module


def reference_epoch(X, seed):
    """One epoch of the original training loop: DataLoader + TensorDataset, batch 256."""
    torch.manual_seed(seed)
    module = original_network(X.shape[1])
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    criterion = SpectralLoss()
    loader = DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=256, shuffle=True)
    module.train()
    start = time.perf_counter()
    for (xb,) in loader:
        optimizer.zero_grad()
        decoded, _ = module(xb)
        loss = criterion(decoded, xb)
        loss.backward()
        optimizer.step()
        loss.item()
    return len(X) / (time.perf_counter() - start), module


def hsiae_epoch(X, seed):
    enc = AEDEncoder(zdims=ZDIMS, max_epochs=1, validation_fraction=0, random_state=seed)
    enc.fit(X)
    return len(X) / float(enc.history_["dur"].sum()), enc


def reference_inference(module, X):
    module.eval()
    out = np.empty_like(X)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(X), 256):
            xb = torch.from_numpy(X[i : i + 256])
            out[i : i + 256] = module.decode(module.encode(xb)).numpy()
    return len(X) / (time.perf_counter() - start)


def hsiae_inference(enc, X):
    start = time.perf_counter()
    enc.inverse_transform(enc.transform(X))
    return len(X) / (time.perf_counter() - start)


def hsiae_reconstruct(enc, X):
    start = time.perf_counter()
    enc.reconstruct(X)
    return len(X) / (time.perf_counter() - start)


def make_scene(with_labels=False):
    scene = make_synthetic_scene(n_bands=BANDS, shape=(H, W), n_segments=K, noise=0.02, random_state=0)
    cube = scene.cube.astype(np.float32)
    return (cube, scene.labels.ravel()) if with_labels else cube


# Peak resident memory of this process image. Not ru_maxrss: a child started from a large
# parent inherits the parent's high-water mark through fork, even across exec.
_PEAK = """
def peak_kib():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
"""

_PIPELINE_CHILD = _PEAK + textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np
    import torch
    import hsiae
    torch.set_num_threads({threads})
    base = peak_kib()
    cube = np.load(sys.argv[1])
    H, W, B = cube.shape
    start = time.perf_counter()
    X = hsiae.SpectralResampler(n_bands={resampled}).fit_transform(cube.reshape(-1, B))
    warnings.simplefilter("ignore")
    enc = hsiae.AEDEncoder(zdims={zdims}, max_epochs=2, random_state=0).fit(X)
    Z = enc.transform(X)
    labels = hsiae.SpatialGMMSegmenter({k}, image_shape=(H, W), random_state=0).fit(Z).predict(Z)
    peak = peak_kib()
    print(json.dumps({{"base_kib": base, "peak_kib": peak, "resampled_bytes": X.size * 4,
                       "cube_bytes": cube.nbytes, "seconds": time.perf_counter() - start}}))
    """
)


def pipeline_memory(cube, threads):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene.npy"
        np.save(path, cube)
        code = _PIPELINE_CHILD.format(threads=threads, resampled=RESAMPLED, zdims=ZDIMS, k=K)
        out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cli_segment(cube, threads):
    from hsiae import write_cube

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene.tif"
        write_cube(path, cube, band_axis=2)
        argv = ["hsiae", "segment", str(path), "-k", str(K), "-o", str(Path(tmp) / "out"), "--threads", str(threads)]
        code = _PEAK + textwrap.dedent(
            f"""
            import atexit, runpy, sys
            atexit.register(lambda: sys.stderr.write(f"PEAK_KIB {{peak_kib()}}\\n"))
            sys.argv = {argv!r}
            runpy.run_module("hsiae", run_name="__main__", alter_sys=True)
            """
        )
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if out.returncode:
            raise RuntimeError(f"hsiae segment failed ({out.returncode}): {out.stderr[-2000:]}")
        peak = next(int(line.split()[1]) for line in out.stderr.splitlines() if line.startswith("PEAK_KIB"))
        trained = [line for line in out.stderr.splitlines() if "Trained" in line]
    return seconds, peak, (trained[-1].strip() if trained else "")


def _median_ratio(ours, ref, invert=False):
    ratios = [(r / o) if invert else (o / r) for o, r in zip(ours, ref)]
    return statistics.median(ratios)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads on both sides (default: 2)")
    parser.add_argument("--skip-speed", action="store_true", help="skip the training and inference rows")
    parser.add_argument("--skip-gmm", action="store_true")
    parser.add_argument("--memory", action="store_true", help="peak memory of the pipeline in a subprocess")
    parser.add_argument("--cli", action="store_true", help="time 'hsiae segment' with default settings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)

    t0 = time.perf_counter()
    cube, truth = make_scene(with_labels=True)
    X = SpectralResampler(n_bands=RESAMPLED).fit_transform(cube.reshape(-1, BANDS)).astype(np.float32)
    print(f"# Speed on a synthetic {H} x {W} x {BANDS} scene resampled to {RESAMPLED} bands "
          f"({len(X):,} spectra), zdims={ZDIMS}; prepared in {time.perf_counter() - t0:.0f} s")
    print(f"# {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), hsiae {hsiae.__version__}, "
          f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, {time.strftime('%Y-%m-%d')}; "
          f"medians of {args.repeats} runs")
    print()
    rows = []

    if not args.skip_speed:
        ref_train, ours_train, ref_inf, ours_inf, ours_rec = [], [], [], [], []
        for r in range(args.repeats):
            tp, module = reference_epoch(X, r)
            ref_train.append(tp)
            tp, enc = hsiae_epoch(X, r)
            ours_train.append(tp)
            ref_inf.append(reference_inference(module, X))
            ours_inf.append(hsiae_inference(enc, X))
            ours_rec.append(hsiae_reconstruct(enc, X))
            print(f"# run {r + 1}: training {ref_train[-1]:,.0f} / {ours_train[-1]:,.0f}, inference "
                  f"{ref_inf[-1]:,.0f} / {ours_inf[-1]:,.0f} (reconstruct {ours_rec[-1]:,.0f}) spectra/s", flush=True)
        rows.append(("training, spectra/s (1 epoch)", ref_train, ours_train, False))
        rows.append(("transform + inverse_transform, spectra/s", ref_inf, ours_inf, False))
        rows.append(("reconstruct (one pass), spectra/s", ref_inf, ours_rec, False))

        if not args.skip_gmm:
            Z = enc.transform(X)
            rr, cc = np.mgrid[:H, :W]
            Zxy = np.column_stack([Z, rr.ravel(), cc.ravel()]).astype(np.float64)
            ref_gmm, ours_gmm, ref_oa, ours_oa = [], [], [], []
            for r in range(args.repeats):
                start = time.perf_counter()
                labels = GaussianMixture(K, covariance_type="full", random_state=r).fit(Zxy).predict(Zxy)
                ref_gmm.append(time.perf_counter() - start)
                ref_oa.append(cluster_accuracy(truth, labels))
                start = time.perf_counter()
                labels = SpatialGMMSegmenter(K, image_shape=(H, W), random_state=r).fit(Z).predict(Z)
                ours_gmm.append(time.perf_counter() - start)
                ours_oa.append(cluster_accuracy(truth, labels))
            rows.append(("mixture fit + predict, s (ratio: reference / hsiae)", ref_gmm, ours_gmm, True))
            rows.append(("mixture accuracy against the scene's segments (OA)", ref_oa, ours_oa, False))

        print()
        print("| measure | reference | hsiae | ratio |")
        print("|---|---|---|---|")
        for name, ref, ours, invert in rows:
            ratio = _median_ratio(ours, ref, invert)
            fmt = ",.3f" if "accuracy" in name else ",.1f"
            print(f"| {name} | {statistics.median(ref):{fmt}} | {statistics.median(ours):{fmt}} | {ratio:.2f} |")

    if args.memory:
        m = pipeline_memory(cube, args.threads)
        base = m["base_kib"] / 1024
        peak = m["peak_kib"] / 1024
        target = base + 3 * m["resampled_bytes"] / 2**20
        print(f"\npipeline peak resident memory: {peak:,.0f} MiB; target {target:,.0f} MiB = interpreter "
              f"with torch and hsiae imported ({base:,.0f} MiB) + 3 x the resampled cube in float32 "
              f"({m['resampled_bytes'] / 2**20:,.0f} MiB); input cube {m['cube_bytes'] / 2**20:,.0f} MiB; "
              f"{'within' if peak <= target else 'OVER'} target ({m['seconds']:.0f} s, 2 epochs)")

    if args.cli:
        seconds, peak, trained = cli_segment(cube, args.threads)
        print(f"\nhsiae segment scene.tif -k {K} (default settings, --threads {args.threads}): "
              f"{seconds:,.0f} s wall, peak resident memory {peak / 1024:,.0f} MiB; its log: {trained}")


if __name__ == "__main__":
    main()

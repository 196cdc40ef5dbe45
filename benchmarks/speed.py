"""Speed and memory of training, inference and segmentation on a WHU-Hi-LongKou-sized scene.

A synthetic scene of 550 x 400 pixels x 270 bands (220,000 spectra, resampled to
512 bands, as the original AED work did) is processed by hsiae and by
references written here that mirror the original code, in the same run and
with the same torch thread count (``--threads``):

1. training throughput, spectra per second over a whole epoch (for hsiae one
   epoch of its default ``epoch_size``), data handling
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
   with default settings, the scene written to a TIFF in a temporary folder,
   and of ``hsiae segment`` on a 100 x 100 x 189 cube (Jasper Ridge's first
   189 bands when ``$HSIAE_DATA`` has it, else a synthetic cube); with
   ``--load``, also while another CPU-bound process runs;
6. ``--time-to-quality``: the validation loss the reference loop reaches
   after 20 epochs (on a 10 % hold-out, with hsiae's loss), and the wall time
   ``AEDEncoder.fit`` with its defaults needs to reach it (the fit's set-up
   plus its epochs up to the first at or below that loss);
7. ``--threads``: training throughput of ``AEDEncoder.fit`` (defaults, 256
   bands, one epoch of 20,000 spectra) with 1 and 2 torch threads and with
   torch's default, on the idle machine and while another CPU-bound process
   runs;
8. ``--budget``: the wall time of ``AEDEncoder.fit`` with its defaults on
   550 x 400 and on 4000 x 4000 pixels (64 bands, 4 GB), which the training
   budget (``max_epochs * epoch_size`` spectra) should make about equal.

Medians over ``--repeats`` runs; ratios > 1 mean hsiae is faster, and the
ratio column is the median of the per-run ratios.

    OMP_NUM_THREADS=2 python benchmarks/speed.py --repeats 3 --threads 2
    python benchmarks/speed.py --memory --cli --skip-speed
    python benchmarks/speed.py --skip-speed --time-to-quality --thread-rule --budget --cli --load
"""

import argparse
import contextlib
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
from hsiae.losses import SpectralLoss
from hsiae.metrics import cluster_accuracy
from hsiae.networks import ConvAED, _Tanh

H, W, BANDS, RESAMPLED, ZDIMS, K = 550, 400, 270, 512, 16, 8
TORCH_DEFAULT_THREADS = torch.get_num_threads()  # before main() sets --threads


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
    """Spectra/s of one default epoch (``epoch_size`` spectra drawn from X) of AEDEncoder.fit."""
    enc = AEDEncoder(zdims=ZDIMS, max_epochs=1, validation_fraction=0, random_state=seed)
    enc.fit(X)
    return min(len(X), enc.epoch_size) / float(enc.history_["dur"].sum()), enc


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


@contextlib.contextmanager
def competing_process(active=True):
    """Another CPU-bound process (a busy loop) for as long as the block runs."""
    if not active:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


def cli_segment(cube, threads=None, k=K):
    """Wall seconds, peak KiB and the 'Trained' log line of ``hsiae segment`` with default settings."""
    from hsiae import write_cube

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene.tif"
        write_cube(path, cube, band_axis=2)
        argv = ["hsiae", "segment", str(path), "-k", str(k), "-o", str(Path(tmp) / "out")]
        if threads is not None:
            argv += ["--threads", str(threads)]
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
        trained = [line for line in (out.stdout + out.stderr).splitlines() if "Trained" in line]
    return seconds, peak, (trained[-1].strip() if trained else "")


def small_cube():
    """A 100 x 100 x 189 cube: Jasper Ridge's first 189 bands if the scene is there, else synthetic."""
    try:
        return hsiae.load_scene("jasper_ridge").cube[:, :, :189].astype(np.float32), "Jasper Ridge, bands 1-189"
    except (OSError, ValueError):
        scene = make_synthetic_scene(n_bands=189, shape=(100, 100), n_segments=4, noise=0.02, random_state=0)
        return scene.cube.astype(np.float32), "synthetic"


def time_to_quality(X, seed=0, epochs=20):
    """The reference's validation loss after ``epochs`` epochs, its time, and hsiae's time to reach it."""
    rng = np.random.default_rng(seed)
    valid = np.zeros(len(X), dtype=bool)
    valid[rng.choice(len(X), size=len(X) // 10, replace=False)] = True
    Xtr, Xva = torch.from_numpy(X[~valid]), torch.from_numpy(X[valid])
    criterion = SpectralLoss(sam_offset=float(max(0.0, -float(X.min()))))  # AEDEncoder's loss on these spectra
    torch.manual_seed(seed)
    module = original_network(X.shape[1])
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(Xtr), batch_size=256, shuffle=True)
    train_seconds, losses = 0.0, []
    for epoch in range(epochs):
        module.train()
        start = time.perf_counter()
        for (xb,) in loader:
            optimizer.zero_grad()
            loss = criterion(module(xb)[0], xb)
            loss.backward()
            optimizer.step()
        train_seconds += time.perf_counter() - start
        module.eval()
        with torch.no_grad():
            losses.append(float(sum(criterion(module(xb)[0], xb) * len(xb) for xb in Xva.split(1024)) / len(Xva)))
        print(f"#   reference epoch {epoch + 1}: validation loss {losses[-1]:.5g}, {train_seconds:.0f} s", flush=True)
    target = losses[-1]
    start = time.perf_counter()
    enc = AEDEncoder(zdims=ZDIMS, random_state=seed).fit(X)
    wall = time.perf_counter() - start
    setup = wall - float(enc.history_["dur"].sum())
    elapsed = setup + np.cumsum(enc.history_["dur"])
    reached = np.flatnonzero(enc.history_["valid_loss"] <= target)
    return {
        "target": target,
        "reference_s": train_seconds,
        "hsiae_fit_s": wall,
        "hsiae_epoch": int(reached[0]) + 1 if reached.size else None,
        "hsiae_s": float(elapsed[reached[0]]) if reached.size else None,
        "hsiae_best": float(enc.history_["valid_loss"].min()),
        "hsiae_epochs": enc.n_epochs_,
    }


def training_throughput(X, settings, repeats):
    """Median spectra/s of one default epoch (20,000 spectra) of AEDEncoder.fit per torch thread setting.

    The settings take turns within each repeat, so that a change in the machine's speed during the
    measurement affects them alike; None is torch's default.
    """
    before = torch.get_num_threads()
    out = {t: [] for t in settings}
    try:
        for r in range(repeats):
            for t in settings:
                torch.set_num_threads(TORCH_DEFAULT_THREADS if t is None else t)
                enc = AEDEncoder(zdims=8, max_epochs=1, validation_fraction=0, random_state=r).fit(X)
                out[t].append(min(len(X), enc.epoch_size) / float(enc.history_["dur"].sum()))
    finally:
        torch.set_num_threads(before)
    return {t: statistics.median(v) for t, v in out.items()}


def reference_throughput(X, settings, repeats):
    """Median spectra/s of the reference loop (torch's own threads) over X per thread setting, taking turns."""
    before = torch.get_num_threads()
    out = {t: [] for t in settings}
    try:
        for r in range(repeats):
            for t in settings:
                torch.set_num_threads(t)
                out[t].append(reference_epoch(X, r)[0])
    finally:
        torch.set_num_threads(before)
    return {t: statistics.median(v) for t, v in out.items()}


def fit_seconds(n_pixels, n_bands=64, seed=0):
    """Wall seconds of AEDEncoder.fit (defaults) on ``n_pixels`` random low-rank spectra of ``n_bands`` bands."""
    rng = np.random.default_rng(seed)
    basis = rng.random((8, n_bands)).astype(np.float32)
    X = np.empty((n_pixels, n_bands), dtype=np.float32)
    for i in range(0, n_pixels, 1 << 20):  # in blocks: no float64 temporary of the whole array
        stop = min(n_pixels, i + (1 << 20))
        X[i:stop] = rng.random((stop - i, 8), dtype=np.float32) @ basis
    start = time.perf_counter()
    enc = AEDEncoder(zdims=8, random_state=seed).fit(X)
    return time.perf_counter() - start, enc.n_epochs_, X.nbytes


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
    parser.add_argument(
        "--load",
        action="store_true",
        help="with --cli and --thread-rule: also measure while another CPU-bound process runs",
    )
    parser.add_argument(
        "--time-to-quality",
        action="store_true",
        help="time AEDEncoder.fit needs to reach the reference's 20-epoch validation loss",
    )
    parser.add_argument(
        "--thread-rule", action="store_true", help="training throughput with 1, 2 and the default number of threads"
    )
    parser.add_argument("--budget", action="store_true", help="fit time on 550 x 400 against 4000 x 4000 pixels")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)

    t0 = time.perf_counter()
    cube, truth = make_scene(with_labels=True)
    X = SpectralResampler(n_bands=RESAMPLED).fit_transform(cube.reshape(-1, BANDS)).astype(np.float32)
    print(
        f"# Speed on a synthetic {H} x {W} x {BANDS} scene resampled to {RESAMPLED} bands "
        f"({len(X):,} spectra), zdims={ZDIMS}; prepared in {time.perf_counter() - t0:.0f} s"
    )
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads "
        f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), hsiae {hsiae.__version__}, "
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, {time.strftime('%Y-%m-%d')}; "
        f"medians of {args.repeats} runs"
    )
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
            print(
                f"# run {r + 1}: training {ref_train[-1]:,.0f} / {ours_train[-1]:,.0f}, inference "
                f"{ref_inf[-1]:,.0f} / {ours_inf[-1]:,.0f} (reconstruct {ours_rec[-1]:,.0f}) spectra/s",
                flush=True,
            )
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
        print(
            f"\npipeline peak resident memory: {peak:,.0f} MiB; target {target:,.0f} MiB = interpreter "
            f"with torch and hsiae imported ({base:,.0f} MiB) + 3 x the resampled cube in float32 "
            f"({m['resampled_bytes'] / 2**20:,.0f} MiB); input cube {m['cube_bytes'] / 2**20:,.0f} MiB; "
            f"{'within' if peak <= target else 'OVER'} target ({m['seconds']:.0f} s, 2 epochs)"
        )

    if args.time_to_quality:
        print(
            f"\n# time to quality: the reference loop for 20 epochs, then AEDEncoder.fit (defaults), "
            f"{torch.get_num_threads()} torch threads",
            flush=True,
        )
        q = time_to_quality(X)
        ours = "not reached" if q["hsiae_s"] is None else f"{q['hsiae_s']:,.1f} s (epoch {q['hsiae_epoch']})"
        ratio = "-" if q["hsiae_s"] is None else f"{q['reference_s'] / q['hsiae_s']:.1f}"
        print("\n| | reference (20 epochs) | AEDEncoder.fit, defaults | ratio |\n|---|---|---|---|")
        print(f"| time to validation loss {q['target']:.5g} | {q['reference_s']:,.1f} s | {ours} | {ratio} |")
        print(
            f"| whole fit | | {q['hsiae_fit_s']:,.1f} s, {q['hsiae_epochs']} epochs, best validation loss "
            f"{q['hsiae_best']:.5g} | |"
        )

    if args.thread_rule:
        Xb = SpectralResampler(n_bands=256).fit_transform(cube.reshape(-1, BANDS)).astype(np.float32)
        print(
            f"\n# training throughput, spectra/s (one epoch of the defaults, 256 bands, medians of "
            f"{args.repeats}, the settings taking turns); torch's default here: {TORCH_DEFAULT_THREADS} threads\n"
        )
        print("| machine | --threads 1 | --threads 2 | default | default / best |\n|---|---|---|---|---|")
        for loaded in [False, True] if args.load else [False]:
            with competing_process(loaded):
                tp = training_throughput(Xb, (1, 2, None), args.repeats)
            best = max(tp[1], tp[2])
            print(
                f"| {'one other CPU-bound process' if loaded else 'idle'} | {tp[1]:,.0f} | {tp[2]:,.0f} "
                f"| {tp[None]:,.0f} | {tp[None] / best:.2f} |",
                flush=True,
            )
        print("\nThe reference loop (torch's own threads, batch 256) over 20,000 of the same spectra:\n")
        print("| machine | 1 thread | 2 threads | 2 / 1 |\n|---|---|---|---|")
        for loaded in [False, True] if args.load else [False]:
            with competing_process(loaded):
                tp = reference_throughput(Xb[:20_000], (1, 2), args.repeats)
            print(
                f"| {'one other CPU-bound process' if loaded else 'idle'} | {tp[1]:,.0f} | {tp[2]:,.0f} "
                f"| {tp[2] / tp[1]:.2f} |",
                flush=True,
            )

    if args.budget:
        print("\n# AEDEncoder.fit (defaults, zdims=8) on random low-rank spectra of 64 bands\n")
        print("| pixels | data | epochs | fit wall time |\n|---|---|---|---|")
        for h, w in ((550, 400), (4000, 4000)):
            seconds, n_epochs, nbytes = fit_seconds(h * w)
            print(f"| {h} x {w} | {nbytes / 2**30:.2f} GiB | {n_epochs} | {seconds:,.1f} s |", flush=True)

    if args.cli:
        runs = [(cube, K, f"{H} x {W} x {BANDS} synthetic scene, -k {K}")]
        small, what = small_cube()
        runs.append((small, 4, f"{' x '.join(map(str, small.shape))} cube ({what}), -k 4"))
        print("\n| hsiae segment, default settings | machine | wall | peak memory | training |\n|---|---|---|---|---|")
        for data, k, what in runs:
            for loaded in [False, True] if args.load else [False]:
                with competing_process(loaded):
                    seconds, peak, trained = cli_segment(data, k=k)
                print(
                    f"| {what} | {'one other CPU-bound process' if loaded else 'idle'} | {seconds:,.1f} s "
                    f"| {peak / 1024:,.0f} MiB | {trained} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

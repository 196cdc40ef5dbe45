"""Speed of training, inference and segmentation on a WHU-Hi-LongKou-sized scene.

A synthetic scene of 550 x 400 pixels x 270 bands (220,000 spectra, resampled to
512 bands, as the original AED work did) is processed by hsiae and by
references written here that mirror the original code, in the same run:

1. training throughput, spectra per second over a whole epoch, data handling
   included: ``AEDEncoder.fit`` against a torch ``DataLoader`` over a
   ``TensorDataset`` (batch 256, shuffling, the same network, Adam);
2. ``transform`` + ``inverse_transform`` against a plain batched ``no_grad``
   loop over the same network (batch 256);
3. ``SpatialGMMSegmenter`` fit + predict on the latent codes plus (x, y)
   against scikit-learn's ``GaussianMixture(covariance_type="full")`` on all
   pixels;
4. peak resident memory of the process.

Medians over ``--repeats`` runs; ratios > 1 mean hsiae is faster.

    python benchmarks/speed.py --repeats 3
"""

import argparse
import platform
import resource
import statistics
import time

import numpy as np
import sklearn
import torch
from sklearn.mixture import GaussianMixture
from torch.utils.data import DataLoader, TensorDataset

import hsiae
from hsiae import AEDEncoder, SpatialGMMSegmenter, SpectralResampler, make_synthetic_scene
from hsiae.losses import SpectralLoss
from hsiae.networks import ConvAED

H, W, BANDS, RESAMPLED, ZDIMS, K = 550, 400, 270, 512, 16, 8


def reference_epoch(X, seed):
    """One epoch of the original training loop: DataLoader + TensorDataset, batch 256."""
    torch.manual_seed(seed)
    module = ConvAED(X.shape[1], ZDIMS)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-gmm", action="store_true")
    args = parser.parse_args()

    t0 = time.perf_counter()
    scene = make_synthetic_scene(n_bands=BANDS, shape=(H, W), n_segments=K, noise=0.02, random_state=0)
    X = SpectralResampler(n_bands=RESAMPLED).fit_transform(scene.cube.reshape(-1, BANDS)).astype(np.float32)
    print(f"# Speed on a synthetic {H} x {W} x {BANDS} scene resampled to {RESAMPLED} bands "
          f"({len(X):,} spectra), zdims={ZDIMS}; prepared in {time.perf_counter() - t0:.0f} s")
    print(f"# {platform.machine()}, {torch.get_num_threads()} torch threads, hsiae {hsiae.__version__}, "
          f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, {time.strftime('%Y-%m-%d')}; "
          f"medians of {args.repeats} runs")
    print()
    rows = []

    ref_train, ours_train, ref_inf, ours_inf = [], [], [], []
    for r in range(args.repeats):
        tp, module = reference_epoch(X, r)
        ref_train.append(tp)
        tp, enc = hsiae_epoch(X, r)
        ours_train.append(tp)
        ref_inf.append(reference_inference(module, X))
        ours_inf.append(hsiae_inference(enc, X))
    rows.append(("training, spectra/s (1 epoch)", statistics.median(ref_train), statistics.median(ours_train)))
    rows.append(("transform + inverse_transform, spectra/s", statistics.median(ref_inf),
                 statistics.median(ours_inf)))

    if not args.skip_gmm:
        Z = enc.transform(X)
        rr, cc = np.mgrid[:H, :W]
        Zxy = np.column_stack([Z, rr.ravel(), cc.ravel()]).astype(np.float64)
        ref_gmm, ours_gmm = [], []
        for r in range(args.repeats):
            start = time.perf_counter()
            GaussianMixture(K, covariance_type="full", random_state=r).fit(Zxy).predict(Zxy)
            ref_gmm.append(time.perf_counter() - start)
            start = time.perf_counter()
            SpatialGMMSegmenter(K, image_shape=(H, W), random_state=r).fit(Z).predict(Z)
            ours_gmm.append(time.perf_counter() - start)
        rows.append(("mixture fit + predict, s (ratio: reference / hsiae)", statistics.median(ref_gmm),
                     statistics.median(ours_gmm)))

    print("| measure | reference | hsiae | ratio |")
    print("|---|---|---|---|")
    for name, ref, ours in rows:
        ratio = ref / ours if name.endswith("hsiae)") else ours / ref
        print(f"| {name} | {ref:,.1f} | {ours:,.1f} | {ratio:.2f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process: {peak:,.0f} MiB "
          f"(resampled cube in float32: {X.nbytes / 2**20:,.0f} MiB)")


if __name__ == "__main__":
    main()

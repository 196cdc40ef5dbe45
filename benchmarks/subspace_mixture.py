"""A mixture of probabilistic PCA on unit-length spectra: what it reaches, and why it is not the recipe.

Each cluster is modelled as a Gaussian whose covariance is a rank-``d``
principal subspace plus isotropic noise, ``C_k = U_k diag(l_k) U_k' + s2 (I -
U_k U_k')`` (Tipping & Bishop's mixture of probabilistic principal component
analysers), with one noise variance ``s2`` shared by all clusters and equal
mixing weights, fitted by EM to each spectrum divided by its Euclidean length
(so brightness drops out and a cluster may stretch along a mixing line). The
optional spatial prior adds ``beta`` times the 4-neighbours' summed
responsibilities to each pixel's log-posterior (mean-field Potts).

The same model is started from the recommended pipeline's labels
(``make_segmentation_pipeline``, seeds 0-2) and from single k-means runs on the
same unit-length spectra (seeds 0-3). For each start the script prints the
final mean log-likelihood (the quantity EM climbs and the only one an
unsupervised user could rank starts by) and the overall accuracy after
Hungarian matching (labels used only for scoring)::

    python benchmarks/subspace_mixture.py                 # rank 5, beta 0 and 0.5, all scenes
    python benchmarks/subspace_mixture.py --rank 4 --beta 0 --scenes salinas_a
"""

import argparse
import time
import warnings

import numpy as np
import torch
from _scenes import SCENES, scene_pixels
from scipy import ndimage
from scipy.special import logsumexp
from sklearn.cluster import KMeans

from hsiae import make_segmentation_pipeline
from hsiae.metrics import cluster_accuracy

_FOUR = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


def mppca(X, labels, n_clusters, rank, image_shape=None, beta=0.0, max_iter=200, tol=1e-7):
    """EM for the mixture above from hard starting labels; returns (labels, mean log-likelihood)."""
    n, D = X.shape
    R = np.eye(n_clusters)[labels]
    previous = -np.inf
    for _ in range(max_iter):
        params, rest = [], []
        for c in range(n_clusters):
            w = R[:, c]
            mu = w @ X / max(w.sum(), 1e-10)
            Xc = X - mu
            S = (Xc * w[:, None]).T @ Xc / max(w.sum(), 1e-10)
            lam, U = np.linalg.eigh(S)
            lam, U = lam[::-1], U[:, ::-1]
            params.append((mu, U[:, :rank], np.maximum(lam[:rank], 1e-12)))
            rest.append(lam[rank:].mean())
        s2 = max(float(np.mean(rest)), 1e-12)
        L = np.empty((n, n_clusters))
        for c, (mu, Ud, ld) in enumerate(params):
            Xc = X - mu
            P = Xc @ Ud
            r2 = (Xc**2).sum(1) - (P**2).sum(1)
            L[:, c] = -0.5 * ((P**2 / ld).sum(1) + r2 / s2 + np.log(ld).sum() + (D - rank) * np.log(s2))
        log_lik = logsumexp(L, axis=1) - 0.5 * D * np.log(2 * np.pi) + np.log(1.0 / n_clusters)
        if beta and image_shape is not None:
            H, W = image_shape
            L = L + beta * np.stack(
                [ndimage.convolve(R[:, c].reshape(H, W), _FOUR, mode="nearest").ravel() for c in range(n_clusters)],
                axis=1,
            )
        R = np.exp(L - logsumexp(L, axis=1)[:, None])
        total = float(log_lik.sum())
        if abs(total - previous) < tol * abs(previous):
            break
        previous = total
    return L.argmax(1), total / n


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    parser.add_argument("--rank", type=int, default=5)
    parser.add_argument("--beta", type=float, nargs="+", default=[0.0, 0.5])
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"Mixture of probabilistic PCA, rank {args.rank}, shared noise, equal weights, on unit-length spectra\n")
    print("| scene | beta | start | mean log-likelihood | OA | rank by likelihood |")
    print("|---|---|---|---|---|---|")
    for name in args.scenes:
        k, (H, W), X, y = scene_pixels(name, np.float64)
        U = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        starts = {}
        for seed in range(3):
            pipe = make_segmentation_pipeline(k, image_shape=(H, W), random_state=seed)
            starts[f"recommended pipeline, seed {seed} (OA {{}})"] = pipe.fit_predict(X.astype(np.float32))
        for seed in range(4):
            starts[f"k-means, seed {seed} (OA {{}})"] = KMeans(k, n_init=1, random_state=seed).fit_predict(U)
        for beta in args.beta:
            rows = []
            for label, start in starts.items():
                t0 = time.perf_counter()
                labels, ll = mppca(U, start, k, args.rank, image_shape=(H, W), beta=beta)
                start_oa = cluster_accuracy(y, start, ignore=0)
                rows.append(
                    (
                        ll,
                        cluster_accuracy(y, labels, ignore=0),
                        label.format(f"{start_oa:.3f}"),
                        time.perf_counter() - t0,
                    )
                )
            order = sorted(range(len(rows)), key=lambda i: -rows[i][0])
            for i, (ll, oa, label, _) in enumerate(rows):
                print(f"| {name} | {beta:g} | {label} | {ll:.3f} | {oa:.3f} | {order.index(i) + 1} |", flush=True)


if __name__ == "__main__":
    main()

"""A tied mixture with one extra variance per cluster along its shading line: the lead for Samson.

Shaded pixels of a material are its spectrum scaled down. In the encoder's
code space, scaling a spectrum moves its code along a line through the code of
a black (all-zero) spectrum, the *shade point* ``o``; for the linear path this
is exact, for the network an approximation. The model here keeps the recipe's
tied covariance ``S`` and equal weights, and gives each cluster ``c`` the
covariance ``S + a_c v_c v_c'`` with ``v_c`` the unit vector from ``o`` to the
cluster's mean (or, in the "Jacobian" row, the direction in which the codes of
the cluster's mean spectrum move when it is scaled by 0.99-1.01) and ``a_c``
the cluster's extra variance along it. EM starts from the tied mixture's
labels; no spatial prior in any row, so the rows compare the mixtures alone.

Prints OA per seed (labels used only for scoring) for the recipe (with its
spatial prior), the recipe's mixture without the prior, and the two shading
variants, all on the codes of the recipe's encoder::

    python benchmarks/shading_mixture.py
    python benchmarks/shading_mixture.py --scenes samson --seeds 0
"""

import argparse
import warnings

import numpy as np
import torch
from scipy.special import logsumexp

from hsiae import SpatialGMMSegmenter, make_segmentation_pipeline
from hsiae.metrics import cluster_accuracy

from _scenes import SCENES, scene_pixels



def _log_gauss(Z, mean, cov):
    chol = np.linalg.cholesky(cov)
    r = np.linalg.solve(chol, (Z - mean).T)
    return -0.5 * (r**2).sum(0) - np.log(np.diag(chol)).sum()


def shading_mixture(Z, labels, n_clusters, direction, max_iter=200, tol=1e-8):
    """EM for ``N(mu_c, S + a_c v_c v_c')`` with equal weights; ``direction(resp, c, means)`` gives ``v_c``."""
    n, d = Z.shape
    R = np.eye(n_clusters)[labels]
    previous = -np.inf
    for _ in range(max_iter):
        Nk = R.sum(0) + 1e-10
        means = (R.T @ Z) / Nk[:, None]
        V = [direction(R, c, means) for c in range(n_clusters)]
        S = np.zeros((d, d))
        for c in range(n_clusters):
            r = Z - means[c]
            off = r - np.outer(r @ V[c], V[c])  # the residual across the shading line
            S += (off * R[:, [c]]).T @ off
        S = S / n + 1e-6 * np.eye(d)
        extra = [max(R[:, c] @ ((Z - means[c]) @ V[c]) ** 2 / Nk[c] - V[c] @ S @ V[c], 0.0)
                 for c in range(n_clusters)]
        L = np.stack([_log_gauss(Z, means[c], S + extra[c] * np.outer(V[c], V[c])) for c in range(n_clusters)], 1)
        ll = logsumexp(L, axis=1)
        R = np.exp(L - ll[:, None])
        if ll.sum() - previous < tol * abs(previous):
            break
        previous = ll.sum()
    return L.argmax(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print("| scene | mixture on the recipe's codes | OA per seed | mean |\n|---|---|---|---|")
    for name in args.scenes:
        k, (H, W), X, y = scene_pixels(name)
        B = X.shape[1]
        rows = {}
        for seed in args.seeds:
            pipe = make_segmentation_pipeline(k, image_shape=(H, W), random_state=seed)
            rows.setdefault("the recipe (spatial prior 0.5)", []).append(
                cluster_accuracy(y, pipe.fit_predict(X), ignore=0))
            head = pipe[:-1]
            Z = head.transform(X).astype(np.float64)
            start = SpatialGMMSegmenter(k, covariance_type="tied", equal_weights=True, spatial_weight=0,
                                        random_state=seed).fit_predict(Z)
            rows.setdefault("tied, equal weights, no prior", []).append(cluster_accuracy(y, start, ignore=0))
            shade = head.transform(np.zeros((1, B), np.float32))[0].astype(np.float64)

            def line(R, c, means):
                v = means[c] - shade
                return v / np.linalg.norm(v)

            def jacobian(R, c, means):
                mean_spectrum = (R[:, c] @ X / R[:, c].sum()).astype(np.float32)[None]
                v = (head.transform(1.01 * mean_spectrum) - head.transform(0.99 * mean_spectrum))[0]
                return v.astype(np.float64) / np.linalg.norm(v)

            for label, direction in (("+ shading along shade point -> mean", line),
                                     ("+ shading along the Jacobian", jacobian)):
                labels = shading_mixture(Z, start, k, direction)
                rows.setdefault(label, []).append(cluster_accuracy(y, labels, ignore=0))
        for label, oas in rows.items():
            print(f"| {name} | {label} | {' / '.join(f'{v:.3f}' for v in oas)} | {np.mean(oas):.3f} |", flush=True)


if __name__ == "__main__":
    main()

"""What the scenes' ground-truth abundances are: shares of the signal or fractions of the area.

For each scene (Samson, Jasper Ridge, and ``make_unmixing_scene(4, snr=30)``
seed 0), FCLS is run with the *ground-truth* endmembers on the pixels (a) as
stored, (b) L2-normalised and (c) L1-normalised (endmembers normalised the
same way), and the abundances are compared with the ground truth (RMSE). The
normalised solutions are shares of each pixel's signal; they are turned into
area fractions by dividing each share by its endmember's brightness and
renormalising, with the brightness (d) of the ground-truth endmembers and
(e) estimated from the data: the median brightness of the 1 % of pixels with
the largest share of that endmember. This is what an unmixer that only sees
the data could do; (d) needs the truth.

Prints one Markdown table::

    python benchmarks/abundance_conventions.py
"""

import numpy as np

from hsiae import load_scene, make_unmixing_scene
from hsiae.unmixing import fcls


def _rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _to_area(shares, brightness):
    a = shares / brightness
    return a / a.sum(axis=1, keepdims=True)


def main():
    print(
        "| scene | normalisation | as stored | signal shares | area, truth's brightness | area, estimated brightness |"
    )
    print("|---|---|---|---|---|---|")
    for name in ("samson", "jasper_ridge", "synthetic"):
        s = make_unmixing_scene(4, snr=30, random_state=0) if name == "synthetic" else load_scene(name)
        n_bands = s.cube.shape[-1]
        X = s.cube.reshape(-1, n_bands).astype(np.float64)
        E = s.endmembers.T.astype(np.float64)
        A = s.abundances.reshape(-1, E.shape[0])
        raw = _rmse(fcls(X, E), A)
        for label, norm in (("L2", lambda M: np.linalg.norm(M, axis=1)), ("L1", lambda M: np.abs(M).sum(axis=1))):
            shares = fcls(X / norm(X)[:, None], E / norm(E)[:, None])
            brightness = norm(X)
            estimated = np.array(
                [np.median(brightness[shares[:, i] >= np.quantile(shares[:, i], 0.99)]) for i in range(E.shape[0])]
            )
            print(
                f"| {name} | {label} | {raw:.3f} | {_rmse(shares, A):.3f} | "
                f"{_rmse(_to_area(shares, norm(E)), A):.3f} | {_rmse(_to_area(shares, estimated), A):.3f} |"
            )


if __name__ == "__main__":
    main()

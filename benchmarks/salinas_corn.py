"""Why clustering Salinas-A around cluster centres stops near OA 0.84-0.90: the corn field holds two materials.

Reads the labels, which is the point: this is a diagnosis of the ground truth, not a
method. The *Corn_senesced_green_weeds* field is split by the first principal
component of its own (band-standardised) spectra into two groups of pixels; the
script prints

- the histogram of that component (two modes, few pixels between them),
- the spectral angle between the class means, with the corn field's two groups
  as separate rows, and each row's nearest other mean,
- the highest overall accuracy (after one-to-one matching of clusters to
  classes) that any partition can reach if it puts the two groups in different
  clusters.

::

    python benchmarks/salinas_corn.py
"""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from hsiae import load_scene


def _angle(a, b):
    cos = np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)))


def main():
    scene = load_scene("salinas_a")
    H, W, B = scene.cube.shape
    X = scene.cube.reshape(-1, B).astype(np.float64)
    y = scene.labels.reshape(-1)
    names = list(scene.target_names)
    corn = names.index("Corn_senesced_green_weeds") + 1
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    idx = np.flatnonzero(y == corn)
    pc1 = PCA(1, random_state=0).fit_transform(Z[idx])[:, 0]
    pc1 *= np.sign(np.median(pc1))  # the larger group on the positive side
    counts, edges = np.histogram(pc1, bins=12)
    print(
        f"Salinas-A, {names[corn - 1]}: {len(idx)} labelled pixels; first principal component of its "
        f"band-standardised spectra"
    )
    print("\n| from | to | pixels |\n|---|---|---|")
    for c, lo, hi in zip(counts, edges[:-1], edges[1:]):
        print(f"| {lo:.1f} | {hi:.1f} | {c} |")
    # The two modes, split where 2-means on the component puts the boundary.
    centres = np.sort(KMeans(2, n_init=10, random_state=0).fit(pc1[:, None]).cluster_centers_.ravel())
    cut = float(centres.mean())
    groups = {"corn, group A": idx[pc1 < cut], "corn, group B": idx[pc1 >= cut]}
    means = {name: X[ix].mean(axis=0) for name, ix in groups.items()}
    for c, name in enumerate(names, start=1):
        if c != corn:
            means[name] = X[y == c].mean(axis=0)
    rows = list(means)
    print(f"\nSpectral angle between mean spectra (degrees); the field split at component = {cut:.1f}")
    print("\n| | pixels | " + " | ".join(rows) + " | nearest other |")
    print("|---" * (len(rows) + 3) + "|")
    sizes = {**{k: len(v) for k, v in groups.items()}, **{n: int(np.sum(y == c)) for c, n in enumerate(names, 1)}}
    for a in rows:
        angles = {b: _angle(means[a], means[b]) for b in rows}
        others = {b: v for b, v in angles.items() if b != a and not (a.startswith("corn") and b.startswith("corn"))}
        nearest = min(others, key=others.get)
        print(
            f"| {a} | {sizes[a]} | "
            + " | ".join(f"{angles[b]:.1f}" for b in rows)
            + f" | {nearest} ({others[nearest]:.1f}) |"
        )
    n_labelled = int(np.sum(y > 0))
    smaller = min(len(v) for v in groups.values())
    print(
        f"\nA partition that keeps the two groups apart leaves at least the smaller one ({smaller} pixels) "
        f"outside the cluster matched to the corn class: overall accuracy <= "
        f"1 - {smaller} / {n_labelled} = {1 - smaller / n_labelled:.3f}."
    )


if __name__ == "__main__":
    main()

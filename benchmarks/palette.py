"""Make the cluster palette of hsiae.plotting.segment_colors and measure how distinct it is.

The palette starts with matplotlib's "tab10" without its grey (a grey cluster
reads as no data), then adds colours one at a time, each the one farthest
(CIEDE2000) from every colour already taken, from white (the no-data colour)
and from black (text and edges): Glasbey's greedy method. Candidates are an
sRGB grid without greys (chroma < 20), near-blacks (L* < 30) and near-whites
(L* > 90). Prints the hex codes to paste into hsiae/plotting/_common.py and,
for the new palette and the previous one, the smallest difference between two
clusters and between a cluster and the no-data colour for k clusters.

    python benchmarks/palette.py --n 55
"""

import argparse

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex, to_rgba_array

from hsiae.plotting import cielab, color_difference


def lab(rgb):
    return cielab(rgb)


def delta_e(lab1, lab2):
    return color_difference(lab1, lab2, space="lab")


def greedy_palette(n, levels=32):
    start = np.delete(np.array(colormaps["tab10"].colors), 7, axis=0)  # 7 is grey
    grid = np.linspace(0.0, 1.0, levels)
    candidates = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    cand_lab = lab(candidates)
    chroma = np.hypot(cand_lab[:, 1], cand_lab[:, 2])
    keep = (chroma >= 20) & (cand_lab[:, 0] >= 30) & (cand_lab[:, 0] <= 90)
    candidates, cand_lab = candidates[keep], cand_lab[keep]
    taken = np.vstack([lab([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), lab(start)])
    nearest = delta_e(cand_lab[:, None], taken[None]).min(axis=1)
    chosen = list(start[:n])
    while len(chosen) < n:
        best = int(np.argmax(nearest))
        chosen.append(candidates[best])
        nearest = np.minimum(nearest, delta_e(cand_lab, cand_lab[best]))
    return to_rgba_array(np.array(chosen))


def table(name, colors, nodata, ks):
    L, nd = lab(colors), lab(to_rgba_array([nodata]))[0]
    print(f"\n{name}\n\n| k | closest two clusters | closest cluster to no data |\n|---|---|---|")
    for k in ks:
        d = delta_e(L[:k, None], L[None, :k])
        d[np.diag_indices(k)] = np.inf
        print(f"| {k} | {d.min():.1f} | {delta_e(L[:k], nd).min():.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=55, help="colours in the palette")
    args = parser.parse_args()
    palette = greedy_palette(args.n)
    added = [to_hex(c) for c in palette[9:]]
    print("colours after tab10's first nine (paste into hsiae/plotting/_common.py):")
    for i in range(0, len(added), 8):
        print("    " + ", ".join(f'"{h}"' for h in added[i : i + 8]) + ",")
    ks = [k for k in (8, 10, 12, 16, 20, 30, 40, 55) if k <= args.n]
    table("greedy CIEDE2000 palette, white for no data", palette, "white", ks)
    tab20 = colormaps["tab20"].colors
    tab20b, tab20c = colormaps["tab20b"].colors, colormaps["tab20c"].colors[:16]
    previous = list(colormaps["tab10"].colors)
    previous += [tab20[i] for i in range(1, 20, 2) if i != 15]
    previous += [tab20b[hue * 4 + shade] for shade in range(4) for hue in range(5)]
    previous += [tab20c[hue * 4 + shade] for shade in range(4) for hue in range(4)]
    table(
        "previous palette (tab10, light tab20, tab20b, tab20c), #e6e6e6 for no data",
        to_rgba_array(previous),
        "#e6e6e6",
        [k for k in ks if k <= len(previous)],
    )


if __name__ == "__main__":
    main()

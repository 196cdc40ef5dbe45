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


def lab(rgb):
    """CIELAB (D65) of sRGB colours in [0, 1]."""
    rgb = np.asarray(rgb, dtype=float)[..., :3]
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = (
        linear
        @ np.array(
            [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
        ).T
        / [0.95047, 1.0, 1.08883]
    )
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def delta_e(lab1, lab2):
    """CIEDE2000 difference of CIELAB colours (Sharma, Wu and Dalal 2005)."""
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, dtype=float), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, dtype=float), -1, 0)
    C = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    G = 0.5 * (1 - np.sqrt(C**7 / (C**7 + 25.0**7)))
    a1, a2 = (1 + G) * a1, (1 + G) * a2
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    dh = (h2 - h1 + 180) % 360 - 180
    dh = np.where(C1 * C2 == 0, 0, dh)
    dH = 2 * np.sqrt(C1 * C2) * np.sin(np.radians(dh / 2))
    Lm, Cm = (L1 + L2) / 2, (C1 + C2) / 2
    hm = np.where(np.abs(h1 - h2) > 180, (h1 + h2 + 360) / 2, (h1 + h2) / 2) % 360
    hm = np.where(C1 * C2 == 0, h1 + h2, hm)
    T = (
        1
        - 0.17 * np.cos(np.radians(hm - 30))
        + 0.24 * np.cos(np.radians(2 * hm))
        + 0.32 * np.cos(np.radians(3 * hm + 6))
        - 0.20 * np.cos(np.radians(4 * hm - 63))
    )
    SL = 1 + 0.015 * (Lm - 50) ** 2 / np.sqrt(20 + (Lm - 50) ** 2)
    SC, SH = 1 + 0.045 * Cm, 1 + 0.015 * Cm * T
    RT = -np.sin(np.radians(60 * np.exp(-(((hm - 275) / 25) ** 2)))) * 2 * np.sqrt(Cm**7 / (Cm**7 + 25.0**7))
    dL, dC = L2 - L1, C2 - C1
    return np.sqrt((dL / SL) ** 2 + (dC / SC) ** 2 + (dH / SH) ** 2 + RT * dC / SC * dH / SH)


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

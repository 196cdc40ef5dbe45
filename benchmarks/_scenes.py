"""The real scenes as the benchmark scripts use them: cluster counts and pixels."""

import numpy as np

from hsiae import load_scene

# Segments per scene: Salinas-A's crop classes, Samson's and Jasper Ridge's endmembers.
SCENES = {"salinas_a": 6, "samson": 3, "jasper_ridge": 4}


def scene_pixels(name, dtype=np.float32):
    """``(n_clusters, (H, W), X, y)``: spectra as rows (row-major pixels) and labels (0 = unlabelled)."""
    scene = load_scene(name)
    H, W, B = scene.cube.shape
    return SCENES[name], (H, W), scene.cube.reshape(-1, B).astype(dtype), scene.labels.ravel()


# Salinas-A's bands that its corrected cube leaves out (water absorption), 0-based: 108-112, 154-167 and 224 from 1.
SALINAS_CURATED_OUT = np.r_[107:112, 153:167, 223]


def band_ranges(indices):
    """0-based band indices written as 1-based ranges, as ``--drop-bands`` takes them: ``1-3,108-112,224``."""
    runs = []
    for b in sorted(int(i) + 1 for i in indices):
        if runs and b == runs[-1][1] + 1:
            runs[-1][1] = b
        else:
            runs.append([b, b])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)

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

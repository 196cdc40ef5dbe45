"""
Segmenting a hyperspectral scene
================================

Resample the spectra, learn a compact latent code with the convolutional
autoencoder, and cluster the codes with a Gaussian mixture that has a spatial
(Potts) prior. Then look at the segment map and at the spectra that represent
each segment.

The example uses the Salinas-A scene when the shared data folder is present
(``HSIAE_DATA``, default ``../shared/data``), and the embedded synthetic scene
otherwise. Set ``HSIAE_EXAMPLE_OUTPUT`` to a folder to save the figures;
``HSIAE_EXAMPLE_SMALL=1`` (set by the documentation's build) trains for 12
epochs instead of 40.
"""

# %%
# Load a scene
# ------------
import os

import matplotlib.pyplot as plt
from sklearn.metrics import adjusted_rand_score

from hsiae import (
    cluster_mean_spectra,
    load_scene,
    make_segmentation_pipeline,
    make_synthetic_scene,
    representative_spectra,
)
from hsiae.plotting import plot_cluster_spectra, plot_loss_curves, plot_segment_map

EPOCHS = 12 if os.environ.get("HSIAE_EXAMPLE_SMALL") == "1" else 40

try:
    scene = load_scene("salinas_a")
except FileNotFoundError:
    scene = make_synthetic_scene(n_bands=128, shape=(64, 64), n_segments=6, noise=0.02, random_state=0)
cube, truth = scene.cube, scene.labels
H, W, n_bands = cube.shape
k = int(truth.max())
print(f"{scene.name}: {H} x {W} pixels, {n_bands} bands, {k} classes")

# %%
# Fit the pipeline
# ----------------
# Rows are pixels in row-major order; ``image_shape`` tells the segmenter
# where each pixel sits, so that neighbours can agree.
pipe = make_segmentation_pipeline(k, image_shape=(H, W), random_state=0, aedencoder__max_epochs=EPOCHS)
X = cube.reshape(-1, n_bands)
labels = pipe.fit_predict(X).reshape(H, W)

labelled = truth > 0
ari = adjusted_rand_score(truth[labelled], labels[labelled])
print(f"adjusted Rand index against the ground truth: {ari:.3f}")

# %%
# Training curves
# ---------------
plot_loss_curves(pipe.named_steps["aedencoder"].history_, log=True)

# %%
# Segment map and cluster spectra
# -------------------------------
# Two views of each segment's spectrum: the decoded cluster centre (what the
# model considers typical: smooth, noise-free) and the mean of the measured
# spectra, with their spread (one standard deviation) shaded.
centres = representative_spectra(pipe)
means, std = cluster_mean_spectra(pipe, X, labels.ravel(), return_std=True)
fig, axes = plt.subplots(1, 3, figsize=(16, 4.5), layout="constrained")
plot_segment_map(labels, ax=axes[0])
axes[0].set_title(f"Segments (ARI {ari:.2f})")
plot_cluster_spectra(centres, wavelengths=scene.wavelengths, ax=axes[1], value_label="Reflectance")
axes[1].set_title("Decoded cluster centres")
plot_cluster_spectra(means, spread=std, wavelengths=scene.wavelengths, ax=axes[2], value_label="Reflectance")
axes[2].set_title("Mean and spread of each segment")

out = os.environ.get("HSIAE_EXAMPLE_OUTPUT")
if out:
    os.makedirs(out, exist_ok=True)
    for i in plt.get_fignums():
        plt.figure(i).savefig(os.path.join(out, f"plot_segmentation_{i}.png"), dpi=110)
plt.show()

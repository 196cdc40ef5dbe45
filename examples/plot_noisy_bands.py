"""
Noisy bands: find them from the cube, leave them out
====================================================

Real cubes have bands far noisier than the rest: water absorption, the
first and last bands of a detector. :mod:`hsiae.noise` estimates each
band's noise from the cube alone (every band regressed on all the others;
the residual is its noise), so the noisy bands can be found without a
bad-band list, as ``hsiae bands`` does on the command line before
``--drop-bands`` leaves them out.

Here eight bands of the synthetic scene are made noisy (a water-absorption
dip and a detector edge), their signal-to-noise ratio is estimated, and
the scene is segmented with every band and without the flagged ones. Set
``HSIAE_EXAMPLE_OUTPUT`` to a folder to save the figures;
``HSIAE_EXAMPLE_SMALL=1`` (set by the documentation's build) trains for 12
epochs instead of 40.
"""

# %%
# A scene with noisy bands
# ------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import adjusted_rand_score

from hsiae import make_segmentation_pipeline, make_synthetic_scene
from hsiae.metrics import match_clusters
from hsiae.noise import band_snr, hysime
from hsiae.plotting import plot_band_snr, plot_segment_map

EPOCHS = 12 if os.environ.get("HSIAE_EXAMPLE_SMALL") == "1" else 40

scene = make_synthetic_scene(n_bands=96, shape=(64, 64), n_segments=4, noise=0.01, random_state=0)
H, W, B = scene.cube.shape
cube, truth, wavelengths = scene.cube.copy(), scene.labels, scene.wavelengths
noisy = np.r_[58:64, 94:96]  # an absorption dip and the detector's last two bands
rng = np.random.default_rng(0)
cube[:, :, noisy] += rng.normal(0, 0.1 * (cube.max() - cube.min()), (H, W, len(noisy)))  # ten times the rest
X = cube.reshape(-1, B)
k = int(truth.max())

# %%
# Each band's signal-to-noise ratio, from the cube alone
# ------------------------------------------------------
# Bands more than 15 dB below the median band are flagged, as ``hsiae bands``
# flags them. HySime's dimension of the signal subspace comes with it.
snr = band_snr(X)
flagged = np.flatnonzero(snr < np.median(snr) - 15)
print(f"flagged bands (from 0): {flagged.tolist()}; made noisy: {noisy.tolist()}")
print(f"signal subspace (HySime): {hysime(X)} dimensions")

# %%
# Segmenting with every band, and without the flagged ones
# --------------------------------------------------------
keep = np.setdiff1d(np.arange(B), flagged)
labels, scores = {}, {}
for name, bands in (("every band", np.arange(B)), (f"without the {len(flagged)} flagged", keep)):
    pipe = make_segmentation_pipeline(
        k,
        image_shape=(H, W),
        random_state=0,
        aedencoder__max_epochs=EPOCHS,
        spectralresampler__wavelengths=wavelengths[bands],
    )
    labels[name] = pipe.fit_predict(X[:, bands])
    scores[name] = adjusted_rand_score(truth.ravel(), labels[name])
print(", ".join(f"{name}: ARI {ari:.3f}" for name, ari in scores.items()))

# %%
# The ratios and the two segment maps
# -----------------------------------
# The flagged bands stand out as dips in the ratio; each cluster is coloured as
# the true segment it is matched to.
fig = plt.figure(figsize=(14, 7), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.3])
plot_band_snr(snr, wavelengths=wavelengths, marked=flagged, marked_label="Flagged", ax=top.subplots())
axes = bottom.subplots(1, 3)
names = [f"segment {c + 1}" for c in range(k)]
plot_segment_map(truth - 1, names=names, ax=axes[0])
axes[0].set_title("True segments")
for ax, (name, found) in zip(axes[1:], labels.items()):
    matched = match_clusters(truth.ravel(), found)
    plot_segment_map(np.vectorize(matched.get)(found).reshape(H, W) - 1, names=names, ax=ax)
    ax.set_title(f"{name} (ARI {scores[name]:.2f})")

out = os.environ.get("HSIAE_EXAMPLE_OUTPUT")
if out:
    os.makedirs(out, exist_ok=True)
    for i in plt.get_fignums():
        plt.figure(i).savefig(os.path.join(out, f"plot_noisy_bands_{i}.png"), dpi=110)

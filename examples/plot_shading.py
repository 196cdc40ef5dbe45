"""
Segments under uneven light
===========================

A material in shadow has the spectrum it has in sun, scaled down. In the
encoder's latent space that moves its codes along the line towards the codes
of a black spectrum, the *shade point*. A Gaussian mixture with one shared
covariance cuts such a line into pieces of different brightness;
``SpatialGMMSegmenter(covariance_type="shaded")`` gives each cluster its own
variance along it. The recommended pipeline uses the shaded mixture and hands
it the shade point itself.

Here the synthetic scene is lit unevenly (a smooth illumination field between
0.5 and 1, as from terrain or a microscope's lamp), and the same codes are
segmented by a tied and by a shaded mixture. Set ``HSIAE_EXAMPLE_OUTPUT`` to a
folder to save the figures; ``HSIAE_EXAMPLE_SMALL=1`` (set by the
documentation's build) trains for 12 epochs instead of 40.
"""

# %%
# A scene under uneven light
# --------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
from scipy.ndimage import gaussian_filter
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from hsiae import make_segmentation_pipeline, make_synthetic_scene, shade_point
from hsiae.metrics import match_clusters
from hsiae.plotting import plot_segment_map

EPOCHS = 12 if os.environ.get("HSIAE_EXAMPLE_SMALL") == "1" else 40

scene = make_synthetic_scene(n_bands=96, shape=(64, 64), n_segments=4, noise=0.01, random_state=2)
H, W, B = scene.cube.shape
field = gaussian_filter(np.random.default_rng(0).normal(size=(H, W)), 6)
light = 0.5 + 0.5 * (field - field.min()) / (field.max() - field.min())
cube, truth = scene.cube * light[:, :, None], scene.labels
X = cube.reshape(-1, B)
k = int(truth.max())

# %%
# One encoder, two mixtures
# -------------------------
pipe = make_segmentation_pipeline(k, image_shape=(H, W), random_state=0, aedencoder__max_epochs=EPOCHS)
shaded = pipe.fit_predict(X)  # the recipe: the shaded mixture, given the shade point
head = pipe[:-1]
codes, point = head.transform(X), shade_point(head)
tied = clone(pipe[-1]).set_params(covariance_type="tied").fit_predict(codes)
scores = {name: adjusted_rand_score(truth.ravel(), labels) for name, labels in (("tied", tied), ("shaded", shaded))}
print(", ".join(f"{name}: ARI {ari:.3f}" for name, ari in scores.items()))

# %%
# The light, the codes and the segments
# -------------------------------------
# The illumination, the true segments, and the codes on their first two
# principal axes coloured by the true segments: the cross is the shade point,
# the lines run from it to the shaded mixture's cluster centres, and darker
# pixels lie towards the cross. Then the two segment maps.
pca = PCA(2).fit(codes)
P, origin, M = pca.transform(codes), pca.transform(point[None])[0], pca.transform(pipe[-1].means_)
fig, axes = plt.subplots(2, 3, figsize=(16, 9.5), layout="constrained")
axes = axes.ravel()  # two rows of three: a page's width shows five panels side by side too small
axes[5].set_axis_off()
im = axes[0].imshow(light, cmap="gray", vmin=0, vmax=1)
fig.colorbar(im, ax=axes[0], shrink=0.8, label="Illumination")
axes[0].set(title="Illumination", xlabel="Column (pixel)", ylabel="Row (pixel)")
names = [f"segment {c + 1}" for c in range(k)]
plot_segment_map(truth - 1, names=names, ax=axes[1])
axes[1].set_title("True segments")
for c in range(k):
    sel = truth.ravel() == c + 1
    axes[2].scatter(*P[sel][::3].T, s=3, alpha=0.5, label=f"segment {c + 1}")
for m in M:
    axes[2].plot([origin[0], m[0]], [origin[1], m[1]], color="black", lw=1)
axes[2].plot(*origin, marker="x", color="black", markersize=10, mew=2, ls="none", label="shade point")
axes[2].set(xlabel="Principal axis 1 of the codes", ylabel="Principal axis 2", title="Codes (every 3rd pixel)")
legend = axes[2].legend(loc="best", fontsize=8)
for handle in legend.legend_handles[:k]:
    handle.set_sizes([20])  # the segments' dots, larger in the legend than in the plot
for ax, name, labels in ((axes[3], "tied", tied), (axes[4], "shaded", shaded)):
    # Each cluster coloured as the true segment it is matched to (Hungarian).
    matched = match_clusters(truth.ravel(), labels)
    plot_segment_map(np.vectorize(matched.get)(labels).reshape(H, W) - 1, names=names, ax=ax)
    ax.set_title(f"{name} covariance (ARI {scores[name]:.2f})")

out = os.environ.get("HSIAE_EXAMPLE_OUTPUT")
if out:
    os.makedirs(out, exist_ok=True)
    for i in plt.get_fignums():
        plt.figure(i).savefig(os.path.join(out, f"plot_shading_{i}.png"), dpi=110)

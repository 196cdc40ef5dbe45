"""
Four autoencoders on the same spectra
=====================================

The convolutional AED, a dense (MLP) autoencoder, a bidirectional LSTM and a
self-attention (transformer) autoencoder, each with a 3-dimensional latent,
trained on the synthetic scene whose spectra are made from the three colour
channels of a picture through a known nonlinear function. Because the
generating factors are known, we can check what each latent space learned:
its channel maps should look like the picture's colour channels.

Set ``HSIAE_EXAMPLE_OUTPUT`` to a folder to save the figures;
``HSIAE_EXAMPLE_SMALL=1`` (set by the documentation's build) trains each
network for at most 12 epochs instead of 40.
"""

# %%
# The scene
# ---------
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline

from hsiae import AEDEncoder, SpectralResampler, make_synthetic_scene
from hsiae.plotting import plot_latent_maps, plot_latent_traversal

EPOCHS = 12 if os.environ.get("HSIAE_EXAMPLE_SMALL") == "1" else 40

scene = make_synthetic_scene(n_bands=96, shape=(48, 48), noise=0.02, random_state=0)
H, W, B = scene.cube.shape
X = scene.cube.reshape(-1, B)
clean = scene.clean.reshape(-1, B)

# %%
# Train the four architectures
# ----------------------------
models, rows = {}, []
for architecture in ["conv", "dense", "lstm", "transformer"]:
    model = make_pipeline(
        SpectralResampler(n_bands=B),
        AEDEncoder(zdims=3, architecture=architecture, max_epochs=EPOCHS, random_state=0),
    )
    start = time.perf_counter()
    model.fit(X)
    seconds = time.perf_counter() - start
    rec = model.inverse_transform(model.transform(X))
    rmse = float(np.sqrt(np.mean((rec - clean) ** 2)))
    models[architecture] = model
    rows.append((architecture, seconds, model[-1].n_epochs_, rmse))

print(f"{'architecture':<12} {'fit (s)':>8} {'epochs':>7} {'RMSE vs clean':>14}")
for architecture, seconds, epochs, rmse in rows:
    print(f"{architecture:<12} {seconds:>8.1f} {epochs:>7d} {rmse:>14.4f}")

# %%
# Reconstruction error and training time
# --------------------------------------
fig, (ax_err, ax_time) = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
names = [r[0] for r in rows]
ax_err.bar(names, [r[3] for r in rows], color="C0")
ax_err.axhline(float(np.sqrt(np.mean((X - clean) ** 2))), color="k", linestyle="--", label="noisy input")
ax_err.set_ylabel("RMSE against the clean cube")
ax_err.legend()
ax_time.bar(names, [r[1] for r in rows], color="C1")
ax_time.set_ylabel("Training time (s)")

# %%
# What each latent space learned
# ------------------------------
# One image per latent channel. The scene's factors are the picture's red,
# green and blue channels; a good latent space shows them (in some order,
# possibly mixed or inverted).
for architecture, model in models.items():
    fig = plot_latent_maps(model.transform(X).reshape(H, W, 3))
    fig.suptitle(f"{architecture}: latent channel maps")

# %%
# Latent traversal of the convolutional model
# -------------------------------------------
# Sweep one latent dimension at a time, holding the others at their median,
# and decode: how each direction of the latent space changes the spectrum.
conv = models["conv"]
fig = plot_latent_traversal(conv.inverse_transform, conv.transform(X), wavelengths=scene.wavelengths)

out = os.environ.get("HSIAE_EXAMPLE_OUTPUT")
if out:
    os.makedirs(out, exist_ok=True)
    for i in plt.get_fignums():
        plt.figure(i).savefig(os.path.join(out, f"plot_architectures_{i}.png"), dpi=110)
plt.show()

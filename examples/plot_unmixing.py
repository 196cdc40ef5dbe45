"""
Unmixing: endmembers and abundances
===================================

A pixel of a hyperspectral image often holds several materials. Linear
unmixing writes its spectrum as a mixture ``x = a @ E`` of a few pure spectra,
the *endmembers* ``E``, with *abundances* ``a`` that are non-negative and sum
to one. Here a synthetic scene with known endmembers and abundances is
unmixed by the classic pipeline (VCA for the endmembers, fully constrained
least squares for the abundances) and by :class:`hsiae.AEUnmixer`, an
autoencoder whose encoder outputs abundances and whose linear decoder's
weights are the endmembers. Where the real Samson scene is available
(``HSIAE_DATA``), it is unmixed too. Set ``HSIAE_EXAMPLE_OUTPUT`` to a folder
to save the figures; ``HSIAE_EXAMPLE_SMALL=1`` (set by the documentation's
build) trains for 40 epochs instead of the default 60.
"""

# %%
# A scene with known truth
# ------------------------
# Four smooth endmember spectra, abundances drawn from a Dirichlet
# distribution per region and blurred so that region borders are mixtures,
# and white noise at 30 dB SNR.
import os

import matplotlib.pyplot as plt
import numpy as np

from hsiae import AEUnmixer, load_scene, make_unmixing_scene
from hsiae.metrics import abundance_rmse, endmember_angles, match_endmembers
from hsiae.unmixing import fcls, vca

EPOCHS = 40 if os.environ.get("HSIAE_EXAMPLE_SMALL") == "1" else 60

scene = make_unmixing_scene(4, n_bands=128, shape=(64, 64), snr=30, random_state=0)
H, W, B = scene.cube.shape
X = scene.cube.reshape(-1, B)
E_true, A_true = scene.endmembers.T, scene.abundances.reshape(-1, 4)

# %%
# The classic pipeline and the autoencoder
# ----------------------------------------
E_vca, _ = vca(X, 4, random_state=0)
A_vca = fcls(X, E_vca)
unmixer = AEUnmixer(4, max_epochs=EPOCHS, random_state=0).fit(X)
A_ae = unmixer.transform(X)

results = {}
for name, E, A in (("VCA + FCLS", E_vca, A_vca), ("AEUnmixer", unmixer.endmembers_, A_ae)):
    order = match_endmembers(E_true, E)
    results[name] = (E[order], A[:, order])
    print(
        f"{name}: endmember angles {np.round(endmember_angles(E_true, E, order=order), 3)} rad, "
        f"abundance RMSE {abundance_rmse(A_true, A, order=order):.3f}"
    )

# %%
# On this scene the linear model holds exactly and every endmember has pure
# pixels, which is what VCA assumes: VCA finds the endmembers to within about
# 0.01 rad and the autoencoder adds nothing. Its abundances are shares of the
# endmembers' *shapes* (``normalize="l2"`` divides each pixel by its norm),
# not shares of the signal, so they differ from this scene's truth where the
# endmembers differ in brightness.
#
# Endmember spectra: the truth (dashed) and both estimates, each scaled to the
# truth's norm (only the shape is identified).
fig, axes = plt.subplots(1, 4, figsize=(12, 3), sharey=True, layout="constrained")
unit = lambda e: e / np.linalg.norm(e)  # noqa: E731
for j, ax in enumerate(axes):
    norm = np.linalg.norm(E_true[j])
    ax.plot(scene.wavelengths, E_true[j], "k--", label="truth")
    for name, (E, _) in results.items():
        ax.plot(scene.wavelengths, unit(E[j]) * norm, label=name)
    ax.set_title(f"endmember {j + 1}")
    ax.set_xlabel("wavelength (nm)")
axes[0].set_ylabel("reflectance")
axes[0].legend(fontsize=8)

# %%
# Abundance maps: the truth and the autoencoder's.
fig, axes = plt.subplots(2, 4, figsize=(10, 5), layout="constrained")
for j in range(4):
    for row, (label, A) in enumerate((("truth", A_true), ("AEUnmixer", results["AEUnmixer"][1]))):
        im = axes[row, j].imshow(A[:, j].reshape(H, W), vmin=0, vmax=1, cmap="viridis")
        axes[row, j].set_title(f"{label}: endmember {j + 1}", fontsize=9)
        axes[row, j].set_axis_off()
fig.colorbar(im, ax=axes, shrink=0.8, label="abundance")

# %%
# A real scene: Samson
# --------------------
# Samson's ground-truth abundances are shares of shapes, like AEUnmixer's:
# here the autoencoder moves VCA's endmembers closer to the ground truth and
# its abundances are far closer than those of VCA + FCLS on the stored pixels
# (benchmarks/RESULTS.md has three seeds and Jasper Ridge).
try:
    samson = load_scene("samson")
except (FileNotFoundError, OSError) as exc:
    print(f"Samson not found, skipped: {exc}")
else:
    Xs = samson.cube.reshape(-1, samson.cube.shape[-1]).astype(np.float64)
    Es, As = samson.endmembers.T, samson.abundances.reshape(-1, 3)
    E_v, _ = vca(Xs, 3, random_state=0)
    ae = AEUnmixer(3, max_epochs=EPOCHS, random_state=0).fit(Xs)
    fig, axes = plt.subplots(3, 3, figsize=(7.5, 7.5), layout="constrained")
    for row, (name, E, A) in enumerate(
        (("ground truth", Es, As), ("VCA + FCLS", E_v, fcls(Xs, E_v)), ("AEUnmixer", ae.endmembers_, ae.transform(Xs)))
    ):
        order = match_endmembers(Es, E)
        print(
            f"Samson, {name}: mean endmember angle {endmember_angles(Es, E, order=order).mean():.3f} rad, "
            f"abundance RMSE {abundance_rmse(As, A, order=order):.3f}"
        )
        for j in range(3):
            im = axes[row, j].imshow(A[:, order[j]].reshape(samson.cube.shape[:2]), vmin=0, vmax=1)
            axes[row, j].set_title(f"{name}: {samson.target_names[j]}", fontsize=9)
            axes[row, j].set_axis_off()
    fig.colorbar(im, ax=axes, shrink=0.6, label="abundance")

out = os.environ.get("HSIAE_EXAMPLE_OUTPUT")
if out:
    os.makedirs(out, exist_ok=True)
    for i in plt.get_fignums():
        plt.figure(i).savefig(os.path.join(out, f"plot_unmixing_{i}.png"), dpi=110)

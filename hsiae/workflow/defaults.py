"""The recommended settings as plain data, with no imports.

The recipes (:func:`hsiae.make_segmentation_pipeline`,
:func:`hsiae.make_denoising_pipeline`) are built from these values, and the
command line shows them in its help without importing torch or the
estimators. The training values are :class:`hsiae.AEDEncoder`'s own defaults;
a test checks that they agree.
"""

__all__ = ["TRAINING", "SEGMENTATION", "DENOISING", "UNMIXING", "SAMPLE_SIZE", "CHUNKS", "recipe_defaults"]

# AEDEncoder's training defaults, as the command line names them.
TRAINING = {
    "architecture": "conv",
    "epochs": 30,
    "batch_size": 512,
    "lr": 2e-3,
    "validation_fraction": 0.1,
}

# make_segmentation_pipeline: spectra resampled to 256 bands and standardised per band, an
# 8-dimensional code, the spatial prior at weight 0.5.
SEGMENTATION = {"bands": 256, "zdims": 8, "spatial_weight": 0.5}

# make_denoising_pipeline: at most 256 bands (never interpolated up), scaled by the range, a
# 16-dimensional code.
DENOISING = {"bands": 256, "zdims": 16}

# AEUnmixer's defaults, as the command line names them (hsiae unmix).
UNMIXING = {"epochs": 60, "batch_size": 256, "lr": 1e-2, "solver": "encoder"}

# Pixels drawn across a cube to fit on when it is processed in chunks.
SAMPLE_SIZE = 100_000

# Default chunk size (pixels a side) for cubes processed in chunks.
CHUNKS = 512


def recipe_defaults(recipe="segmentation"):
    """The settings of a recipe, training included: ``"segmentation"`` or ``"denoising"``."""
    if recipe == "denoising":
        return {**TRAINING, "spatial_weight": SEGMENTATION["spatial_weight"], **DENOISING}
    return {**TRAINING, **SEGMENTATION}

"""hsiae: hyperspectral autoencoders with scikit-learn's API.

Latent features, denoised spectra and spatial segment maps from hyperspectral
cubes, with estimators that compose in a scikit-learn ``Pipeline``.

The names below are imported when first used (PEP 562), so that
``import hsiae`` and the command line's ``--help`` do not load torch.
"""

import importlib

__version__ = "0.1.0.dev0"

# public name -> the module that defines it
_NAMES = {
    "AEDEncoder": "hsiae.encoder",
    "AEUnmixer": "hsiae.unmixer",
    "CubeFormatError": "hsiae.io",
    "CubeInfo": "hsiae.io",
    "SegmentationPipeline": "hsiae.workflow.recipes",
    "SpatialGMMSegmenter": "hsiae.segmentation",
    "SpectralResampler": "hsiae.resampling",
    "WholeImageSplit": "hsiae.workflow.selection",
    "cluster_mean_spectra": "hsiae.workflow.spectra",
    "denoise": "hsiae.workflow.spectra",
    "denoise_blocks": "hsiae.workflow.blocks",
    "fit_on_sample": "hsiae.workflow.fitting",
    "get_data_home": "hsiae.datasets",
    "load_model": "hsiae.persistence",
    "load_scene": "hsiae.datasets",
    "make_clustering_scorer": "hsiae.workflow.selection",
    "make_segmentation_pipeline": "hsiae.workflow.recipes",
    "make_denoising_pipeline": "hsiae.workflow.recipes",
    "make_silhouette_scorer": "hsiae.workflow.selection",
    "make_synthetic_scene": "hsiae.datasets",
    "make_unmixing_scene": "hsiae.datasets",
    "open_cube": "hsiae.io",
    "pixel_spectra": "hsiae.workflow.usable",
    "predict_blocks": "hsiae.workflow.blocks",
    "predict_proba_blocks": "hsiae.workflow.blocks",
    "read_cube": "hsiae.io",
    "representative_spectra": "hsiae.workflow.spectra",
    "sample_pixels": "hsiae.workflow.fitting",
    "save_model": "hsiae.persistence",
    "segment_cube": "hsiae.workflow.fitting",
    "shade_point": "hsiae.workflow.recipes",
    "silhouette_scorer": "hsiae.workflow.selection",
    "store_cube": "hsiae.io",
    "store_labels": "hsiae.io",
    "transform_blocks": "hsiae.workflow.blocks",
    "unmix_blocks": "hsiae.workflow.unmixing",
    "unmix_cube": "hsiae.workflow.unmixing",
    "write_cube": "hsiae.io",
    "write_labels": "hsiae.io",
}
# subpackages and modules reachable as attributes, e.g. hsiae.metrics after import hsiae
_SUBMODULES = ("cli", "datasets", "io", "metrics", "plotting", "workflow")

__all__ = [*_NAMES, "__version__"]


def __getattr__(name):
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"hsiae.{name}")
    else:
        raise AttributeError(f"module 'hsiae' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted({*globals(), *_NAMES, *_SUBMODULES})

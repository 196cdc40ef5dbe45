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
    "CubeFormatError": "hsiae.io",
    "CubeInfo": "hsiae.io",
    "SegmentationPipeline": "hsiae.pipeline",
    "SpatialGMMSegmenter": "hsiae.segmentation",
    "SpectralResampler": "hsiae.resampling",
    "WholeImageSplit": "hsiae.pipeline",
    "cluster_mean_spectra": "hsiae.pipeline",
    "denoise": "hsiae.pipeline",
    "denoise_blocks": "hsiae.chunked",
    "fit_on_sample": "hsiae.chunked",
    "get_data_home": "hsiae.datasets",
    "load_model": "hsiae.persistence",
    "load_scene": "hsiae.datasets",
    "make_clustering_scorer": "hsiae.pipeline",
    "make_segmentation_pipeline": "hsiae.pipeline",
    "make_denoising_pipeline": "hsiae.pipeline",
    "make_silhouette_scorer": "hsiae.pipeline",
    "make_synthetic_scene": "hsiae.datasets",
    "open_cube": "hsiae.io",
    "pixel_spectra": "hsiae.nodata",
    "predict_blocks": "hsiae.chunked",
    "predict_proba_blocks": "hsiae.chunked",
    "read_cube": "hsiae.io",
    "representative_spectra": "hsiae.pipeline",
    "sample_pixels": "hsiae.chunked",
    "save_model": "hsiae.persistence",
    "segment_cube": "hsiae.nodata",
    "shade_point": "hsiae.pipeline",
    "silhouette_scorer": "hsiae.pipeline",
    "store_cube": "hsiae.io",
    "store_labels": "hsiae.io",
    "transform_blocks": "hsiae.chunked",
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

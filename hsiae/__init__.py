"""hsiae: hyperspectral autoencoders with scikit-learn's API.

Latent features, denoised spectra and spatial segment maps from hyperspectral
cubes, with estimators that compose in a scikit-learn ``Pipeline``.
"""

from hsiae.chunked import (
    denoise_blocks,
    fit_on_sample,
    predict_blocks,
    predict_proba_blocks,
    sample_pixels,
    transform_blocks,
)
from hsiae.datasets import get_data_home, load_scene, make_synthetic_scene
from hsiae.encoder import AEDEncoder
from hsiae.io import (
    CubeFormatError,
    CubeInfo,
    open_cube,
    read_cube,
    store_cube,
    store_labels,
    write_cube,
    write_labels,
)
from hsiae.nodata import pixel_spectra, segment_cube
from hsiae.persistence import load_model, save_model
from hsiae.pipeline import (
    SegmentationPipeline,
    WholeImageSplit,
    cluster_mean_spectra,
    denoise,
    make_clustering_scorer,
    make_denoising_pipeline,
    make_segmentation_pipeline,
    make_silhouette_scorer,
    representative_spectra,
    shade_point,
    silhouette_scorer,
)
from hsiae.resampling import SpectralResampler
from hsiae.segmentation import SpatialGMMSegmenter

__version__ = "0.1.0.dev0"

__all__ = [
    "AEDEncoder",
    "CubeFormatError",
    "CubeInfo",
    "SegmentationPipeline",
    "SpatialGMMSegmenter",
    "SpectralResampler",
    "WholeImageSplit",
    "cluster_mean_spectra",
    "denoise",
    "denoise_blocks",
    "fit_on_sample",
    "get_data_home",
    "load_model",
    "load_scene",
    "make_clustering_scorer",
    "make_segmentation_pipeline",
    "make_denoising_pipeline",
    "make_silhouette_scorer",
    "make_synthetic_scene",
    "open_cube",
    "pixel_spectra",
    "predict_blocks",
    "predict_proba_blocks",
    "read_cube",
    "representative_spectra",
    "sample_pixels",
    "save_model",
    "segment_cube",
    "shade_point",
    "silhouette_scorer",
    "store_cube",
    "store_labels",
    "transform_blocks",
    "write_cube",
    "write_labels",
    "__version__",
]

"""hsiae: hyperspectral autoencoders with scikit-learn's API.

Latent features, denoised spectra and spatial segment maps from hyperspectral
cubes, with estimators that compose in a scikit-learn ``Pipeline``.
"""

from hsiae.encoder import AEDEncoder
from hsiae.pipeline import (
    WholeImageSplit,
    cluster_mean_spectra,
    denoise,
    make_clustering_scorer,
    make_segmentation_pipeline,
    make_silhouette_scorer,
    representative_spectra,
    silhouette_scorer,
)
from hsiae.resampling import SpectralResampler
from hsiae.segmentation import SpatialGMMSegmenter

__version__ = "0.1.0.dev0"

__all__ = [
    "AEDEncoder",
    "SpatialGMMSegmenter",
    "SpectralResampler",
    "WholeImageSplit",
    "cluster_mean_spectra",
    "denoise",
    "make_clustering_scorer",
    "make_segmentation_pipeline",
    "make_silhouette_scorer",
    "representative_spectra",
    "silhouette_scorer",
    "__version__",
]

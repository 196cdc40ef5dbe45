"""Plots of hyperspectral cubes, reconstructions, latent codes and segment maps.

Every function takes arrays and returns what it drew (an Axes or a Figure); none
calls ``plt.show()`` or changes matplotlib's global state. Cubes have shape
``(H, W, n_bands)``; ``wavelengths`` is an optional 1-D array of band centres
(without it the spectral axis is the band index). Segment labels have shape
``(H, W)``, clusters ``0 .. k-1`` and negative values for no-data; clusters are
named 1-based ("Cluster 1" is label 0) and cluster ``k`` has the colour
``segment_colors(n)[k]`` in every plot.
"""

# NODATA_COLOR (and how captions name it, NODATA_NAME) are public but, as before the split,
# not in __all__.
from hsiae.plotting._abundances import plot_abundance_maps
from hsiae.plotting._colors import cielab, color_difference
from hsiae.plotting._common import NODATA_COLOR, NODATA_NAME, segment_colors  # noqa: F401
from hsiae.plotting._generator import plot_generated_spectra
from hsiae.plotting._images import plot_band_image, plot_reconstruction_error, plot_segment_map
from hsiae.plotting._latent import plot_latent_maps, plot_latent_traversal
from hsiae.plotting._spectra import plot_band_snr, plot_cluster_spectra, plot_spectrum
from hsiae.plotting._training import plot_loss_curves

__all__ = [
    "cielab",
    "color_difference",
    "plot_abundance_maps",
    "plot_band_image",
    "plot_band_snr",
    "plot_cluster_spectra",
    "plot_generated_spectra",
    "plot_latent_maps",
    "plot_latent_traversal",
    "plot_loss_curves",
    "plot_reconstruction_error",
    "plot_segment_map",
    "plot_spectrum",
    "segment_colors",
]

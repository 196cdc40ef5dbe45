"""hsiae: hyperspectral autoencoders with scikit-learn's API."""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]

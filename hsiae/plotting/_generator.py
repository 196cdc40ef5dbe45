"""The spectra a synthetic scene's generator makes when one factor varies at a time."""

import numbers

import numpy as np

from hsiae.exceptions import Param, ParameterError


def plot_generated_spectra(function="tutorial", *, n_bands=100, n_values=5, image=None, fig=None):
    """Plot the spectra a generating function makes as each colour factor varies alone.

    The figure of the tutorial "Unsupervised Spectral Unmixing with
    Autoencoders" ("generated data"): for red, green and blue in turn, that
    factor takes ``n_values`` values from 0 to 1 with the other two at 0,
    and the spectra it produces are drawn from dark to light colours. With
    ``image``, a first row shows the image's three channels, each alone.

    Parameters
    ----------
    function : {"gaussian_peaks", "tutorial"} or callable, default="tutorial"
        As in :func:`hsiae.make_synthetic_scene`.
    n_bands : int, default=100
        Points along the band axis.
    n_values : int, default=5
        Values of the varied factor, at least 2.
    image : array-like of shape (H, W, 3) or None, default=None
        RGB image with values in [0, 1] whose channels are shown above.
    fig : matplotlib Figure or None, default=None
        Figure to draw in; a new one when None.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from hsiae.datasets import generating_function

    name, generate = generating_function(function)
    for label, value, low in (("n_bands", n_bands, 2), ("n_values", n_values, 2)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ParameterError(
                "{name} must be an integer >= {low}, got {value!r}.", name=Param(label), low=low, value=value
            )
    if image is not None:
        image = np.asarray(image, dtype=np.float64)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be an RGB array of shape (H, W, 3), got shape {image.shape}.")
    n_rows = 1 if image is None else 2
    if fig is None:
        fig = plt.figure(figsize=(10, 3.2 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, 3, squeeze=False)
    colours = ("red", "green", "blue")
    cmap = plt.get_cmap("viridis")
    for i, colour in enumerate(colours):
        factors = np.zeros((n_values, 3))
        factors[:, i] = np.linspace(0.0, 1.0, n_values)
        spectra = np.asarray(generate(factors, np.linspace(0.0, 1.0, n_bands)))
        ax = axes[-1, i]
        for j, spectrum in enumerate(spectra):
            ax.plot(
                np.arange(n_bands), spectrum, color=cmap((j + 1) / n_values), label=f"{colour} = {factors[j, i]:.2f}"
            )
        ax.set_title(f"{colour} varied alone ({name})")
        ax.set_xlabel("band")
        ax.legend(fontsize=7)
        if image is not None:
            channel = np.zeros_like(image)
            channel[..., i] = image[..., i]
            axes[0, i].imshow(channel)
            axes[0, i].set_title(f"{colour} channel")
            axes[0, i].set_axis_off()
    axes[-1, 0].set_ylabel("value")
    return fig

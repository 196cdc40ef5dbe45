"""Spectra: one pixel against its reconstruction, one spectrum per cluster."""

from collections.abc import Mapping

import numpy as np

from hsiae.plotting._common import (
    _check_cube,
    _check_names,
    _check_same_shape,
    _check_wavelengths,
    _is_int,
    _new_axes,
    _outside_legend,
    _spectral_axis,
    _with_gaps,
    segment_colors,
)


def plot_spectrum(
    cube,
    reconstruction=None,
    *,
    pixel,
    others=None,
    wavelengths=None,
    wavelength_units="nm",
    value_label="Value",
    ax=None,
):
    """Plot the spectrum of one pixel, its reconstruction and other versions.

    Parameters
    ----------
    cube : array-like of shape (H, W, n_bands)
        Input cube (e.g. the clean reference).
    reconstruction : array-like of shape (H, W, n_bands), default=None
        Reconstructed cube.
    pixel : tuple of (int, int)
        ``(row, col)`` of the pixel.
    others : mapping of str to array-like of shape (H, W, n_bands), default=None
        More cubes to compare, labelled by their key, e.g. ``{"Noisy input": noisy}``.
    wavelengths : array-like of shape (n_bands,), default=None
        Band centres for the x axis; the band index when None.
    wavelength_units : str, default="nm"
        Unit of ``wavelengths``.
    value_label : str, default="Value"
        Label of the y axis, e.g. ``"Reflectance"``.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is created when None.

    Returns
    -------
    ax : matplotlib Axes
        One line per cube: the input, each of ``others``, then the reconstruction.
    """
    cube = _check_cube(cube)
    height, width, n_bands = cube.shape
    if reconstruction is not None:
        reconstruction = _check_same_shape(cube, reconstruction, "reconstruction")
    others = {} if others is None else others
    if not isinstance(others, Mapping):
        raise ValueError(
            f"others must be a mapping of label to cube, like {{'Noisy input': noisy}}, "
            f"but got {type(others).__name__}."
        )
    others = {str(k): _check_same_shape(cube, v, f"others[{k!r}]") for k, v in others.items()}
    wavelengths = _check_wavelengths(wavelengths, n_bands)
    if not (isinstance(pixel, (tuple, list, np.ndarray)) and len(pixel) == 2 and all(_is_int(i) for i in pixel)):
        raise ValueError(f"pixel must be a (row, col) pair of ints, but got {pixel!r}.")
    row, col = int(pixel[0]), int(pixel[1])
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(
            f"pixel={(row, col)} is outside the image, which has {height} rows and {width} "
            f"columns; pass 0 <= row < {height} and 0 <= col < {width}."
        )

    x, xlabel = _spectral_axis(wavelengths, n_bands, wavelength_units)
    ax = _new_axes(ax)
    ax.plot(*_with_gaps(x, cube[row, col]), color="black", linewidth=1.6, label="Input", zorder=3)
    for i, (label, other) in enumerate(others.items()):
        # Thin, translucent lines keep noisy versions behind the two main lines.
        ax.plot(
            *_with_gaps(x, other[row, col]), color=f"C{(i + 2) % 10}", linewidth=0.9, alpha=0.75, label=label, zorder=2
        )
    if reconstruction is not None:
        ax.plot(
            *_with_gaps(x, reconstruction[row, col]),
            color="C3",
            linewidth=1.6,
            linestyle="--",
            label="Reconstruction",
            zorder=4,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(value_label)
    ax.set_title(f"Spectrum of pixel (row {row}, col {col})")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return ax


def plot_cluster_spectra(
    spectra, *, wavelengths=None, wavelength_units="nm", names=None, spread=None, value_label="Value", ax=None
):
    """Plot one representative spectrum per cluster, in the segment colours.

    Parameters
    ----------
    spectra : array-like of shape (n_clusters, n_bands)
        Representative spectrum of each cluster (e.g. its mean); row ``k`` is
        cluster ``k``.
    wavelengths : array-like of shape (n_bands,), default=None
        Band centres for the x axis; the band index when None.
    wavelength_units : str, default="nm"
        Unit of ``wavelengths``.
    names : sequence of str, default=None
        Cluster names; "Cluster 1" .. "Cluster k" when None.
    spread : array-like of shape (n_clusters, n_bands), default=None
        Non-negative half-width of a shaded band around each spectrum, e.g. the
        standard deviation of the cluster's pixels.
    value_label : str, default="Value"
        Label of the y axis, e.g. ``"Reflectance"``.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is created when None.

    Returns
    -------
    ax : matplotlib Axes
        One line per cluster (and one shaded band per cluster with ``spread``).

    See Also
    --------
    plot_segment_map, segment_colors
    """
    spectra = np.asarray(spectra, dtype=float)
    if spectra.ndim != 2:
        raise ValueError(
            f"spectra must have shape (n_clusters, n_bands), but it has shape {spectra.shape}; "
            f"for a single spectrum pass spectra[None, :]."
        )
    n_clusters, n_bands = spectra.shape
    names = _check_names(names, n_clusters, "spectra")
    wavelengths = _check_wavelengths(wavelengths, n_bands)
    if spread is not None:
        spread = np.asarray(spread, dtype=float)
        if spread.shape != spectra.shape:
            raise ValueError(
                f"spread has shape {spread.shape}, but spectra has shape {spectra.shape}; "
                f"pass one spread value per cluster and band."
            )
        if np.any(spread < 0):
            raise ValueError("spread must be non-negative: it is a half-width, e.g. a standard deviation.")

    x, xlabel = _spectral_axis(wavelengths, n_bands, wavelength_units)
    colors = segment_colors(n_clusters)
    ax = _new_axes(ax)
    for k in range(n_clusters):
        ax.plot(*_with_gaps(x, spectra[k]), color=colors[k], linewidth=1.6, label=names[k])
        if spread is not None:
            ax.fill_between(
                *_with_gaps(x, spectra[k] - spread[k], spectra[k] + spread[k]), color=colors[k], alpha=0.2, linewidth=0
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(value_label)
    ax.set_title("Cluster spectra" + (" (shaded: \u00b1 spread)" if spread is not None else ""))
    ax.grid(True, alpha=0.3)
    if n_clusters:
        _outside_legend(ax, n_entries=n_clusters)
    return ax


def plot_band_snr(snr, *, wavelengths=None, wavelength_units="nm", marked=None, marked_label="Marked", ax=None):
    """Plot each band's signal-to-noise ratio, as :func:`hsiae.noise.band_snr` estimates it.

    Bands of water absorption and at the detectors' edges show as dips tens
    of dB deep; ``marked`` draws a set of bands (the ones to leave out, or a
    file's bad-band list) as points over the line, to check one against the
    other.

    Parameters
    ----------
    snr : array-like of shape (n_bands,)
        Ratios in dB; ``inf`` (a band without noise) and ``-inf`` (one
        without signal) are left out of the line.
    wavelengths : array-like of shape (n_bands,), default=None
        Band centres for the x axis; the band index when None.
    wavelength_units : str, default="nm"
        Unit of ``wavelengths``.
    marked : array-like of int or of bool, default=None
        Bands to mark: indices into ``snr``, or a mask of ``n_bands`` booleans.
    marked_label : str, default="Marked"
        Legend entry of the marked bands.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is created when None.

    Returns
    -------
    ax : matplotlib Axes
    """
    snr = np.asarray(snr, dtype=float)
    if snr.ndim != 1 or len(snr) < 1 or np.isnan(snr).any():
        raise ValueError(
            f"snr must be a 1-D array of ratios in dB, one per band, without NaN (as hsiae.noise.band_snr "
            f"returns), but got shape {snr.shape}{' with NaN' if snr.ndim == 1 and np.isnan(snr).any() else ''}."
        )
    n_bands = len(snr)
    wavelengths = _check_wavelengths(wavelengths, n_bands)
    shown = np.zeros(n_bands, dtype=bool)
    if marked is not None:
        marked = np.asarray(marked)
        if marked.dtype == bool and marked.shape == (n_bands,):
            shown = marked
        elif marked.ndim == 1 and (marked.size == 0 or np.issubdtype(marked.dtype, np.integer)):
            if marked.size and (marked.min() < -n_bands or marked.max() >= n_bands):
                raise ValueError(
                    f"marked holds band {int(marked.max() if marked.max() >= n_bands else marked.min())}, "
                    f"but snr has {n_bands} bands; pass indices from 0 to {n_bands - 1}."
                )
            shown[marked] = True
        else:
            raise ValueError(
                f"marked must be band indices (ints) or a mask of {n_bands} booleans, but got an array of "
                f"dtype {marked.dtype} and shape {marked.shape}."
            )

    x, xlabel = _spectral_axis(wavelengths, n_bands, wavelength_units)
    finite = np.where(np.isfinite(snr), snr, np.nan)
    ax = _new_axes(ax)
    ax.plot(*_with_gaps(x, finite), color="black", linewidth=1.2, label="Estimated SNR", zorder=2)
    if shown.any():
        ax.scatter(x[shown], finite[shown], s=18, color="C3", zorder=3, label=f"{marked_label} ({int(shown.sum())})")
        ax.legend(loc="best", frameon=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Signal-to-noise ratio (dB)")
    ax.set_title(f"Signal-to-noise ratio per band, median {np.nanmedian(finite):.1f} dB")
    ax.grid(True, alpha=0.3)
    return ax

"""Plots of hyperspectral cubes, reconstructions, latent codes and segment maps.

Every function takes arrays and returns what it drew (an Axes or a Figure); none
calls ``plt.show()`` or changes matplotlib's global state. Cubes have shape
``(H, W, n_bands)``; ``wavelengths`` is an optional 1-D array of band centres
(without it the spectral axis is the band index). Segment labels have shape
``(H, W)``, clusters ``0 .. k-1`` and negative values for no-data; clusters are
named 1-based ("Cluster 1" is label 0) and cluster ``k`` has the colour
``segment_colors(n)[k]`` in every plot.
"""

import math
import textwrap
import warnings
from collections.abc import Mapping

import numpy as np

__all__ = [
    "plot_band_image", "plot_cluster_spectra", "plot_latent_maps", "plot_latent_traversal",
    "plot_loss_curves", "plot_reconstruction_error", "plot_segment_map", "plot_spectrum",
    "segment_colors",
]

#: Colour of no-data pixels (negative labels); it is not in the cluster palette.
NODATA_COLOR = "#e6e6e6"

# More traversal panels than this are unreadable; pass dims= to choose.
_MAX_TRAVERSAL_DIMS = 16


def _check_cube(cube, name="cube"):
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise ValueError(
            f"{name} must be an array of shape (H, W, n_bands), but it has shape {cube.shape} "
            f"({cube.ndim}-D); reshape flat pixels with X.reshape(H, W, -1)."
        )
    if not np.issubdtype(cube.dtype, np.number) or np.iscomplexobj(cube):
        raise ValueError(f"{name} must hold real numbers, but its dtype is {cube.dtype}.")
    return cube


def _check_same_shape(cube, other, name):
    other = _check_cube(other, name)
    if other.shape != cube.shape:
        raise ValueError(
            f"{name} has shape {other.shape}, but cube has shape {cube.shape}; "
            f"pass arrays of the same (H, W, n_bands) shape."
        )
    return other


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_int(value, name, minimum):
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, but got {value!r}.")
    return int(value)


def _check_wavelengths(wavelengths, n_bands):
    if wavelengths is None:
        return None
    wavelengths = np.asarray(wavelengths, dtype=float)
    if wavelengths.shape != (n_bands,) or not np.all(np.isfinite(wavelengths)):
        raise ValueError(
            f"wavelengths must be a 1-D array of finite values, one value per band ({n_bands}), "
            f"but it has shape {wavelengths.shape}; pass wavelengths=None to use the band index."
        )
    return wavelengths


def _spectral_axis(wavelengths, n_bands, units):
    """x values and x label of a spectral plot."""
    if wavelengths is None:
        return np.arange(n_bands), "Band index"
    return wavelengths, f"Wavelength ({units})" if units else "Wavelength"


def _with_gaps(x, *ys):
    """Insert NaN where the band spacing jumps (removed bands), so lines break there.

    Scenes often drop water-absorption bands; a line drawn straight across
    such a gap would show data that was never measured.
    """
    x = np.asarray(x, dtype=float)
    step = np.diff(x)
    if len(step) < 3:
        return (x, *ys)
    cut = np.flatnonzero(step > 2.5 * np.median(step)) + 1
    if not len(cut):
        return (x, *ys)
    return (np.insert(x, cut, np.nan), *(np.insert(np.asarray(y, dtype=float), cut, np.nan) for y in ys))


def _check_names(names, n_clusters, what):
    if names is None:
        return [f"Cluster {k + 1}" for k in range(n_clusters)]
    names = [str(n) for n in names]
    if len(names) < n_clusters:
        raise ValueError(
            f"names has {len(names)} entries, but {what} has {n_clusters} clusters; "
            f"pass one name per cluster."
        )
    return names


def _new_axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(layout="constrained")[1]


def _robust_limits(values, low=2, high=98):
    """Percentile colour limits that ignore NaNs and survive constant or empty data."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    vmin, vmax = np.percentile(finite, [low, high])
    if vmax <= vmin:  # nearly constant image: fall back to the full range
        vmin, vmax = finite.min(), finite.max()
    return float(vmin), float(vmax)


def _extend(values, vmin, vmax):
    """Colour bar ``extend=`` showing whether the limits clip the data."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    below = finite.size > 0 and finite.min() < vmin
    above = finite.size > 0 and finite.max() > vmax
    return {(0, 0): "neither", (1, 0): "min", (0, 1): "max", (1, 1): "both"}[(below, above)]


def _label_image_axes(ax, ylabel=True):
    ax.set_xlabel("Column (pixel)")
    if ylabel:
        ax.set_ylabel("Row (pixel)")


def _suptitle(fig, title, detail):
    """Figure title and detail, on one line when the figure is wide enough."""
    width = max(20, int(fig.get_figwidth() / 0.09))  # ~0.09 inch per character
    one_line = f"{title}: {detail}"
    return fig.suptitle(
        one_line if len(one_line) <= width else f"{title}\n" + textwrap.fill(detail, width)
    )


def _outside_legend(ax, handles=None, n_entries=1):
    """Legend to the right of the axes, so it never covers data."""
    kwargs = dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  ncols=max(1, math.ceil(n_entries / 18)))
    return ax.legend(**kwargs) if handles is None else ax.legend(handles=handles, **kwargs)


def _grid_shape(n_panels, max_cols):
    """Rows and columns for n panels: a roughly 3:2 landscape grid with few empty cells."""
    nrows = max(1, round(math.sqrt(n_panels / 1.6)))
    ncols = min(max_cols, math.ceil(n_panels / nrows))
    return math.ceil(n_panels / ncols), ncols


def segment_colors(n_clusters):
    """Colours of clusters ``0 .. n_clusters-1``, the same in every hsiae plot.

    The palette is a fixed sequence: matplotlib's "tab10", then the light shades
    of "tab20", then "tab20b" and "tab20c" shade by shade, without the greys
    close to the no-data colour. Cluster ``k`` therefore keeps its colour
    whatever ``n_clusters`` is. Beyond 55 clusters the extra colours are evenly
    spread hues, which people can no longer tell apart.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.

    Returns
    -------
    colors : ndarray of shape (n_clusters, 4)
        RGBA colours in [0, 1]; row ``k`` is the colour of cluster ``k``.

    See Also
    --------
    plot_segment_map, plot_cluster_spectra

    Examples
    --------
    >>> from hsiae.plotting import segment_colors
    >>> segment_colors(3).shape
    (3, 4)
    """
    from matplotlib import colormaps
    from matplotlib.colors import hsv_to_rgb, to_rgba_array

    n_clusters = _check_int(n_clusters, "n_clusters", 0)
    tab20 = colormaps["tab20"].colors
    tab20b = colormaps["tab20b"].colors  # 5 hues x 4 shades
    tab20c = colormaps["tab20c"].colors[:16]  # 4 hues x 4 shades; its last 4 are greys
    palette = list(colormaps["tab10"].colors)
    palette += [tab20[i] for i in range(1, 20, 2) if i != 15]  # 15 is light grey
    palette += [tab20b[hue * 4 + shade] for shade in range(4) for hue in range(5)]
    palette += [tab20c[hue * 4 + shade] for shade in range(4) for hue in range(4)]
    palette = to_rgba_array(palette)
    n_extra = max(0, n_clusters - len(palette))
    hues = (np.arange(n_extra) * 0.618033988749895) % 1.0  # golden-ratio steps
    extra = hsv_to_rgb(np.column_stack([hues, np.full(n_extra, 0.65), np.full(n_extra, 0.85)]))
    return np.vstack([palette, to_rgba_array(extra)])[:n_clusters]


def _history_series(history):
    """Dict of float arrays and the best epoch (or None) from either history layout."""
    if isinstance(history, Mapping):
        columns, best = dict(history), history.get("best_epoch")
    elif isinstance(history, (list, tuple)) and all(isinstance(r, Mapping) for r in history):
        columns, best = {}, None
        for key in ("epoch", "train_loss", "valid_loss"):
            if any(key in row for row in history):
                columns[key] = [row.get(key, np.nan) for row in history]
    else:
        raise ValueError(
            "history must be a dict of 1-D arrays (keys 'epoch', 'train_loss', optionally "
            "'valid_loss') or a list with one such dict per epoch (like skorch's History), "
            f"but got {type(history).__name__}."
        )
    missing = [key for key in ("epoch", "train_loss") if key not in columns]
    if missing:
        raise ValueError(
            f"history lacks the key(s) {missing}; it has {sorted(columns)}. Pass 'epoch' and "
            f"'train_loss' (and optionally 'valid_loss')."
        )
    series = {k: np.asarray(columns[k], dtype=float).ravel()
              for k in ("epoch", "train_loss", "valid_loss") if k in columns}
    if series["epoch"].size == 0:
        raise ValueError("history is empty; train for at least one epoch before plotting.")
    for key, values in series.items():
        if values.size != series["epoch"].size:
            raise ValueError(
                f"history['{key}'] has {values.size} values but history['epoch'] has "
                f"{series['epoch'].size}; pass one value per epoch."
            )
    return series, best


def plot_loss_curves(history, *, log=False, best_epoch=None, ax=None):
    """Plot training and validation loss against the epoch.

    Parameters
    ----------
    history : dict or list of dict
        A dict of 1-D arrays with keys ``"epoch"``, ``"train_loss"``, optionally
        ``"valid_loss"`` and a scalar ``"best_epoch"``; or a list of per-epoch
        dicts with those keys (the layout of skorch's ``History``).
    log : bool, default=False
        Use a logarithmic y axis; all losses must then be positive.
    best_epoch : int, default=None
        Epoch whose weights were restored (e.g. by early stopping), marked by a
        vertical dashed line. Overrides ``history["best_epoch"]``.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is created when None.

    Returns
    -------
    ax : matplotlib Axes
        One line for the training loss, then one for the validation loss and one
        for the best epoch when given.
    """
    from matplotlib.ticker import MaxNLocator

    series, history_best = _history_series(history)
    epoch = series["epoch"]
    best_epoch = history_best if best_epoch is None else best_epoch
    if best_epoch is not None:
        best_epoch = float(np.asarray(best_epoch))
        if not epoch.min() <= best_epoch <= epoch.max():
            raise ValueError(
                f"best_epoch={best_epoch:g} is outside the epochs in history "
                f"({epoch.min():g} to {epoch.max():g}); pass an epoch that was trained."
            )
    losses = np.concatenate([series[k] for k in ("train_loss", "valid_loss") if k in series])
    losses = losses[np.isfinite(losses)]
    if log and losses.size and losses.min() <= 0:
        raise ValueError(
            f"log=True needs positive losses, but the smallest loss is {losses.min():g}; "
            f"use log=False."
        )

    ax = _new_axes(ax)
    ax.plot(epoch, series["train_loss"], color="C0", marker="o", markersize=3, label="Training")
    if "valid_loss" in series:
        ax.plot(epoch, series["valid_loss"], color="C1", marker="s", markersize=3,
                label="Validation")
    if best_epoch is not None:
        ax.axvline(best_epoch, color="0.3", linestyle="--", linewidth=1,
                   label=f"Best epoch ({best_epoch:g})")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss (log scale)" if log else "Loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Loss curves")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return ax


def plot_band_image(cube, reconstruction=None, *, band=None, wavelength=None, wavelengths=None,
                    wavelength_units="nm", cmap="viridis", value_label="Value", axes=None):
    """Show one band of a cube, of its reconstruction and their difference.

    Input and reconstruction share colour limits, the 2nd and 98th percentiles
    of the input band, so the reconstruction is seen on the input's scale (a
    biased reconstruction shows as saturated). The difference, reconstruction
    minus input, uses a diverging colour map centred at 0.

    Parameters
    ----------
    cube : array-like of shape (H, W, n_bands)
        Input cube.
    reconstruction : array-like of shape (H, W, n_bands), default=None
        Reconstructed (e.g. denoised) cube; when given, three panels are drawn.
    band : int, default=None
        Band index to show; the middle band when ``band`` and ``wavelength`` are
        both None.
    wavelength : float, default=None
        Show the band whose centre is nearest; needs ``wavelengths``.
    wavelengths : array-like of shape (n_bands,), default=None
        Band centres, shown in the titles.
    wavelength_units : str, default="nm"
        Unit of ``wavelengths``.
    cmap : str or Colormap, default="viridis"
        Colour map of the input and reconstruction panels.
    value_label : str, default="Value"
        Label of the colour bar, e.g. ``"Reflectance"``.
    axes : sequence of matplotlib Axes, default=None
        One Axes (no reconstruction) or three; a new figure is created when None.

    Returns
    -------
    fig : matplotlib Figure
        The figure holding the panels.
    """
    cube = _check_cube(cube)
    n_bands = cube.shape[2]
    if reconstruction is not None:
        reconstruction = _check_same_shape(cube, reconstruction, "reconstruction")
    wavelengths = _check_wavelengths(wavelengths, n_bands)
    if band is not None and wavelength is not None:
        raise ValueError("pass either band= or wavelength=, not both.")
    if wavelength is not None:
        if wavelengths is None:
            raise ValueError(
                "wavelength= needs the band centres; pass wavelengths= too, or pick the band "
                "by index with band=."
            )
        band = int(np.argmin(np.abs(wavelengths - float(wavelength))))
    band = n_bands // 2 if band is None else band
    if not _is_int(band):
        raise ValueError(f"band must be an integer band index, but got {band!r}.")
    if not 0 <= band < n_bands:
        raise ValueError(
            f"band={band} is out of range; the cube has {n_bands} bands (0 to {n_bands - 1})."
        )

    n_panels, shrink = (1 if reconstruction is None else 3), 1.0
    if axes is None:
        import matplotlib.pyplot as plt

        # Fit the figure to the image aspect so colour bars are as tall as the images.
        image_h = min(max(3.0 * cube.shape[0] / cube.shape[1], 1.5), 6.0)
        shrink = min(1.0, 3.0 * cube.shape[0] / cube.shape[1] / image_h)  # very wide images
        figsize = (3.0 * n_panels + (n_panels + 1) / 2 + 0.6, image_h + 0.9)
        fig, axes = plt.subplots(1, n_panels, layout="constrained", figsize=figsize,
                                 sharex=True, sharey=True, squeeze=False)
    elif np.size(axes) != n_panels:
        raise ValueError(
            f"axes has {np.size(axes)} Axes but this plot needs {n_panels} "
            f"({'input' if n_panels == 1 else 'input, reconstruction, difference'})."
        )
    axes = list(np.ravel(axes))
    fig = axes[0].figure

    where = f"band {band}"
    if wavelengths is not None:
        where += f" ({wavelengths[band]:.4g}{' ' + wavelength_units if wavelength_units else ''})"
    shown = [cube[:, :, band].astype(float)]
    if reconstruction is not None:
        shown.append(reconstruction[:, :, band].astype(float))
    vmin, vmax = _robust_limits(shown[0])
    for ax, image, name in zip(axes, shown, ["Input", "Reconstruction"]):
        im = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(f"{name}, {where}")
        _label_image_axes(ax, ylabel=ax is axes[0])
    fig.colorbar(im, ax=axes[:2], label=value_label, shrink=shrink,
                 extend=_extend(np.concatenate(shown, axis=None), vmin, vmax))
    if reconstruction is not None:
        diff = shown[1] - shown[0]
        high = _robust_limits(np.abs(diff), 0, 98)[1] or 1.0
        im = axes[2].imshow(diff, cmap="RdBu_r", vmin=-high, vmax=high)
        axes[2].set_title(f"Difference, {where}")
        _label_image_axes(axes[2], ylabel=False)
        fig.colorbar(im, ax=axes[2], label="Reconstruction \u2212 input", shrink=shrink,
                     extend=_extend(diff, -high, high))
    return fig


def plot_spectrum(cube, reconstruction=None, *, pixel, others=None, wavelengths=None,
                  wavelength_units="nm", value_label="Value", ax=None):
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
    if not (isinstance(pixel, (tuple, list, np.ndarray)) and len(pixel) == 2
            and all(_is_int(i) for i in pixel)):
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
        ax.plot(*_with_gaps(x, other[row, col]), color=f"C{(i + 2) % 10}", linewidth=0.9,
                alpha=0.75, label=label, zorder=2)
    if reconstruction is not None:
        ax.plot(*_with_gaps(x, reconstruction[row, col]), color="C3", linewidth=1.6,
                linestyle="--", label="Reconstruction", zorder=4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(value_label)
    ax.set_title(f"Spectrum of pixel (row {row}, col {col})")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return ax


def _spectral_angle(a, b):
    """Angle in radians between the last-axis vectors of a and b.

    Kahan's ``2 atan2(|u - v|, |u + v|)`` on unit vectors stays accurate for small
    angles, where ``arccos`` of the cosine loses half the digits. A zero vector
    has unit vector 0, which gives 0 for two zero spectra and pi/2 for a zero
    against a non-zero spectrum: finite in every case.
    """
    unit = []
    for v in (a, b):
        v = np.asarray(v, dtype=np.float64)
        norm = np.linalg.norm(v, axis=-1, keepdims=True)
        unit.append(np.divide(v, norm, out=np.zeros_like(v), where=norm > 0))
    return 2.0 * np.arctan2(np.linalg.norm(unit[0] - unit[1], axis=-1),
                            np.linalg.norm(unit[0] + unit[1], axis=-1))


def plot_reconstruction_error(cube, reconstruction, *, metric="rmse", cmap="magma", ax=None):
    """Map the reconstruction error of every pixel.

    Parameters
    ----------
    cube : array-like of shape (H, W, n_bands)
        Input cube.
    reconstruction : array-like of shape (H, W, n_bands)
        Reconstructed cube.
    metric : {"rmse", "sam"}, default="rmse"
        ``"rmse"``: root mean squared error over the bands, in the data's units.
        ``"sam"``: spectral angle between input and reconstruction in degrees
        (easier to read than radians); it ignores brightness, only shape counts.
    cmap : str or Colormap, default="magma"
        Sequential colour map.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is created when None.

    Returns
    -------
    ax : matplotlib Axes
        The Axes; ``ax.images[0].get_array()`` holds the error map.

    Notes
    -----
    The colour scale ends at the 99th percentile so that a few bad pixels do not
    flatten the map; the colour bar shows an arrow when values go beyond it.
    The spectral angle is 0 between two all-zero spectra and 90 degrees between
    an all-zero and a non-zero spectrum.
    """
    cube = _check_cube(cube)
    reconstruction = _check_same_shape(cube, reconstruction, "reconstruction")
    if metric == "rmse":
        diff = reconstruction.astype(np.float64) - cube.astype(np.float64)
        error = np.sqrt(np.mean(diff**2, axis=-1))
        label, name, unit = "RMSE (data units)", "RMSE", ""
    elif metric == "sam":
        error = np.degrees(_spectral_angle(cube, reconstruction))
        label, name, unit = "Spectral angle (degrees)", "spectral angle", "\u00b0"
    else:
        raise ValueError(f"metric must be 'rmse' or 'sam', but got {metric!r}.")

    finite = error[np.isfinite(error)]
    vmax = float(np.percentile(finite, 99)) if finite.size else 0.0
    vmax = vmax or (float(finite.max()) if finite.size else 0.0) or 1.0
    ax = _new_axes(ax)
    im = ax.imshow(error, cmap=cmap, vmin=0.0, vmax=vmax)
    mean = f"{np.mean(finite):.3g}{unit}" if finite.size else "n/a"
    ax.set_title(f"Reconstruction error: {name} (mean {mean})")
    _label_image_axes(ax)
    ax.figure.colorbar(im, ax=ax, label=label, extend=_extend(error, 0.0, vmax))
    return ax


def _check_labels(labels):
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(
            f"labels must be an array of shape (H, W), but it has shape {labels.shape}; "
            f"reshape flat labels with labels.reshape(H, W)."
        )
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"labels must hold integers, but its dtype is {labels.dtype}.")
    if not np.issubdtype(labels.dtype, np.integer):
        finite = np.isfinite(labels)
        if np.any(labels[finite] != np.round(labels[finite])):
            raise ValueError(
                "labels must hold integer cluster ids (negative = no-data), but it has "
                "non-integer values; pass the output of predict or labels_."
            )
        labels = np.where(finite, labels, -1).astype(np.int64)  # NaN means no-data
    return labels


def plot_segment_map(labels, *, names=None, ax=None, legend=True):
    """Show a segment map with one fixed colour per cluster.

    Parameters
    ----------
    labels : array-like of shape (H, W)
        Cluster ids ``0 .. k-1``; negative values (or NaN) mark no-data pixels,
        shown in light grey.
    names : sequence of str, default=None
        Names of clusters ``0 .. k-1``; "Cluster 1" .. "Cluster k" when None.
        When given, ``len(names)`` sets ``k``, so clusters absent from the map
        keep their colour and legend entry.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is created when None.
    legend : bool, default=True
        Draw a legend right of the map naming the clusters, and "no data" when
        there are no-data pixels.

    Returns
    -------
    ax : matplotlib Axes
        The Axes; ``ax.images[0].get_array()`` is the label map with no-data
        masked.

    See Also
    --------
    segment_colors : the colours used for clusters.
    plot_cluster_spectra : cluster spectra in the same colours.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    labels = _check_labels(labels)
    n_clusters = max(int(labels.max()) + 1, 0) if labels.size else 0
    names = _check_names(names, n_clusters, "labels")
    n_clusters = len(names)
    colors = segment_colors(max(n_clusters, 1))
    cmap = ListedColormap(colors, name="hsiae_segments").with_extremes(bad=NODATA_COLOR)
    norm = BoundaryNorm(np.arange(len(colors) + 1) - 0.5, len(colors))
    nodata = labels < 0

    ax = _new_axes(ax)
    # "nearest": resampling must never blend label ids into other clusters' colours.
    ax.imshow(np.ma.masked_array(labels, mask=nodata), cmap=cmap, norm=norm,
              interpolation="nearest")
    ax.set_title(f"Segment map ({n_clusters} cluster{'s' if n_clusters != 1 else ''})")
    _label_image_axes(ax)
    if legend:
        handles = [Patch(facecolor=colors[k], label=names[k]) for k in range(n_clusters)]
        if nodata.any():
            handles.append(Patch(facecolor=NODATA_COLOR, edgecolor="0.6", label="no data"))
        if handles:
            _outside_legend(ax, handles, n_entries=len(handles))
    return ax


def plot_cluster_spectra(spectra, *, wavelengths=None, wavelength_units="nm", names=None,
                         spread=None, value_label="Value", ax=None):
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
            raise ValueError(
                "spread must be non-negative: it is a half-width, e.g. a standard deviation."
            )

    x, xlabel = _spectral_axis(wavelengths, n_bands, wavelength_units)
    colors = segment_colors(n_clusters)
    ax = _new_axes(ax)
    for k in range(n_clusters):
        ax.plot(*_with_gaps(x, spectra[k]), color=colors[k], linewidth=1.6, label=names[k])
        if spread is not None:
            ax.fill_between(*_with_gaps(x, spectra[k] - spread[k], spectra[k] + spread[k]),
                            color=colors[k], alpha=0.2, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(value_label)
    ax.set_title("Cluster spectra" + (" (shaded: \u00b1 spread)" if spread is not None else ""))
    ax.grid(True, alpha=0.3)
    if n_clusters:
        _outside_legend(ax, n_entries=n_clusters)
    return ax


def plot_latent_maps(latent, *, ncols=None, cmap="viridis", fig=None):
    """Show each latent dimension as an image.

    Each panel has its own robust colour scale (2nd to 98th percentile) and its
    own colour bar: latent dimensions differ in scale by orders of magnitude
    (some collapse to nearly constant values), so a shared scale would flatten
    the quiet dimensions and hide their spatial structure.

    Parameters
    ----------
    latent : array-like of shape (H, W, n_latent)
        Latent code of every pixel, e.g. ``encoder.transform(X).reshape(H, W, -1)``.
    ncols : int, default=None
        Number of panel columns; chosen from ``n_latent`` when None (at most 8).
    cmap : str or Colormap, default="viridis"
        Sequential colour map.
    fig : matplotlib Figure, default=None
        Empty figure to draw in; a new one is created when None.

    Returns
    -------
    fig : matplotlib Figure
        Its image Axes are titled "z0" .. "z{n_latent-1}" ("(constant)" is
        appended for a constant dimension); unused grid cells are hidden.
    """
    from matplotlib.ticker import MaxNLocator

    latent = np.asarray(latent)
    if latent.ndim != 3 or latent.shape[2] == 0:
        raise ValueError(
            f"latent must have shape (H, W, n_latent) with n_latent >= 1, but it has shape "
            f"{latent.shape}; reshape the output of transform with Z.reshape(H, W, -1)."
        )
    height, width, n_latent = latent.shape
    if ncols is None:
        nrows, ncols = _grid_shape(n_latent, max_cols=8)
    else:
        ncols = min(_check_int(ncols, "ncols", 1), n_latent)
        nrows = math.ceil(n_latent / ncols)
    small = ncols > 4
    if fig is None:
        import matplotlib.pyplot as plt

        panel_w = 2.6 if small else 3.2
        panel_h = min(max(panel_w * 0.8 * height / width, 1.2), 4.0) + 0.35
        fig = plt.figure(layout="constrained",
                         figsize=(max(panel_w * ncols, 4.5), panel_h * nrows + 0.3))
    for d, ax in enumerate(fig.subplots(nrows, ncols, squeeze=False).ravel()):
        if d >= n_latent:
            ax.set_axis_off()
            continue
        image = latent[:, :, d].astype(float)
        vmin, vmax = _robust_limits(image)
        im = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        constant = not np.nanmax(image) > np.nanmin(image) if np.isfinite(image).any() else True
        ax.set_title(f"z{d}" + (" (constant)" if constant else ""), fontsize=9 if small else None)
        ax.set_xticks([])
        ax.set_yticks([])
        cbar = fig.colorbar(im, ax=ax, shrink=0.9, aspect=15 if small else 20,
                            extend=_extend(image, vmin, vmax))
        cbar.ax.yaxis.set_major_locator(MaxNLocator(nbins=3 if small else 5))
        if small:
            cbar.ax.tick_params(labelsize=7)
    _suptitle(fig, "Latent maps", "each with its own 2nd\u201398th percentile colour scale")
    return fig


def _check_dims(dims, n_latent):
    if dims is None:
        if n_latent > _MAX_TRAVERSAL_DIMS:
            warnings.warn(
                f"latent has {n_latent} dimensions; showing the first {_MAX_TRAVERSAL_DIMS}. "
                f"Pass dims=[...] to choose which to sweep.", UserWarning, stacklevel=3,
            )
        return list(range(min(n_latent, _MAX_TRAVERSAL_DIMS)))
    dims = list(np.atleast_1d(dims))
    if not dims:
        raise ValueError("dims is empty; pass at least one latent dimension.")
    for d in dims:
        if not _is_int(d) or not 0 <= d < n_latent:
            raise ValueError(
                f"dims contains {d}, but latent has {n_latent} dimensions; pass integers "
                f"from 0 to {n_latent - 1}."
            )
    if len(set(dims)) != len(dims):
        raise ValueError(f"dims contains repeated dimensions: {dims}.")
    return [int(d) for d in dims]


def plot_latent_traversal(decode, latent, *, n_steps=7, dims=None, quantiles=(0.02, 0.98),
                          wavelengths=None, wavelength_units="nm", cmap="viridis",
                          value_label="Value", fig=None):
    """Decode sweeps along each latent dimension, holding the others at the median.

    For each latent dimension ``d`` the codes are the median code of ``latent``
    with ``z_d`` swept linearly from its ``quantiles[0]`` to its
    ``quantiles[1]`` quantile in ``n_steps`` steps. ``decode`` turns these
    codes into spectra, drawn in one panel per dimension and coloured by the
    value of ``z_d``. Panels share the y axis, so a dimension that does not
    change the spectrum shows as a single thin bundle.

    Parameters
    ----------
    decode : callable
        ``decode(Z) -> spectra`` maps an ndarray of shape ``(n_steps, n_latent)``
        (with ``latent``'s float dtype) to an array of shape
        ``(n_steps, n_bands)``, e.g. ``pipe[:-1].inverse_transform``.
    latent : array-like of shape (n_samples, n_latent) or (H, W, n_latent)
        Latent codes of the data, used for the median and the quantiles.
    n_steps : int, default=7
        Number of decoded spectra per dimension (>= 2).
    dims : sequence of int, default=None
        Dimensions to sweep; all when None, but at most the first 16 (with a
        warning).
    quantiles : tuple of (float, float), default=(0.02, 0.98)
        Quantiles of each dimension where the sweep starts and ends.
    wavelengths : array-like of shape (n_bands,), default=None
        Band centres for the x axis; the band index when None.
    wavelength_units : str, default="nm"
        Unit of ``wavelengths``.
    cmap : str or Colormap, default="viridis"
        Sequential colour map for the value of ``z_d``.
    value_label : str, default="Value"
        Label of the y axis, e.g. ``"Reflectance"``.
    fig : matplotlib Figure, default=None
        Empty figure to draw in; a new one is created when None.

    Returns
    -------
    fig : matplotlib Figure
        One panel per swept dimension, titled "z{d}", with ``n_steps`` lines and
        a colour bar of the z value.
    """
    import matplotlib.cm as mcm
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    if not callable(decode):
        raise ValueError(
            "decode must be a callable mapping codes to spectra (e.g. "
            f"pipe[:-1].inverse_transform), but got {type(decode).__name__}."
        )
    latent = np.asarray(latent)
    latent = latent.reshape(-1, latent.shape[-1]) if latent.ndim == 3 else latent
    if latent.ndim != 2 or 0 in latent.shape:
        raise ValueError(
            "latent must have shape (n_samples, n_latent) or (H, W, n_latent) with at least "
            f"one sample and one dimension, but it has shape {latent.shape}."
        )
    if not np.issubdtype(latent.dtype, np.floating):
        latent = latent.astype(np.float64)
    n_steps = _check_int(n_steps, "n_steps", 2)
    try:
        q_low, q_high = (float(q) for q in quantiles)
    except (TypeError, ValueError):
        q_low = q_high = np.nan
    if not 0.0 <= q_low < q_high <= 1.0:
        raise ValueError(
            f"quantiles must satisfy 0 <= low < high <= 1, but got {quantiles!r}; "
            f"e.g. quantiles=(0.02, 0.98)."
        )
    dims = _check_dims(dims, latent.shape[1])

    median = np.median(latent, axis=0)
    lows, highs = np.quantile(latent, [q_low, q_high], axis=0)
    sweeps, spectra = [], []
    for d in dims:
        codes = np.tile(median, (n_steps, 1)).astype(latent.dtype)
        codes[:, d] = np.linspace(lows[d], highs[d], n_steps)
        decoded = np.asarray(decode(codes), dtype=float)
        expected = f"({n_steps}, {spectra[0].shape[1] if spectra else 'n_bands'})"
        if decoded.ndim != 2 or decoded.shape[0] != n_steps or (
                spectra and decoded.shape != spectra[0].shape):
            raise ValueError(
                f"decode returned shape {decoded.shape} for codes of shape {codes.shape}; it "
                f"must return one spectrum per code, shape {expected}, the same for every call."
            )
        sweeps.append(codes[:, d].astype(float))
        spectra.append(decoded)
    n_bands = spectra[0].shape[1]
    x, xlabel = _spectral_axis(_check_wavelengths(wavelengths, n_bands), n_bands,
                               wavelength_units)

    nrows, ncols = _grid_shape(len(dims), max_cols=4)
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(layout="constrained",
                         figsize=(max(3.6 * ncols, 5.0), 2.7 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    cmap = colormaps[cmap] if isinstance(cmap, str) else cmap
    for i, ax in enumerate(axes):
        if i >= len(dims):
            ax.set_axis_off()
            continue
        d, values = dims[i], sweeps[i]
        low, high = values[0], values[-1]
        # A collapsed dimension has low == high: widen so the colour bar can be drawn.
        norm = Normalize(vmin=low, vmax=high) if high > low else Normalize(low - 0.5, high + 0.5)
        for value, spectrum in zip(values, spectra[i]):
            ax.plot(*_with_gaps(x, spectrum), color=cmap(norm(value)), linewidth=1.2)
        ax.set_title(f"z{d}" + (" (constant)" if high == low else ""))
        ax.grid(True, alpha=0.3)
        if i % ncols == 0:
            ax.set_ylabel(value_label)
        if i + ncols >= len(dims):  # nothing below this panel
            ax.set_xlabel(xlabel)
            ax.xaxis.set_tick_params(labelbottom=True)
        cbar = fig.colorbar(mcm.ScalarMappable(norm=norm, cmap=cmap), ax=ax)
        # Named above the bar, not beside it, where it would read as the next panel's y label.
        cbar.ax.set_title(f"z{d}", fontsize="small")
        cbar.ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    _suptitle(fig, "Latent traversal",
              f"each z swept from its {q_low:.0%} to {q_high:.0%} quantile, others at their median")
    return fig

"""Input checks, axes and legend helpers and the segment colours shared by :mod:`hsiae.plotting`."""

import math
import textwrap

import numpy as np

#: Colour of no-data pixels (negative labels, NaN) in every image: white, far from every
#: cluster colour (none is grey, white or near it) and from the sequential colour maps of the
#: images (viridis, magma). Only the difference panel of plot_band_image, whose diverging map
#: is near white at 0, shows it close to a value.
NODATA_COLOR = "#ffffff"
#: How captions name :data:`NODATA_COLOR`.
NODATA_NAME = "white"

# Clusters 10.. after tab10's first nine: each the colour farthest (CIEDE2000) from those
# before it, from white (no data) and from black; made and measured by benchmarks/palette.py.
_GREEDY_COLORS = (
    "#005a4a",
    "#6b6300",
    "#00ffbd",
    "#0800ef",
    "#9cb5ff",
    "#8c0063",
    "#ffb5ad",
    "#a58c6b",
    "#4a4a6b",
    "#a5bd9c",
    "#7bff00",
    "#ffce8c",
    "#efcef7",
    "#106b00",
    "#528c7b",
    "#e60073",
    "#9c5a00",
    "#bd7b7b",
    "#00adf7",
    "#adefe6",
    "#ce9400",
    "#105263",
    "#9c0031",
    "#00bd9c",
    "#8c637b",
    "#848c3a",
    "#4a5aff",
    "#e600ff",
    "#8c2100",
    "#9c08bd",
    "#ff6b52",
    "#9c94bd",
    "#634a29",
    "#5a6b4a",
    "#9cdeff",
    "#004aa5",
    "#dee69c",
    "#008ca5",
    "#6bce73",
    "#c58cff",
    "#d65200",
    "#ffce00",
    "#7b84e6",
    "#ff638c",
    "#d69473",
    "#6b3a4a",
)


def _nodata_note(n_pixels):
    """Caption words for ``n_pixels`` no-data pixels ("" when there are none)."""
    if not n_pixels:
        return ""
    return f"{n_pixels} no-data pixel{'s' if n_pixels != 1 else ''} in {NODATA_NAME}"


def _with_nodata(cmap):
    """``cmap`` (a name or a Colormap) painting NaN and masked values in :data:`NODATA_COLOR`."""
    from matplotlib import colormaps

    cmap = colormaps[cmap] if isinstance(cmap, str) else cmap
    return cmap.with_extremes(bad=NODATA_COLOR)


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
    """X values and x label of a spectral plot."""
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
            f"names has {len(names)} entries, but {what} has {n_clusters} clusters; pass one name per cluster."
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
    return fig.suptitle(one_line if len(one_line) <= width else f"{title}\n" + textwrap.fill(detail, width))


def _outside_legend(ax, handles=None, n_entries=1):
    """Legend to the right of the axes, so it never covers data."""
    kwargs = dict(
        loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, ncols=max(1, math.ceil(n_entries / 18))
    )
    return ax.legend(**kwargs) if handles is None else ax.legend(handles=handles, **kwargs)


def _grid_shape(n_panels, max_cols):
    """Rows and columns for n panels: a roughly 3:2 landscape grid with few empty cells."""
    nrows = max(1, round(math.sqrt(n_panels / 1.6)))
    ncols = min(max_cols, math.ceil(n_panels / nrows))
    return math.ceil(n_panels / ncols), ncols


def segment_colors(n_clusters):
    """Colours of clusters 0 to ``n_clusters - 1``, the same in every hsiae plot.

    The palette is a fixed sequence: matplotlib's "tab10" without its grey (a
    grey cluster would read as no data), then 46 colours each chosen as the
    one farthest, in CIEDE2000 colour difference, from all before it, from the
    no-data colour (white) and from black. Cluster ``k`` therefore keeps its
    colour whatever ``n_clusters`` is. Up to 55 clusters, any two colours
    differ by at least 13 (2 is just noticeable) and each differs from white
    by at least 19; beyond 55 the extra colours are evenly spread hues, which
    people can no longer tell apart.

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
    tab10 = list(colormaps["tab10"].colors)
    palette = to_rgba_array(tab10[:7] + tab10[8:] + list(_GREEDY_COLORS))  # 7 is grey
    n_extra = max(0, n_clusters - len(palette))
    hues = (np.arange(n_extra) * 0.618033988749895) % 1.0  # golden-ratio steps
    extra = hsv_to_rgb(np.column_stack([hues, np.full(n_extra, 0.65), np.full(n_extra, 0.85)]))
    return np.vstack([palette, to_rgba_array(extra)])[:n_clusters]

"""Input checks, axes and legend helpers and the segment colours shared by :mod:`hsiae.plotting`."""

import math
import textwrap

import numpy as np

#: Colour of no-data pixels (negative labels); it is not in the cluster palette.
NODATA_COLOR = "#e6e6e6"


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
    """Colours of clusters 0 to ``n_clusters - 1``, the same in every hsiae plot.

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

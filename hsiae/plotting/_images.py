"""Images of a cube: one band with its reconstruction, the reconstruction error, segment maps."""

import numpy as np

from hsiae.metrics import spectral_angles
from hsiae.plotting._common import (
    NODATA_COLOR,
    _check_cube,
    _check_names,
    _check_same_shape,
    _check_wavelengths,
    _extend,
    _is_int,
    _label_image_axes,
    _new_axes,
    _outside_legend,
    _robust_limits,
    _with_nodata,
    segment_colors,
)


def plot_band_image(
    cube,
    reconstruction=None,
    *,
    band=None,
    wavelength=None,
    wavelengths=None,
    wavelength_units="nm",
    cmap="viridis",
    value_label="Value",
    axes=None,
):
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
                "wavelength= needs the band centres; pass wavelengths= too, or pick the band by index with band=."
            )
        band = int(np.argmin(np.abs(wavelengths - float(wavelength))))
    band = n_bands // 2 if band is None else band
    if not _is_int(band):
        raise ValueError(f"band must be an integer band index, but got {band!r}.")
    if not 0 <= band < n_bands:
        raise ValueError(f"band={band} is out of range; the cube has {n_bands} bands (0 to {n_bands - 1}).")

    n_panels, shrink = (1 if reconstruction is None else 3), 1.0
    if axes is None:
        import matplotlib.pyplot as plt

        # Fit the figure to the image aspect so colour bars are as tall as the images.
        image_h = min(max(3.0 * cube.shape[0] / cube.shape[1], 1.5), 6.0)
        shrink = min(1.0, 3.0 * cube.shape[0] / cube.shape[1] / image_h)  # very wide images
        figsize = (3.0 * n_panels + (n_panels + 1) / 2 + 0.6, image_h + 0.9)
        fig, axes = plt.subplots(
            1, n_panels, layout="constrained", figsize=figsize, sharex=True, sharey=True, squeeze=False
        )
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
        im = ax.imshow(image, cmap=_with_nodata(cmap), vmin=vmin, vmax=vmax)
        ax.set_title(f"{name}, {where}")
        _label_image_axes(ax, ylabel=ax is axes[0])
    fig.colorbar(
        im, ax=axes[:2], label=value_label, shrink=shrink, extend=_extend(np.concatenate(shown, axis=None), vmin, vmax)
    )
    if reconstruction is not None:
        diff = shown[1] - shown[0]
        high = _robust_limits(np.abs(diff), 0, 98)[1] or 1.0
        im = axes[2].imshow(diff, cmap=_with_nodata("RdBu_r"), vmin=-high, vmax=high)
        axes[2].set_title(f"Difference, {where}")
        _label_image_axes(axes[2], ylabel=False)
        fig.colorbar(
            im, ax=axes[2], label="Reconstruction \u2212 input", shrink=shrink, extend=_extend(diff, -high, high)
        )
    return fig


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
        error = np.degrees(spectral_angles(cube, reconstruction))
        label, name, unit = "Spectral angle (degrees)", "spectral angle", "\u00b0"
    else:
        raise ValueError(f"metric must be 'rmse' or 'sam', but got {metric!r}.")

    finite = error[np.isfinite(error)]
    vmax = float(np.percentile(finite, 99)) if finite.size else 0.0
    vmax = vmax or (float(finite.max()) if finite.size else 0.0) or 1.0
    ax = _new_axes(ax)
    im = ax.imshow(error, cmap=_with_nodata(cmap), vmin=0.0, vmax=vmax)
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
        shown in :data:`NODATA_COLOR` (white), which no cluster colour is near.
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
    cmap = _with_nodata(ListedColormap(colors, name="hsiae_segments"))
    norm = BoundaryNorm(np.arange(len(colors) + 1) - 0.5, len(colors))
    nodata = labels < 0

    ax = _new_axes(ax)
    # "nearest": resampling must never blend label ids into other clusters' colours.
    ax.imshow(np.ma.masked_array(labels, mask=nodata), cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_title(f"Segment map ({n_clusters} cluster{'s' if n_clusters != 1 else ''})")
    _label_image_axes(ax)
    if legend:
        handles = [Patch(facecolor=colors[k], label=names[k]) for k in range(n_clusters)]
        if nodata.any():
            handles.append(Patch(facecolor=NODATA_COLOR, edgecolor="0.6", label="no data"))
        if handles:
            _outside_legend(ax, handles, n_entries=len(handles))
    return ax

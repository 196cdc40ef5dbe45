"""The latent code: one map per dimension, and decoded sweeps along each dimension."""

import math
import warnings

import numpy as np

from hsiae.plotting._common import (
    _check_int,
    _check_wavelengths,
    _extend,
    _grid_shape,
    _is_int,
    _nodata_note,
    _robust_limits,
    _spectral_axis,
    _suptitle,
    _with_gaps,
    _with_nodata,
)

# More traversal panels than this are unreadable; pass dims= to choose.
_MAX_TRAVERSAL_DIMS = 16


def plot_latent_maps(latent, *, ncols=None, cmap="viridis", fig=None):
    """Show each latent dimension as an image.

    Each panel has its own robust colour scale (2nd to 98th percentile) and its
    own colour bar: latent dimensions differ in scale by orders of magnitude
    (some collapse to nearly constant values), so a shared scale would flatten
    the quiet dimensions and hide their spatial structure.

    No-data pixels, NaN in ``latent``, are painted in :data:`NODATA_COLOR`
    (white) and counted in the title: a code computed for a stand-in spectrum
    would show as data.

    Parameters
    ----------
    latent : array-like of shape (H, W, n_latent)
        Latent code of every pixel, e.g. ``encoder.transform(X).reshape(H, W, -1)``;
        NaN for no-data pixels.
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
    cmap = _with_nodata(cmap)
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
        fig = plt.figure(layout="constrained", figsize=(max(panel_w * ncols, 4.5), panel_h * nrows + 0.3))
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
        cbar = fig.colorbar(im, ax=ax, shrink=0.9, aspect=15 if small else 20, extend=_extend(image, vmin, vmax))
        cbar.ax.yaxis.set_major_locator(MaxNLocator(nbins=3 if small else 5))
        if small:
            cbar.ax.tick_params(labelsize=7)
    nodata = _nodata_note(int(np.isnan(latent.astype(float)).any(axis=2).sum()))
    _suptitle(
        fig,
        "Latent maps",
        "each with its own 2nd\u201398th percentile colour scale" + (f"; {nodata}" if nodata else ""),
    )
    return fig


def _check_dims(dims, n_latent):
    if dims is None:
        if n_latent > _MAX_TRAVERSAL_DIMS:
            warnings.warn(
                f"latent has {n_latent} dimensions; showing the first {_MAX_TRAVERSAL_DIMS}. "
                f"Pass dims=[...] to choose which to sweep.",
                UserWarning,
                stacklevel=3,
            )
        return list(range(min(n_latent, _MAX_TRAVERSAL_DIMS)))
    dims = list(np.atleast_1d(dims))
    if not dims:
        raise ValueError("dims is empty; pass at least one latent dimension.")
    for d in dims:
        if not _is_int(d) or not 0 <= d < n_latent:
            raise ValueError(
                f"dims contains {d}, but latent has {n_latent} dimensions; pass integers from 0 to {n_latent - 1}."
            )
    if len(set(dims)) != len(dims):
        raise ValueError(f"dims contains repeated dimensions: {dims}.")
    return [int(d) for d in dims]


def plot_latent_traversal(
    decode,
    latent,
    *,
    n_steps=7,
    dims=None,
    quantiles=(0.02, 0.98),
    wavelengths=None,
    wavelength_units="nm",
    cmap="viridis",
    value_label="Value",
    fig=None,
):
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
            f"quantiles must satisfy 0 <= low < high <= 1, but got {quantiles!r}; e.g. quantiles=(0.02, 0.98)."
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
        if decoded.ndim != 2 or decoded.shape[0] != n_steps or (spectra and decoded.shape != spectra[0].shape):
            raise ValueError(
                f"decode returned shape {decoded.shape} for codes of shape {codes.shape}; it "
                f"must return one spectrum per code, shape {expected}, the same for every call."
            )
        sweeps.append(codes[:, d].astype(float))
        spectra.append(decoded)
    n_bands = spectra[0].shape[1]
    x, xlabel = _spectral_axis(_check_wavelengths(wavelengths, n_bands), n_bands, wavelength_units)

    nrows, ncols = _grid_shape(len(dims), max_cols=4)
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(layout="constrained", figsize=(max(3.6 * ncols, 5.0), 2.7 * nrows + 0.5))
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
    _suptitle(
        fig, "Latent traversal", f"each z swept from its {q_low:.0%} to {q_high:.0%} quantile, others at their median"
    )
    return fig

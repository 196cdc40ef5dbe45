"""Abundance maps of unmixing: one image per endmember on one shared 0..1 scale."""

import math

import numpy as np

from hsiae.plotting._common import _check_int, _grid_shape, _nodata_note, _suptitle, _with_nodata


def plot_abundance_maps(abundances, *, names=None, ncols=None, cmap="viridis", fig=None):
    """Show each endmember's abundance over the image, all on the same 0..1 colour scale.

    Abundances are shares of a pixel, so one scale for every map lets the
    eye compare them: a pixel bright in one map is dark in the others. Unlike
    :func:`plot_latent_maps`, no panel is rescaled to its own range.

    Parameters
    ----------
    abundances : array-like of shape (H, W, n_endmembers)
        Per-pixel abundances, e.g. ``unmixer.transform(X).reshape(H, W, -1)``;
        NaN marks no-data pixels, drawn in :data:`NODATA_COLOR`.
    names : list of str, default=None
        One per endmember; "Endmember 1" .. when None.
    ncols : int, default=None
        Panel columns; chosen from ``n_endmembers`` when None (at most 6).
    cmap : str or Colormap, default="viridis"
    fig : matplotlib Figure, default=None
        Empty figure to draw in; a new one is created when None.

    Returns
    -------
    fig : matplotlib Figure
        One image Axes per endmember, titled by its name, and one shared colour bar.
    """
    A = np.asarray(abundances, dtype=float)
    if A.ndim != 3 or A.shape[2] == 0:
        raise ValueError(
            f"abundances must have shape (H, W, n_endmembers) with n_endmembers >= 1, got shape "
            f"{A.shape}; reshape the output of transform with A.reshape(H, W, -1)."
        )
    height, width, k = A.shape
    if names is None:
        names = [f"Endmember {j + 1}" for j in range(k)]
    names = [str(n) for n in names]
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries but there are {k} endmembers; pass one name per endmember.")
    if ncols is None:
        nrows, ncols = _grid_shape(k, max_cols=6)
    else:
        ncols = min(_check_int(ncols, "ncols", 1), k)
        nrows = math.ceil(k / ncols)
    if fig is None:
        import matplotlib.pyplot as plt

        panel_h = min(max(3.0 * height / width, 1.2), 4.0) + 0.35
        fig = plt.figure(layout="constrained", figsize=(max(3.0 * ncols + 1.0, 4.5), panel_h * nrows + 0.4))
    colours = _with_nodata(cmap)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for j, ax in enumerate(axes):
        if j >= k:
            ax.set_axis_off()
            continue
        im = ax.imshow(A[:, :, j], cmap=colours, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(names[j])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes[:k]), shrink=0.85, label="abundance")
    nodata = _nodata_note(int(np.isnan(A).any(axis=2).sum()))
    _suptitle(fig, "Abundance maps", "one 0\u20131 scale for all" + (f"; {nodata}" if nodata else ""))
    return fig

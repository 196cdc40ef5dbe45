"""Loss curves of a training run."""

from collections.abc import Mapping

import numpy as np

from hsiae.plotting._common import _new_axes


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

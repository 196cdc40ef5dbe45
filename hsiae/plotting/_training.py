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
    series = {
        k: np.asarray(columns[k], dtype=float).ravel() for k in ("epoch", "train_loss", "valid_loss") if k in columns
    }
    if series["epoch"].size == 0:
        raise ValueError("history is empty; train for at least one epoch before plotting.")
    for key, values in series.items():
        if values.size != series["epoch"].size:
            raise ValueError(
                f"history['{key}'] has {values.size} values but history['epoch'] has "
                f"{series['epoch'].size}; pass one value per epoch."
            )
    return series, best


def _percent(change):
    """A relative change as text, with a true minus sign: "\u221240.7 %", "+0.3 %"."""
    text = f"{change:+.1%}".replace("%", " %")
    return text.replace("-", "\u2212")


def _summary(series, best_epoch):
    """First loss, the loss at the best (or last) epoch and the relative change between them."""
    which = "valid_loss" if "valid_loss" in series else "train_loss"
    values, epochs = series[which], series["epoch"]
    finite = np.isfinite(values)
    if not finite.any():
        return ""
    first = int(np.flatnonzero(finite)[0])
    end = int(np.flatnonzero(epochs == best_epoch)[0]) if best_epoch is not None else len(values) - 1
    v0, v1 = values[first], values[end]
    change = f" ({_percent((v1 - v0) / abs(v0))})" if v0 != 0 and np.isfinite(v1) else ""
    return (
        f"{'validation' if which == 'valid_loss' else 'training'} loss {v0:.3g} at epoch "
        f"{epochs[first]:g} \u2192 {v1:.3g} at {'best ' if best_epoch is not None else ''}"
        f"epoch {epochs[end]:g}{change}"
    )


def _honest_limits(ax, losses, log):
    """A y range that shows a change at its true size rather than filling the axes with it.

    Linear: from zero (or the lowest loss, if negative), so a 1 % change is
    1 % of the height. Log: at least one decade below the highest loss, so
    the same relative change always takes the same height, and a 1 % change
    less than half a percent of it.
    """
    if not losses.size:
        return
    low, high = float(losses.min()), float(losses.max())
    top = high + 0.05 * (high - min(low, 0.0)) if high > 0 else 0.0
    if log:
        top = high * 1.12
        ax.set_ylim(min(low / 1.12, top / 10), top)
    else:
        bottom = min(low, 0.0)
        bottom -= 0.05 * (top - bottom) if bottom < 0 else 0.0
        ax.set_ylim(bottom, top if top > bottom else bottom + 1.0)


def _plain_log_ticks(axis):
    """Log-axis ticks at 1, 2 and 5 times the powers of ten, written as plain numbers (0.005)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.6g}"))
    axis.set_minor_formatter(NullFormatter())


def plot_loss_curves(history, *, log=False, best_epoch=None, loss_label="Loss", ax=None):
    """Plot training and validation loss against the epoch, at their true scale.

    The y range does not zoom onto the curves, which would make a change of a
    fraction of a percent look dramatic: a linear axis starts at zero, a log
    axis spans at least a decade. The title says the change in numbers: the
    validation loss (or the training loss, without validation) at the first
    epoch, at the best epoch (or the last) and the relative change.

    Parameters
    ----------
    history : dict or list of dict
        A dict of 1-D arrays with keys ``"epoch"``, ``"train_loss"``, optionally
        ``"valid_loss"`` and a scalar ``"best_epoch"``; or a list of per-epoch
        dicts with those keys (the layout of skorch's ``History``).
    log : bool, default=False
        Use a logarithmic y axis, ticked at plain numbers (0.005, 0.01, 0.02);
        all losses must then be positive. Equal steps on it are equal relative
        changes, whatever the loss's size.
    best_epoch : int, default=None
        Epoch whose weights were restored (e.g. by early stopping), marked by a
        vertical dashed line and a star on the validation curve (the training
        curve without validation). Overrides ``history["best_epoch"]``.
    loss_label : str, default="Loss"
        The y axis label: what the loss is made of, e.g.
        ``"loss = MSE + 0.1 SAM + gradient"``.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is created when None.

    Returns
    -------
    ax : matplotlib Axes
        One line for the training loss, then one for the validation loss and one
        for the best epoch when given; the best epoch's star is
        ``ax.collections[0]``.
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
        raise ValueError(f"log=True needs positive losses, but the smallest loss is {losses.min():g}; use log=False.")

    ax = _new_axes(ax)
    ax.plot(epoch, series["train_loss"], color="C0", marker="o", markersize=3, label="Training")
    if "valid_loss" in series:
        ax.plot(epoch, series["valid_loss"], color="C1", marker="s", markersize=3, label="Validation")
    if best_epoch is not None:
        ax.axvline(best_epoch, color="0.3", linestyle="--", linewidth=1, label=f"Best epoch ({best_epoch:g})")
        curve = series["valid_loss"] if "valid_loss" in series else series["train_loss"]
        at = np.flatnonzero(epoch == best_epoch)
        if at.size and np.isfinite(curve[at[0]]):
            ax.scatter([best_epoch], [curve[at[0]]], marker="*", s=120, color="C3", zorder=3)
    if log:
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis)
    _honest_limits(ax, losses, log)
    ax.set_xlabel("Epoch")
    ax.set_ylabel(f"{loss_label} (log scale)" if log else loss_label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    summary = _summary(series, best_epoch)
    ax.set_title("Loss curves" + (f"\n{summary}" if summary else ""))
    ax.grid(True, alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.legend(loc="best")
    return ax

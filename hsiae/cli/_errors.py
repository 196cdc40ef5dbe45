"""The command line's errors, in its own words: the library's parameters spelled as options.

Library errors and warnings that name a parameter to change carry it as a
:class:`hsiae.exceptions.Param`; :func:`cli_spelling` names it as the option
that sets it (``max_epochs=20`` -> ``--epochs 20``), so no message text is
ever edited. This module imports nothing heavy.
"""

from hsiae.exceptions import ParameterMessage, library_spelling

__all__ = ["CLIError", "USER_ERRORS", "OPTIONS", "SETTINGS", "cli_spelling", "one_line"]


class CLIError(Exception):
    """An impossible option or command line; printed as one line, exit status 2."""


# Errors a user can fix: printed as one line without a traceback.
USER_ERRORS = (CLIError, OSError, ValueError, FloatingPointError)

# library parameter -> the option that sets it
OPTIONS = {
    "architecture": "--architecture",
    "band_axis": "--band-axis",
    "batch_size": "--batch-size",
    "chunks": "--chunks",
    "device": "--device",
    "latent_activation": "--latent-activation",
    "latent_l1": "--latent-l1",
    "lr": "--lr",
    "mask": "--mask",
    "max_epochs": "--epochs",
    "n_bands": "--bands",
    "n_clusters": "-k",
    "n_endmembers": "-p",
    "n_samples": "--sample-size",
    "nodata": "--nodata",
    "random_state": "--seed",
    "spatial_weight": "--spatial-weight",
    "validation_fraction": "--validation-fraction",
    "variable": "--variable",
    "zdims": "--zdims",
}
# (parameter, value) -> the option that sets that value
SETTINGS = {
    ("shrinkage", "wiener"): "--for denoising",
    ("shrinkage", None): "--for segmentation",
}


def cli_spelling(param):
    """A parameter as the command line sets it: ``--epochs``, ``--epochs 20``, ``--variable NAME``."""
    if param.has_value and (param.name, param.value) in SETTINGS:
        return SETTINGS[param.name, param.value]
    option = OPTIONS.get(param.name)
    if option is None:
        return library_spelling(param)
    if param.placeholder is not None:
        return f"{option} {param.placeholder}"
    if not param.has_value:
        return option
    value = param.value
    return f"{option} {value:g}" if isinstance(value, float) else f"{option} {value}"


def render(message):
    """The text of an exception or warning, with parameters spelled as options."""
    if isinstance(message, ParameterMessage):
        return message.render(cli_spelling)
    return str(message)


def one_line(exc):
    """An error's message on one line, in the command line's words."""
    text = " ".join(render(exc).split())
    return text or type(exc).__name__

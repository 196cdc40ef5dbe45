"""What marks an hsiae model file, in one place: the marker, the layout version, names and suffixes."""

from pathlib import PurePath

#: Value of the ``"format"`` key that marks an hsiae model file (both formats).
FORMAT_MARKER = "hsiae-model"
#: Version of the layout :func:`hsiae.save_model` writes; bump it on an incompatible change.
FORMAT_VERSION = 1
#: File extension of the safe format (JSON + weights in a zip archive).
SAFE_SUFFIX = ".hsiae"
#: File extensions of the pickle format.
PICKLE_SUFFIXES = (".joblib", ".pkl")
#: Members of a ``.hsiae`` archive.
JSON_MEMBER = "model.json"
WEIGHTS_MEMBER = "weights.pt"
ZIP_MAGIC = b"PK\x03\x04"


def model_format(path):
    """The format a model file's name picks: ``"hsiae"`` or ``"joblib"``.

    The extension, in any case, is :data:`SAFE_SUFFIX` for the safe format or
    one of :data:`PICKLE_SUFFIXES` for a joblib pickle. Any other name is
    refused: a pickle runs code when it is loaded, so a file is only ever
    unpickled when its name says it is a pickle, and a model is never written
    under a name another program takes for something else (``.tif``).

    Parameters
    ----------
    path : str or os.PathLike
        The model file's name.

    Returns
    -------
    format : {"hsiae", "joblib"}

    Raises
    ------
    ValueError
        If the extension is none of ``.hsiae``, ``.joblib`` and ``.pkl``.
    """
    name = PurePath(path)
    suffix = name.suffix.lower()
    if suffix == SAFE_SUFFIX:
        return "hsiae"
    if suffix in PICKLE_SUFFIXES:
        return "joblib"
    stem = name.stem or "model"
    raise ValueError(
        f"A model file's name must end in {SAFE_SUFFIX} (the safe format, for sharing) or "
        f"{' / '.join(PICKLE_SUFFIXES)} (a pickle, which runs code when it is loaded), got "
        f"'{path}'; name it {stem}{SAFE_SUFFIX}, or {stem}{PICKLE_SUFFIXES[0]} for a pickle."
    )


def newer_version_message(path, version, saved_by, what="model format"):
    """The error for a file written in a newer layout than this hsiae reads."""
    return (
        f"'{path}' was saved in {what} version {version} by a newer hsiae ({saved_by}), but this "
        f"hsiae reads versions up to {FORMAT_VERSION}; upgrade hsiae to load it."
    )

"""What marks an hsiae model file, in one place: the marker, the layout version, names and suffixes."""

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


def newer_version_message(path, version, saved_by, what="model format"):
    """The error for a file written in a newer layout than this hsiae reads."""
    return (
        f"'{path}' was saved in {what} version {version} by a newer hsiae ({saved_by}), but this "
        f"hsiae reads versions up to {FORMAT_VERSION}; upgrade hsiae to load it."
    )

"""Save and load fitted hsiae models (pipelines, unmixers): the safe ``.hsiae`` format and pickles.

:func:`save_model` and :func:`load_model` (in :mod:`hsiae.persistence._models`)
pick the format by the file name's extension; :mod:`hsiae.persistence._safe`
reads and writes the safe format; :mod:`hsiae.persistence._format` holds the
marker, version and names both formats share.
"""

from hsiae.persistence._format import (
    FORMAT_MARKER,
    FORMAT_VERSION,
    JSON_MEMBER,
    PICKLE_SUFFIXES,
    SAFE_SUFFIX,
    WEIGHTS_MEMBER,
    model_format,
)
from hsiae.persistence._models import (
    ModelInfo,
    ModelVersionWarning,
    PickleModelWarning,
    check_model_bands,
    load_model,
    save_model,
)

__all__ = [
    "FORMAT_MARKER",
    "FORMAT_VERSION",
    "JSON_MEMBER",
    "PICKLE_SUFFIXES",
    "SAFE_SUFFIX",
    "WEIGHTS_MEMBER",
    "ModelInfo",
    "ModelVersionWarning",
    "PickleModelWarning",
    "check_model_bands",
    "load_model",
    "model_format",
    "save_model",
]

"""Save and load fitted hsiae models: the encoder pipelines and the unmixer.

A model file holds one fitted model and metadata: the versions of hsiae,
torch, scikit-learn, skorch, numpy and Python that wrote it, the number of
input bands, their wavelengths (or None) and the creation time. The model is
one of

- a Pipeline of :class:`~hsiae.SpectralResampler` then
  :class:`~hsiae.AEDEncoder`, optionally followed by
  :class:`~hsiae.SpatialGMMSegmenter` (segmentation and denoising);
- a Pipeline of :class:`~hsiae.SpectralResampler` then
  :class:`~hsiae.AEUnmixer`, or an :class:`~hsiae.AEUnmixer` alone
  (unmixing).

:func:`load_model` gives back the same kind of object that was saved, with
its metadata: ``model, info = load_model(path)``. The file name's extension
picks one of two formats:

``.hsiae`` (safe, recommended for sharing)
    A zip archive of plain JSON (parameters, fitted arrays, metadata) and the
    weights of the network (the encoder's or the unmixer's), read with
    ``torch.load(weights_only=True)``. Loading builds only hsiae's own
    estimators and never unpickles anything, so a damaged or malicious file
    gives a ValueError, not code execution. See
    :mod:`hsiae.persistence._safe` for the layout.
``.joblib``, ``.pkl``
    A joblib file holding one dict: a format marker and version, the
    model object (under the key ``"pipeline"``, also for an AEUnmixer
    alone) and the metadata.

Any other name is refused by both functions (:func:`model_format`): a
pickle runs code when it is loaded, so only a file named as one is ever
unpickled, and a model is never written under a name such as ``.tif``.

.. warning::

   joblib files are pickles, and loading a pickle can run arbitrary code.
   Only load ``.joblib``/``.pkl`` model files from sources you trust (files
   you wrote yourself or got from someone you trust); use ``.hsiae`` to
   share models. :func:`load_model` warns (:class:`PickleModelWarning`)
   before it unpickles a file, and never unpickles a file whose name ends
   in anything but ``.joblib`` or ``.pkl``, nor one whose content is a zip
   archive.

Models are always loaded on the CPU. skorch maps the weights of a net that
was trained on a CUDA device to the CPU when unpickling on a machine without
CUDA; :func:`load_model` then moves everything to the CPU in every case and
sets the ``device`` of the encoder or unmixer to ``"cpu"``, so the loaded
model works (and can be refitted) anywhere.
"""

import logging
import os
import sys
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from hsiae import __version__
from hsiae.encoder import AEDEncoder
from hsiae.io import atomic_output, check_target
from hsiae.persistence import _safe
from hsiae.persistence._format import (
    FORMAT_MARKER,
    FORMAT_VERSION,
    ZIP_MAGIC,
    model_format,
    newer_version_message,
)
from hsiae.resampling import SpectralResampler
from hsiae.segmentation import SpatialGMMSegmenter
from hsiae.unmixer import AEUnmixer
from hsiae.workflow.recipes import pipeline_parts

logger = logging.getLogger(__name__)

__all__ = [
    "ModelInfo",
    "ModelVersionWarning",
    "PickleModelWarning",
    "check_model_bands",
    "load_model",
    "save_model",
]

# Libraries whose version changes can break an unpickled model: a mismatch warns.
_CHECKED_LIBRARIES = ("torch", "scikit-learn")


class ModelVersionWarning(UserWarning):
    """A model file was written with other versions of torch or scikit-learn."""


class PickleModelWarning(UserWarning):
    """A model file is a pickle (``.joblib``/``.pkl``): loading it runs code from the file."""


@dataclass(frozen=True, eq=False)
class ModelInfo:
    """What a model file says about the model besides the pipeline.

    Attributes
    ----------
    path : pathlib.Path
        The file the model was read from (or written to).
    format_version : int
        Layout version of the file.
    n_bands : int
        Number of input bands the model was fitted on (of its first step).
    wavelengths : ndarray of shape (n_bands,) or None
        Band centres of the training cube, when known.
    created : str
        Creation time, ISO 8601 in UTC.
    versions : dict
        Versions of hsiae, torch, scikit-learn, skorch, numpy and Python that
        wrote the file.
    steps : tuple of str
        Names of the pipeline's steps; an AEUnmixer saved alone has the one
        step ``"aeunmixer"``, the name ``make_pipeline`` would give it.
    format : {"joblib", "hsiae"}
        ``"hsiae"`` for the safe format, ``"joblib"`` for a pickle.
    """

    path: Path
    format_version: int
    n_bands: int
    wavelengths: np.ndarray | None = None
    created: str = ""
    versions: dict = field(default_factory=dict)
    steps: tuple = ()
    format: str = "joblib"

    @property
    def has_segmenter(self):
        """True when the pipeline ends in a fitted segmenter."""
        return len(self.steps) == 3


def _versions():
    import sklearn
    import skorch
    import torch

    return {
        "hsiae": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
        "numpy": np.__version__,
        "python": ".".join(str(v) for v in sys.version_info[:3]),
    }


# The pipelines a model file may hold, by the classes of their steps.
_PIPELINES = (
    (SpectralResampler, AEDEncoder),
    (SpectralResampler, AEDEncoder, SpatialGMMSegmenter),
    (SpectralResampler, AEUnmixer),
)
_EXPECTED = (
    "a fitted Pipeline of SpectralResampler, AEDEncoder and optionally SpatialGMMSegmenter, "
    "a fitted Pipeline of SpectralResampler and AEUnmixer, or a fitted AEUnmixer"
)


def _check_pipeline(pipeline, where):
    """Raise a ValueError unless ``pipeline`` is a fitted model of a kind a model file holds.

    That is a fitted resampler + encoder [+ segmenter] or resampler + unmixer
    Pipeline, or a fitted AEUnmixer alone.
    """
    if isinstance(pipeline, AEUnmixer):
        try:
            check_is_fitted(pipeline)
        except NotFittedError:
            raise ValueError(f"{where} is an AEUnmixer that is not fitted; fit it before saving it.") from None
        return
    if not isinstance(pipeline, Pipeline):
        raise ValueError(f"{where} must be {_EXPECTED}, got {type(pipeline).__name__}.")
    kinds = [type(step).__name__ for _, step in pipeline.steps]
    if not any(
        len(kinds) == len(classes) and all(isinstance(step, kind) for (_, step), kind in zip(pipeline.steps, classes))
        for classes in _PIPELINES
    ):
        raise ValueError(
            f"{where} must be {_EXPECTED}, got a Pipeline of {', '.join(kinds)}; build it with "
            f"hsiae.make_segmentation_pipeline, make_pipeline(SpectralResampler(), AEDEncoder()) "
            f"or make_pipeline(SpectralResampler(scaling=None), AEUnmixer())."
        )
    for name, step in pipeline.steps:
        try:
            check_is_fitted(step)
        except NotFittedError:
            raise ValueError(
                f"{where}: step {name!r} ({type(step).__name__}) is not fitted; fit the pipeline before saving it."
            ) from None


def _steps(model):
    """``(name, estimator)`` pairs: a Pipeline's steps, or an estimator under its make_pipeline name."""
    if isinstance(model, Pipeline):
        return list(model.steps)
    return [(type(model).__name__.lower(), model)]


def _network_step(model):
    """The estimator of a checked model that holds a torch network: the encoder or the unmixer."""
    return model if isinstance(model, AEUnmixer) else pipeline_parts(model).encoder


def _check_wavelengths(wavelengths, n_bands, resampler):
    """The wavelengths to store: checked against the input bands and ``resampler`` (or None)."""
    has_own = resampler is not None and resampler.wavelengths is not None
    own = resampler.source_positions_ if has_own else None
    if wavelengths is None:
        return None if own is None else np.array(own, dtype=np.float64)
    values = np.asarray(wavelengths, dtype=np.float64)
    if values.shape != (n_bands,) or not np.all(np.isfinite(values)):
        raise ValueError(
            f"wavelengths must hold {n_bands} finite values, one per input band of the "
            f"model, got an array of shape {values.shape}; pass the band centres of the "
            f"training cube, or None."
        )
    if own is not None and not np.allclose(values, own, rtol=1e-6, atol=1e-9):
        raise ValueError(
            "wavelengths differ from the wavelengths the SpectralResampler was fitted with; "
            "pass wavelengths=None to store the resampler's own."
        )
    return values


def save_model(path, pipeline, *, wavelengths=None, force=False):
    """Save a fitted pipeline (or unmixer) and its metadata to a model file, atomically.

    The extension of ``path`` picks the format: ``.hsiae`` writes the safe
    format (plain JSON and torch weights, safe to load from anywhere);
    ``.joblib`` or ``.pkl`` writes a joblib pickle, which runs code when it
    is loaded; any other name is refused. The file is written to a
    temporary file in the same folder and renamed to ``path`` only when
    complete, so a failure never leaves a partial file (nor the temporary
    one).

    Parameters
    ----------
    path : str or os.PathLike
        Output file: ``*.hsiae`` (safe format, for sharing), ``*.joblib`` or
        ``*.pkl`` (a pickle).
    pipeline : sklearn.pipeline.Pipeline or AEUnmixer
        Fitted ``SpectralResampler -> AEDEncoder`` with an optional final
        ``SpatialGMMSegmenter``; fitted ``SpectralResampler -> AEUnmixer``;
        or a fitted :class:`~hsiae.AEUnmixer` alone.
    wavelengths : array-like of shape (n_bands,), default=None
        Band centres of the training cube. None stores the resampler's
        ``wavelengths`` when it was fitted with some, else no wavelengths
        (always none for an AEUnmixer alone, which has no resampler).
    force : bool, default=False
        Overwrite ``path`` if it exists.

    Returns
    -------
    info : ModelInfo
        The metadata written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``force`` is False.
    ValueError
        If the name of ``path`` ends in none of ``.hsiae``, ``.joblib`` and
        ``.pkl``, ``pipeline`` is not such a fitted model, ``wavelengths`` does
        not match its input bands, or (for ``.hsiae``) a parameter is not a
        plain value, such as a ``RandomState`` instance as ``random_state``.

    See Also
    --------
    load_model : Read the pipeline and metadata back.
    """
    import joblib

    path = Path(os.fspath(path))
    fmt = model_format(path)
    _check_pipeline(pipeline, "pipeline")
    steps = _steps(pipeline)
    first = steps[0][1]
    resampler = first if isinstance(first, SpectralResampler) else None
    n_bands = int(first.n_features_in_)
    wavelengths = _check_wavelengths(wavelengths, n_bands, resampler)
    check_target(path, force=force, what="model")
    info = ModelInfo(
        path=path,
        format_version=FORMAT_VERSION,
        n_bands=n_bands,
        wavelengths=wavelengths,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=_versions(),
        steps=tuple(name for name, _ in steps),
        format=fmt,
    )
    metadata = {
        "n_bands": n_bands,
        "wavelengths": None if wavelengths is None else wavelengths.tolist(),
        "created": info.created,
        "versions": dict(info.versions),
        "steps": list(info.steps),
    }
    with atomic_output(path, force=force, what="model") as tmp, open(tmp, "xb") as fh:
        if info.format == "hsiae":
            _safe.write(fh, pipeline, metadata)
        else:
            payload = {
                "format": FORMAT_MARKER,
                "format_version": FORMAT_VERSION,
                "pipeline": pipeline,
                "metadata": metadata,
            }
            joblib.dump(payload, fh, compress=3)
    logger.info("Saved model (%s, %d input bands) to '%s'", " -> ".join(info.steps), n_bands, path)
    return info


def _saved_hsiae_version(payload):
    meta = payload.get("metadata")
    versions = meta.get("versions") if isinstance(meta, dict) else None
    return versions.get("hsiae", "unknown") if isinstance(versions, dict) else "unknown"


def _public_version(version):
    """``"2.3.0+cpu"`` -> ``"2.3.0"``: builds for other hardware are the same release."""
    return str(version).split("+", 1)[0]


def _looks_like_zip(path):
    with open(path, "rb") as fh:
        return fh.read(4) == ZIP_MAGIC


def load_model(path):
    """Load a pipeline (or unmixer) saved by :func:`save_model`, on the CPU.

    A file whose name ends in ``.hsiae``, or whose content is a zip archive,
    is read as the safe format: nothing in it is unpickled or executed. A
    ``.joblib`` or ``.pkl`` file is read with joblib, after a
    :class:`PickleModelWarning`. Any other name is refused before the file
    is opened.

    .. warning::
       Loading a ``.joblib``/``.pkl`` file runs pickle, which can execute
       arbitrary code: only load such files from trusted sources, and share
       models as ``.hsiae``.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save_model`.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline or AEUnmixer
        The fitted model, of the kind that was saved (a Pipeline, or an
        AEUnmixer alone), with its encoder or unmixer on the CPU.
    info : ModelInfo
        Its metadata.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        If ``path`` cannot be opened.
    ValueError
        If the name of ``path`` ends in none of ``.hsiae``, ``.joblib`` and
        ``.pkl``, or the file is not a joblib/pickle file or ``.hsiae`` archive, not an
        hsiae model file, was written by a newer hsiae (a newer format
        version), or its content is damaged (for ``.hsiae``: a bad archive, a
        missing member, a class outside the allow-list, wrong shapes).

    Warns
    -----
    PickleModelWarning
        Before unpickling a ``.joblib``/``.pkl`` file, which runs code from
        the file.
    ModelVersionWarning
        When the file was written with another version of torch or
        scikit-learn, naming both versions.

    See Also
    --------
    check_model_bands : Check a cube's bands against the model's.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"No such model file: '{path}'; check the path.")
    if path.is_dir():
        raise IsADirectoryError(f"Expected a model file but '{path}' is a directory.")
    fmt = model_format(path)
    if fmt == "hsiae" or _looks_like_zip(path):
        version, meta, pipeline = _safe.read(path)
        fmt = "hsiae"
    else:
        warnings.warn(
            f"'{path}' is a pickle: loading it runs code from the file. Load only models from "
            f"sources you trust; share models as .hsiae files, which never run code.",
            PickleModelWarning,
            stacklevel=2,
        )
        version, meta, pipeline = _load_pickle(path)
    _check_pipeline(pipeline, f"the model in '{path}'")

    saved = meta.get("versions") or {}
    here = _versions()
    for lib in _CHECKED_LIBRARIES:
        if lib in saved and _public_version(saved[lib]) != _public_version(here[lib]):
            warnings.warn(
                f"The model in '{path}' was saved with {lib} {saved[lib]}, but {lib} {here[lib]} "
                f"is installed; it may behave differently or fail. Retrain it, or install "
                f"{lib}=={_public_version(saved[lib])} to use it as saved.",
                ModelVersionWarning,
                stacklevel=2,
            )
    network = _network_step(pipeline)
    trained_on = str(network.device)
    network.to_cpu()
    if trained_on != "cpu":
        logger.info("The model was trained on device %r; loaded on the CPU.", trained_on)
    wavelengths = meta.get("wavelengths")
    info = ModelInfo(
        path=path,
        format_version=version,
        n_bands=int(meta["n_bands"]),
        wavelengths=None if wavelengths is None else np.asarray(wavelengths, dtype=np.float64),
        created=str(meta.get("created", "")),
        versions=dict(saved),
        steps=tuple(name for name, _ in _steps(pipeline)),
        format=fmt,
    )
    logger.info("Loaded model (%s, %d input bands) from '%s'", " -> ".join(info.steps), info.n_bands, path)
    return pipeline, info


def _load_pickle(path):
    """``(format_version, metadata, model)`` of a joblib model file, checked."""
    import joblib
    from skorch.exceptions import DeviceWarning

    with open(path, "rb") as fh:
        try:
            with warnings.catch_warnings():
                # A CUDA-trained net is mapped to the CPU by skorch; load_model says so.
                warnings.simplefilter("ignore", DeviceWarning)
                payload = joblib.load(fh)
        except (ImportError, AttributeError) as exc:
            raise ValueError(
                f"'{path}' refers to code that this installation lacks ({exc}); it was probably "
                f"written by another version of hsiae or its dependencies."
            ) from exc
        except Exception as exc:
            raise ValueError(
                f"'{path}' is not a joblib/pickle file or is damaged "
                f"({type(exc).__name__}: {exc}); "
                f"pass a model written by 'hsiae train' or hsiae.save_model."
            ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_MARKER:
        raise ValueError(
            f"'{path}' is not an hsiae model file (it holds a pickled {type(payload).__name__} "
            f"without the hsiae format marker); pass a model written by 'hsiae train' or "
            f"hsiae.save_model."
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"'{path}' has an invalid model format version {version!r}; the file is damaged.")
    if version > FORMAT_VERSION:
        raise ValueError(newer_version_message(path, version, _saved_hsiae_version(payload)))
    meta = payload.get("metadata")
    pipeline = payload.get("pipeline")
    if not isinstance(meta, dict) or "n_bands" not in meta:
        raise ValueError(f"'{path}' is an hsiae model file without its metadata; the file is damaged.")
    return version, meta, pipeline


def _grid(wl):
    """A band grid in words: its range and step (or the range of its steps), or "" when unknown."""
    if wl is None or not len(wl):
        return ""
    if len(wl) == 1:
        return f"{wl[0]:g}"
    steps = np.diff(wl)
    if np.allclose(steps, steps[0], rtol=1e-3, atol=0):
        return f"{wl[0]:g}-{wl[-1]:g} every {steps[0]:.4g}"
    return f"{wl[0]:g}-{wl[-1]:g}, steps {steps.min():.4g} to {steps.max():.4g}"


def _bracket(text):
    return f" ({text})" if text else ""


def check_model_bands(info, n_bands, wavelengths=None):
    """Raise a ValueError when a cube's bands do not match the model's.

    Parameters
    ----------
    info : ModelInfo
        Metadata from :func:`load_model`.
    n_bands : int
        Number of bands of the cube the model is applied to.
    wavelengths : array-like of shape (n_bands,), default=None
        The cube's band centres, when known. They are compared with the
        model's only when both are known.

    Raises
    ------
    ValueError
        Naming both band counts when they differ, or saying where the
        wavelengths differ when the counts agree.
    """
    n_bands = int(n_bands)
    model_wl = info.wavelengths
    cube_wl = None if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)

    if n_bands != info.n_bands:
        model_grid, cube_grid = _grid(model_wl), _grid(cube_wl)
        detail = ""
        # a regular grid is told by its range and step; for others, say where the grids part
        irregular = "steps" in model_grid or "steps" in cube_grid
        if (
            model_grid
            and cube_grid
            and irregular
            and np.isclose(model_wl[0], cube_wl[0])
            and np.isclose(model_wl[-1], cube_wl[-1])
        ):
            n = min(len(model_wl), len(cube_wl))
            part = np.flatnonzero(~np.isclose(model_wl[:n], cube_wl[:n], rtol=1e-6, atol=1e-6))
            if part.size:
                i = int(part[0])
                detail = f"; they part at band {i}: {model_wl[i]:g} in the model, {cube_wl[i]:g} in the cube"
        raise ValueError(
            f"The model was trained on cubes with {info.n_bands} bands{_bracket(model_grid)}, but "
            f"this cube has {n_bands} bands{_bracket(cube_grid)}{detail}; apply the model to cubes "
            f"from the same sensor, or train a new model on this cube."
        )
    if model_wl is not None and cube_wl is not None:
        same_shape = cube_wl.shape == model_wl.shape
        if not same_shape or not np.allclose(cube_wl, model_wl, rtol=1e-6, atol=1e-6):
            if not same_shape:
                where = f"the cube gives {cube_wl.size} wavelengths"
            else:
                i = int(np.argmax(np.abs(cube_wl - model_wl)))
                where = f"band {i} is at {cube_wl[i]:g} in the cube but {model_wl[i]:g} in the model"
            raise ValueError(
                f"The model and the cube both have {n_bands} bands, but their wavelengths differ "
                f"({where}); apply the model to cubes from the same sensor, or train a new model "
                f"on this cube."
            )

"""The safe model format (``.hsiae``): plain JSON and torch weights, read without unpickling.

A ``.hsiae`` file is a zip archive with two members:

``model.json``
    Plain JSON: the format marker and version, the metadata written by
    :func:`hsiae.save_model` (versions, input band count and wavelengths,
    creation time, step names) and, for each step of the model, the name
    of its class (one of :data:`ALLOWED_CLASSES`), its ``get_params()`` and
    every fitted attribute needed to rebuild it: the resampler's band
    positions, scaling and interpolation matrices (stored, not recomputed, so
    that a model gives bit-identical results under another scipy), the
    encoder's ``n_features_in_``, ``sam_offset_``, ``history_``, ``best_epoch_``
    and ``n_epochs_``, the segmenter's mixture (``weights_``, ``means_``,
    ``covariances_``, ``precisions_cholesky_``, ``labels_``, ...), and the
    unmixer's ``n_features_in_``, ``endmembers_``, ``init_endmembers_``,
    ``scale_``, ``history_`` and ``n_epochs_``. Arrays are nested lists tagged
    with their dtype and shape; tuples are tagged so that they come back as
    tuples; non-finite floats are written as strings.
``weights.pt``
    The weights of the model's network (:meth:`hsiae.AEDEncoder.get_weights`
    or :meth:`hsiae.AEUnmixer.get_weights`), written by :func:`torch.save`
    from CPU tensors and read with
    ``torch.load(..., weights_only=True, map_location="cpu")``, which only
    rebuilds tensors and plain containers.

The steps' classes say what the model is (:data:`LAYOUTS`): resampler and
encoder, optionally with a segmenter, or resampler and unmixer, each read
back as a Pipeline; a single AEUnmixer step is an unmixer saved alone and is
read back as the estimator itself, not as a one-step Pipeline.

Reading builds estimators only from the allow-list, with parameters checked
by scikit-learn's parameter validation and attributes checked for type,
shape and finiteness; the network's weights are checked against the shapes
its parameters imply (``weight_shapes``, which allocates nothing) and loaded
strictly (``set_weights``, which for the unmixer also checks that the
decoder's weights give its ``endmembers_``). Nothing in the file is ever
unpickled or executed; anything unexpected is a ``ValueError``.

Before any member is decompressed, its size and compression method in the
archive's directory are checked against what a model needs, and the JSON's
count of arrays and objects before it is parsed, so that a small crafted
archive cannot make the reader fill the memory; the writer applies the same
limits, so that it never leaves a file the reader refuses.

The optimizer state is not stored: a loaded encoder or unmixer transforms,
decodes and scores exactly like the saved one, and ``fit`` trains a new
network.
"""

import io
import json
import logging
import math
import struct
import zipfile
import zlib
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.pipeline import Pipeline

from hsiae.encoder import AEDEncoder
from hsiae.persistence._format import (
    FORMAT_MARKER,
    FORMAT_VERSION,
    JSON_MEMBER,
    WEIGHTS_MEMBER,
    newer_version_message,
)
from hsiae.resampling import SpectralResampler
from hsiae.segmentation import SpatialGMMSegmenter
from hsiae.unmixer import AEUnmixer
from hsiae.workflow.recipes import SegmentationPipeline

logger = logging.getLogger("hsiae.persistence")

# Bounds on the members, checked in the archive's directory before a byte is decompressed (a
# crafted archive must not fill the memory) and by the writer (no file it leaves is refused).
# model.json grows with the resampler's matrices (about 23 bytes per input and output band pair)
# and the segmenter's labels_ (2 or 3 bytes per training pixel): the recommended pipeline of a
# 204-band scene of 83 x 86 pixels writes 1.4 MiB. Up to _JSON_FREE_BYTES any compression goes;
# beyond, the member must take at least 1 / _MAX_JSON_RATIO of its size in the archive, so that
# a large model.json comes from a large file, as a real one does (matrices of floats compress
# about 2.5 times). The writer stores weights.pt uncompressed.
_JSON_FREE_BYTES = 16 << 20
_MAX_JSON_BYTES = 64 << 20
_MAX_JSON_RATIO = 100
_WEIGHTS_FREE_BYTES = 1 << 20
_MAX_WEIGHTS_BYTES = 4 << 30
_MAX_WEIGHTS_RATIO = 10
# JSON arrays and objects a model.json may open: one per row of a stored matrix, far fewer in a
# real model; a parsed empty list or object takes about 20 times its three bytes of text.
_MAX_JSON_CONTAINERS = 1 << 20
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # those the writer uses

#: The only classes a ``.hsiae`` file may name.
ALLOWED_CLASSES = {cls.__name__: cls for cls in (SpectralResampler, AEDEncoder, SpatialGMMSegmenter, AEUnmixer)}
#: The steps' classes of every model a ``.hsiae`` file may hold; a lone AEUnmixer is no Pipeline.
LAYOUTS = (
    ("SpectralResampler", "AEDEncoder"),
    ("SpectralResampler", "AEDEncoder", "SpatialGMMSegmenter"),
    ("SpectralResampler", "AEUnmixer"),
    ("AEUnmixer",),
)
# The classes whose weights travel in weights.pt, and what messages call them.
_NETWORKS = {"AEDEncoder": "encoder", "AEUnmixer": "unmixer"}

# Fitted attributes stored per class (``net_`` travels as weights.pt).
_FITTED = {
    "SpectralResampler": (
        "n_features_in_", "source_positions_", "target_positions_", "n_bands_out_",
        "offset_", "scale_", "forward_matrix_", "backward_matrix_",
    ),
    "AEDEncoder": ("n_features_in_", "sam_offset_", "history_", "best_epoch_", "n_epochs_"),
    "SpatialGMMSegmenter": (
        "n_features_in_", "weights_", "means_", "covariances_", "precisions_cholesky_",
        "converged_", "n_iter_", "lower_bound_", "labels_",
    ),
    "AEUnmixer": (
        "n_features_in_", "endmembers_", "init_endmembers_", "scale_", "history_", "n_epochs_",
    ),
}  # fmt: skip
# Set only when fitted on a DataFrame.
_OPTIONAL = ("feature_names_in_",)


def _is_extra_fitted_name(name, cls):
    """A public fitted attribute beyond those listed above (say, one added by a later hsiae).

    Such attributes are stored and restored too, as plain values; the name
    rule keeps them from shadowing a method, a property or a dunder.
    """
    return (
        isinstance(name, str)
        and name.endswith("_")
        and name[:1].isalpha()
        and name.replace("_", "").isalnum()
        and name.isascii()
        and not hasattr(cls, name)
        and name != "net_"
    )


_ARRAY_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "str",
}  # fmt: skip
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class _Damaged(ValueError):
    """Raised inside the reader; load turns it into a ValueError naming the file."""


# -- JSON encoding of parameters and attributes ---------------------------------------


def _float_to_json(value):
    value = float(value)
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _nested_nonfinite_to_str(values):
    if isinstance(values, list):
        return [_nested_nonfinite_to_str(v) for v in values]
    return _float_to_json(values)


def _to_json(value, where):
    """Encode a parameter or fitted attribute as plain JSON (tagged where needed)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        f = _float_to_json(value)
        return f if isinstance(f, float) else {"__float__": f}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OUS":
            if not all(isinstance(v, str) for v in value.ravel()):
                raise ValueError(f"{where}: only arrays of numbers or strings can be saved")
            dtype = "str"
        else:
            dtype = value.dtype.name
        if dtype not in _ARRAY_DTYPES:
            raise ValueError(f"{where}: arrays of dtype {value.dtype} cannot be saved")
        data = value.tolist()
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            data = _nested_nonfinite_to_str(data)
        return {"__ndarray__": data, "dtype": dtype, "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(v, where) for v in value]}
    if isinstance(value, list):
        return [_to_json(v, where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) and not k.startswith("__") for k in value):
            raise ValueError(f"{where}: dict keys must be strings not starting with '__'")
        return {k: _to_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise ValueError(
        f"{where} is a {type(value).__name__}, which the safe .hsiae format cannot store; "
        f"set it to a plain value (e.g. an int random_state), or save as .joblib"
    )


def _nested_str_to_float(values):
    if isinstance(values, list):
        return [_nested_str_to_float(v) for v in values]
    if isinstance(values, str):
        if values not in _NONFINITE:
            raise _Damaged(f"unexpected string {values[:20]!r} in a numeric array")
        return _NONFINITE[values]
    return values


def _from_json(value, where):
    """Decode what :func:`_to_json` wrote; never builds anything but plain values and arrays."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_from_json(v, where) for v in value]
    if not isinstance(value, dict):
        raise _Damaged(f"{where} holds an unexpected {type(value).__name__}")
    if "__tuple__" in value:
        items = value["__tuple__"]
        if set(value) != {"__tuple__"} or not isinstance(items, list):
            raise _Damaged(f"{where} holds a malformed tuple")
        return tuple(_from_json(v, where) for v in items)
    if "__float__" in value:
        if set(value) != {"__float__"} or value["__float__"] not in _NONFINITE:
            raise _Damaged(f"{where} holds a malformed float")
        return _NONFINITE[value["__float__"]]
    if "__ndarray__" in value:
        return _array_from_json(value, where)
    if any(k.startswith("__") for k in value):
        raise _Damaged(f"{where} holds an unknown tagged value {sorted(value)!r}")
    return {k: _from_json(v, f"{where}[{k!r}]") for k, v in value.items()}


def _array_from_json(value, where):
    if set(value) != {"__ndarray__", "dtype", "shape"}:
        raise _Damaged(f"{where} holds a malformed array")
    dtype, shape, data = value["dtype"], value["shape"], value["__ndarray__"]
    if dtype not in _ARRAY_DTYPES:
        raise _Damaged(f"{where} has the array dtype {dtype!r}, which hsiae never writes")
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise _Damaged(f"{where} has an invalid array shape {shape!r}")
    shape = tuple(shape)
    if dtype == "str":
        array = np.array(data, dtype=object)
        if not all(isinstance(v, str) for v in array.ravel()):
            raise _Damaged(f"{where} should hold strings")
    else:
        if np.dtype(dtype).kind == "f":
            data = _nested_str_to_float(data)
        try:
            array = np.array(data, dtype=dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _Damaged(f"{where} cannot be read as a {dtype} array ({exc})") from None
    if array.shape != shape:
        if array.size == 0 and math.prod(shape) == 0:
            array = array.reshape(shape)
        else:
            raise _Damaged(f"{where} holds an array of shape {array.shape}, but says {shape}")
    return array


# -- writing ---------------------------------------------------------------------------


def _step_document(name, est):
    cls = type(est).__name__
    params = {key: _to_json(value, f"{cls}.{key}") for key, value in est.get_params(deep=False).items()}
    fitted = {key: _to_json(getattr(est, key), f"{cls}.{key}") for key in _FITTED[cls]}
    for key in vars(est):
        if key not in fitted and _is_extra_fitted_name(key, type(est)):
            fitted[key] = _to_json(getattr(est, key), f"{cls}.{key}")
    return {"name": name, "class": cls, "params": params, "fitted": fitted}


def write(fh, model, metadata):
    """Write ``model`` (checked by the caller) and ``metadata`` as ``.hsiae`` to ``fh``.

    ``model`` is a Pipeline of one of :data:`LAYOUTS` or an AEUnmixer alone,
    which is written as a single step named ``"aeunmixer"``.
    """
    steps = model.steps if isinstance(model, Pipeline) else [(type(model).__name__.lower(), model)]
    for _, est in steps:
        if type(est).__name__ not in ALLOWED_CLASSES or type(est) is not ALLOWED_CLASSES[type(est).__name__]:
            raise ValueError(
                f"the safe .hsiae format stores only {', '.join(ALLOWED_CLASSES)} (not "
                f"subclasses), got {type(est).__name__}; save as .joblib instead"
            )
    document = {
        "format": FORMAT_MARKER,
        "format_version": FORMAT_VERSION,
        "metadata": metadata,
        "steps": [_step_document(name, est) for name, est in steps],
    }
    text = json.dumps(document, allow_nan=False, separators=(",", ":")).encode("utf-8")
    network = next(est for _, est in steps if type(est).__name__ in _NETWORKS)
    state = network.get_weights()  # CPU tensors: the file loads anywhere whatever device trained it
    weights = io.BytesIO()
    torch.save(state, weights)
    with zipfile.ZipFile(fh, "w") as zf:
        if len(text) <= _MAX_JSON_BYTES:  # else refused below, without compressing it first
            zf.writestr(JSON_MEMBER, text, compress_type=zipfile.ZIP_DEFLATED)
            info = zf.getinfo(JSON_MEMBER)
        else:
            info = zipfile.ZipInfo(JSON_MEMBER)
            info.file_size = info.compress_size = len(text)
        problem = _size_problem(info) or _containers_problem(text)
        if problem is not None:
            raise ValueError(
                f"the model is too large for the .hsiae format: {problem}"
                f"{_largest_values(document)}; save it as .joblib (a pickle)"
            )
        zf.writestr(WEIGHTS_MEMBER, weights.getvalue(), compress_type=zipfile.ZIP_STORED)


def _largest_values(document):
    """``" (most of it SpectralResampler.backward_matrix_ ...)"``: what makes a model.json large."""
    sizes = sorted(
        (
            (len(json.dumps(value, separators=(",", ":"))), f"{step['class']}.{key}")
            for step in document["steps"]
            for key, value in step["fitted"].items()
        ),
        reverse=True,
    )[:2]
    return " (most of it " + " and ".join(f"{name} ({_size(n)})" for n, name in sizes) + ")"


# -- reading ---------------------------------------------------------------------------


def _size(n):
    """``"64 MiB"``, ``"4.3 KiB"``: a size for a message."""
    value, unit = (n / (1 << 20), "MiB") if n >= 1 << 20 else (n / 1024, "KiB")
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def _size_problem(info):
    """Why the member ``info`` is larger than a model's, from the archive's directory alone (or None)."""
    name = info.filename
    free, cap, ratio = {
        JSON_MEMBER: (_JSON_FREE_BYTES, _MAX_JSON_BYTES, _MAX_JSON_RATIO),
        WEIGHTS_MEMBER: (_WEIGHTS_FREE_BYTES, _MAX_WEIGHTS_BYTES, _MAX_WEIGHTS_RATIO),
    }[name]
    if info.compress_type not in _METHODS:
        method = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}.get(
            info.compress_type, f"method {info.compress_type}"
        )
        return f"{name} is compressed with {method}, which hsiae never writes"
    if info.file_size > cap:
        return (
            f"{name} would take {_size(info.file_size)} once decompressed, more than the "
            f"{_size(cap)} a model's {name} may take"
        )
    if info.file_size > max(free, ratio * info.compress_size):
        return (
            f"{name} would expand from {_size(info.compress_size)} in the archive to "
            f"{_size(info.file_size)}; beyond {_size(free)}, a model's {name} takes at least "
            f"1/{ratio} of its size in the archive"
        )
    return None


def _containers_problem(text):
    """Why the JSON ``text`` (bytes) opens more arrays and objects than a model's (or None)."""
    containers = text.count(b"[") + text.count(b"{")
    if containers > _MAX_JSON_CONTAINERS:
        return (
            f"{JSON_MEMBER} opens {containers} arrays and objects, more than the "
            f"{_MAX_JSON_CONTAINERS} a model's {JSON_MEMBER} may open"
        )
    return None


def _read_members(path):
    """The bytes of model.json and weights.pt, or _Damaged.

    The members' sizes and compression are checked in the archive's directory
    before any of them is read, and the JSON's count of arrays and objects
    before it is parsed.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [m for m in (JSON_MEMBER, WEIGHTS_MEMBER) if m not in names]
            if missing:
                raise _Damaged(f"the archive lacks {' and '.join(missing)}")
            for member in (JSON_MEMBER, WEIGHTS_MEMBER):
                problem = _size_problem(zf.getinfo(member))
                if problem is not None:
                    raise _Damaged(problem)
            text = zf.read(JSON_MEMBER)  # at most the size checked: zipfile stops there
            problem = _containers_problem(text)
            if problem is not None:
                raise _Damaged(problem)
            return text, zf.read(WEIGHTS_MEMBER)
    except (PermissionError, FileNotFoundError, IsADirectoryError):
        raise
    except _Damaged:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        RuntimeError,
        NotImplementedError,
        struct.error,
        zlib.error,
    ) as exc:
        raise _Damaged(f"it is not a readable zip archive ({type(exc).__name__}: {exc})") from exc


def _read_weights(data):
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only never runs code; any failure means a bad member
        raise _Damaged(
            f"{WEIGHTS_MEMBER} is not a tensor state dict ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise _Damaged(f"{WEIGHTS_MEMBER} is not a state dict of named tensors")
    return state


def _check(condition, message):
    if not condition:
        raise _Damaged(message)


def _is_int(value, minimum=0):
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum


def _check_array(est, name, shape, kinds="f", finite=True):
    value = getattr(est, name)
    cls = type(est).__name__
    ok = isinstance(value, np.ndarray) and value.shape == shape and value.dtype.kind in kinds
    _check(ok, f"{cls}.{name} should be an array of shape {shape}, got {getattr(value, 'shape', type(value).__name__)}")
    if finite and value.dtype.kind == "f":
        _check(np.all(np.isfinite(value)), f"{cls}.{name} holds NaN or infinite values")
    return value


def _check_scale(est, name, n_out):
    value = getattr(est, name)
    if isinstance(value, np.ndarray):
        _check_array(est, name, (n_out,))
    else:
        _check(
            isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value),
            f"SpectralResampler.{name} should be a finite number or {n_out} of them",
        )


def _check_resampler(est, n_bands):
    n_in, n_out = est.n_features_in_, est.n_bands_out_
    _check(
        _is_int(n_in, 1) and n_in == n_bands,
        f"SpectralResampler.n_features_in_ is {n_in!r}, but the model says {n_bands} input bands",
    )
    _check(_is_int(n_out, 1), f"SpectralResampler.n_bands_out_ is {n_out!r}")
    _check_array(est, "source_positions_", (n_in,))
    _check_array(est, "target_positions_", (n_out,))
    _check_array(est, "forward_matrix_", (n_in, n_out))
    if est.backward_matrix_ is not None:
        _check_array(est, "backward_matrix_", (n_out, n_in))
    _check_scale(est, "offset_", n_out)
    _check_scale(est, "scale_", n_out)


def _check_encoder(est, n_in):
    _check(
        _is_int(est.n_features_in_, 1) and est.n_features_in_ == n_in,
        f"AEDEncoder.n_features_in_ is {est.n_features_in_!r}, but the resampler gives {n_in} bands",
    )
    _check(
        isinstance(est.sam_offset_, Real)
        and not isinstance(est.sam_offset_, bool)
        and math.isfinite(est.sam_offset_)
        and est.sam_offset_ >= 0,
        "AEDEncoder.sam_offset_ should be a finite number >= 0",
    )
    _check(
        _is_int(est.n_epochs_, 1) and _is_int(est.best_epoch_, 1) and est.best_epoch_ <= est.n_epochs_,
        "AEDEncoder.n_epochs_ or best_epoch_ is invalid",
    )
    history = est.history_
    _check(
        isinstance(history, dict)
        and {"epoch", "train_loss", "dur"} <= set(history) <= {"epoch", "train_loss", "valid_loss", "dur"},
        "AEDEncoder.history_ should map epoch, train_loss, dur (and valid_loss) to arrays",
    )
    for key in history:
        value = history[key]
        _check(
            isinstance(value, np.ndarray)
            and value.shape == (est.n_epochs_,)
            and value.dtype.kind in ("i" if key == "epoch" else "f"),
            f"AEDEncoder.history_[{key!r}] should be {est.n_epochs_} values",
        )


def _check_unmixer(est, n_in, source):
    """Check a rebuilt AEUnmixer's fitted attributes for ``n_in`` input bands (per ``source``)."""
    _check(
        _is_int(est.n_features_in_, 1) and est.n_features_in_ == n_in,
        f"AEUnmixer.n_features_in_ is {est.n_features_in_!r}, but {source} {n_in} bands",
    )
    k = est.n_endmembers
    _check(k <= n_in, f"AEUnmixer.n_endmembers is {k}, more than its {n_in} input bands")
    for name in ("endmembers_", "init_endmembers_"):
        values = _check_array(est, name, (k, n_in))
        _check(np.all(values >= 0), f"AEUnmixer.{name} holds negative values")
    scale = est.scale_
    _check(
        isinstance(scale, Real) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0,
        "AEUnmixer.scale_ should be a finite number > 0",
    )
    _check(_is_int(est.n_epochs_, 1), f"AEUnmixer.n_epochs_ is {est.n_epochs_!r}")
    history = est.history_
    _check(
        isinstance(history, dict) and set(history) == {"epoch", "train_loss", "dur"},
        "AEUnmixer.history_ should map epoch, train_loss and dur to arrays",
    )
    for key, value in history.items():
        _check(
            isinstance(value, np.ndarray)
            and value.shape == (est.n_epochs_,)
            and value.dtype.kind in ("i" if key == "epoch" else "f"),
            f"AEUnmixer.history_[{key!r}] should be {est.n_epochs_} values",
        )


def _covariance_shape(covariance_type, k, d):
    return {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,), "shaded": (k, d, d)}[covariance_type]


def _check_segmenter(est, d):
    k = est.n_clusters
    _check(
        _is_int(est.n_features_in_, 1) and est.n_features_in_ == d,
        f"SpatialGMMSegmenter.n_features_in_ is {est.n_features_in_!r}, but the encoder gives {d}",
    )
    _check_array(est, "weights_", (k,))
    _check_array(est, "means_", (k, d))
    shape = _covariance_shape(est.covariance_type, k, d)
    _check_array(est, "covariances_", shape)
    _check_array(est, "precisions_cholesky_", shape)
    labels = est.labels_
    _check(
        isinstance(labels, np.ndarray)
        and labels.ndim == 1
        and labels.dtype.kind in "iu"
        and (labels.size == 0 or (labels.min() >= 0 and labels.max() < k)),
        f"SpatialGMMSegmenter.labels_ should be integers in 0..{k - 1}",
    )
    _check(
        isinstance(est.converged_, bool) and _is_int(est.n_iter_) and isinstance(est.lower_bound_, Real),
        "SpatialGMMSegmenter's fit summary is invalid",
    )


def _step_class(index, step):
    """The class name of a step's document, checked against the allow-list."""
    _check(
        isinstance(step, dict) and set(step) == {"name", "class", "params", "fitted"},
        f"step {index} should hold name, class, params and fitted",
    )
    name, cls_name = step["name"], step["class"]
    _check(isinstance(name, str) and name and "__" not in name, f"step {index} has an invalid name {name!r}")
    if cls_name not in ALLOWED_CLASSES:
        raise _Damaged(
            f"step {index} names the class {str(cls_name)[:80]!r}, which is not one of the "
            f"classes a .hsiae file may hold ({', '.join(ALLOWED_CLASSES)})"
        )
    return cls_name


def _check_layout(classes):
    """Refuse step classes that are none of :data:`LAYOUTS`, naming the first wrong step."""
    classes = tuple(classes)
    for index, cls_name in enumerate(classes):
        expected = list(
            dict.fromkeys(
                layout[index] for layout in LAYOUTS if len(layout) > index and layout[:index] == classes[:index]
            )
        )
        _check(expected, f"step {index} ({cls_name}) comes after the last step of a model")
        _check(cls_name in expected, f"step {index} is a {cls_name}, but it must be a {' or '.join(expected)}")
    _check(classes in LAYOUTS, f"the steps {list(classes)} end before the model does")


def _build_step(index, step):
    name, cls_name = step["name"], step["class"]
    cls = ALLOWED_CLASSES[cls_name]
    params, fitted = step["params"], step["fitted"]
    _check(
        isinstance(params, dict) and isinstance(fitted, dict),
        f"step {index} should hold params and fitted attributes as JSON objects",
    )
    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    _check(
        not unknown, f"{cls_name} has no parameters {unknown!r}; the file was written by another hsiae or is damaged"
    )
    params = {key: _from_json(value, f"{cls_name}.{key}") for key, value in params.items()}
    est = cls(**params)
    try:
        est._validate_params()
    except (ValueError, TypeError) as exc:
        raise _Damaged(f"invalid {cls_name} parameters: {exc}") from None
    expected = set(_FITTED[cls_name])
    missing = sorted(expected - set(fitted))
    extra = sorted(k for k in set(fitted) - expected if not _is_extra_fitted_name(k, cls))
    _check(not missing, f"{cls_name} lacks the fitted attributes {missing}")
    _check(not extra, f"{cls_name} has unexpected attributes {[str(k)[:40] for k in extra]}")
    for key, value in fitted.items():
        setattr(est, key, _from_json(value, f"{cls_name}.{key}"))
    if hasattr(est, "feature_names_in_"):
        names = est.feature_names_in_
        _check(
            isinstance(names, np.ndarray) and names.dtype == object and names.shape == (est.n_features_in_,),
            f"{cls_name}.feature_names_in_ should hold one name per input feature",
        )
    return name, est


def _check_weights_fit(network, state):
    """Compare the file's tensors with those the network's parameters imply, allocating nothing.

    ``network`` is the rebuilt AEDEncoder or AEUnmixer. Parameters that ask
    for more layers than there are tensors are refused before
    ``weight_shapes`` builds even a shapes-only network from them.
    """
    cls_name = type(network).__name__
    n = len(state)
    if cls_name == "AEDEncoder":
        too_long = [p for p in ("channels", "hidden_sizes") if len(getattr(network, p)) > n]
        too_long += ["n_layers"] if network.n_layers > n else []
    else:
        too_long = ["hidden_sizes"] if len(network.hidden_sizes or ()) > n else []
    _check(not too_long, f"{cls_name} parameters {too_long} do not match the {n} stored tensors")
    try:
        mismatch = network.weight_mismatch(state)
    except (ValueError, TypeError, RuntimeError, IndexError) as exc:
        # torch's messages can carry a C++ stack trace: its first line says what went wrong
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _Damaged(f"the {cls_name} parameters do not describe a network ({first})") from None
    if mismatch is not None:
        raise _Damaged(f"{WEIGHTS_MEMBER} does not fit the {_NETWORKS[cls_name]}'s network: {mismatch}")
    for key, tensor in state.items():
        _check(
            tensor.dtype in (torch.float32, torch.int64)
            and (not tensor.is_floating_point() or bool(torch.isfinite(tensor).all())),
            f"{WEIGHTS_MEMBER}: tensor {key} is not finite float32 weights",
        )


def _rebuild(document, state):
    _check(isinstance(document, dict), "model.json does not hold a JSON object")
    _check(document.get("format") == FORMAT_MARKER, "model.json lacks the hsiae format marker")
    version = document.get("format_version")
    _check(_is_int(version, 1), f"model.json has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        meta = document.get("metadata")
        versions = meta.get("versions") if isinstance(meta, dict) else None
        saved = versions.get("hsiae", "unknown") if isinstance(versions, dict) else "unknown"
        raise _NewerFormat(version, saved)
    meta = document.get("metadata")
    _check(isinstance(meta, dict) and _is_int(meta.get("n_bands"), 1), "model.json lacks its metadata (n_bands)")
    wavelengths = meta.get("wavelengths")
    _check(
        wavelengths is None
        or (
            isinstance(wavelengths, list)
            and len(wavelengths) == meta["n_bands"]
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in wavelengths)
        ),
        f"the metadata's wavelengths should be {meta['n_bands']} finite numbers or null",
    )
    _check(isinstance(meta.get("versions", {}), dict), "the metadata's versions are not an object")
    steps = document.get("steps")
    _check(isinstance(steps, list) and 1 <= len(steps) <= 3, "model.json should describe 1 to 3 model steps")
    _check_layout([_step_class(i, step) for i, step in enumerate(steps)])
    built = [_build_step(i, step) for i, step in enumerate(steps)]
    names = [name for name, _ in built]
    _check(len(set(names)) == len(names), f"the step names {names} are not unique")
    estimators = [est for _, est in built]
    if isinstance(estimators[0], SpectralResampler):
        _check_resampler(estimators[0], meta["n_bands"])
        n_in, source = estimators[0].n_bands_out_, "the resampler gives"
    else:
        n_in, source = meta["n_bands"], "the model says"
    network = estimators[1] if len(estimators) > 1 else estimators[0]
    if isinstance(network, AEUnmixer):
        _check_unmixer(network, n_in, source)
    else:
        _check_encoder(network, n_in)
    if len(built) == 3:
        _check_segmenter(estimators[2], network.zdims)
    trained_on = network.device
    network.device = "cpu"  # so that the net, and refitting, work without CUDA
    _check_weights_fit(network, state)
    try:
        network.set_weights(state)
    except (ValueError, RuntimeError) as exc:  # the shapes fit: the unmixer's endmembers_ disagree
        raise _Damaged(
            f"{WEIGHTS_MEMBER} does not agree with the {type(network).__name__}'s "
            f"fitted attributes ({str(exc).rstrip('.')})"
        ) from None
    if str(trained_on) != "cpu":
        logger.info("The model was trained on device %r; loaded on the CPU.", trained_on)
    if len(built) == 1:
        return version, meta, network
    if len(built) == 3:
        # A segmentation pipeline refits as it was fitted: with the shade point (hsiae.shade_point).
        return version, meta, SegmentationPipeline(built)
    return version, meta, Pipeline(built)


class _NewerFormat(Exception):
    def __init__(self, version, saved_by):
        super().__init__(version, saved_by)
        self.version, self.saved_by = version, saved_by


def read(path):
    """Read a ``.hsiae`` file; return ``(format_version, metadata, model)``.

    Raises ValueError (naming ``path``) for anything but a well-formed file.
    """
    try:
        text, weights = _read_members(path)
        try:
            document = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise _Damaged(f"{JSON_MEMBER} is not valid JSON ({exc})") from None
        state = _read_weights(weights)
        return _rebuild(document, state)
    except _NewerFormat as exc:
        raise ValueError(newer_version_message(path, exc.version, exc.saved_by)) from None
    except _Damaged as exc:
        raise ValueError(
            f"'{path}' is not a valid .hsiae model file: {exc}; pass a model written by "
            f"'hsiae train -o MODEL.hsiae' or hsiae.save_model, or save it again."
        ) from exc
    except RecursionError:
        raise ValueError(f"'{path}' is not a valid .hsiae model file: it is nested too deeply.") from None

"""Tests for hsiae.persistence: save_model, load_model, check_model_bands."""

import io
import json
import os
import pickle
import re
import warnings
import zipfile
from datetime import datetime

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.pipeline import Pipeline, make_pipeline

from hsiae import AEDEncoder, SpatialGMMSegmenter, SpectralResampler
from hsiae.persistence import (
    FORMAT_MARKER,
    FORMAT_VERSION,
    JSON_MEMBER,
    WEIGHTS_MEMBER,
    ModelVersionWarning,
    PickleModelWarning,
    check_model_bands,
    load_model,
    save_model,
)

H, W, B = 8, 9, 20
WAVELENGTHS = np.linspace(400.0, 1000.0, B)


def _spectra(seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, B)
    centres = rng.random((H * W, 1))
    X = np.exp(-((t - centres) ** 2) / 0.05) + 0.01 * rng.normal(size=(H * W, B))
    return X.astype(np.float32)


def _tiny_head():
    return make_pipeline(SpectralResampler(n_bands=16), AEDEncoder(zdims=2, max_epochs=1, random_state=0))


@pytest.fixture(scope="module")
def fitted():
    """A tiny fitted resampler + encoder + segmenter pipeline and its training spectra."""
    X = _spectra()
    pipe = make_pipeline(
        SpectralResampler(n_bands=16, wavelengths=WAVELENGTHS),
        AEDEncoder(zdims=3, max_epochs=2, random_state=0),
        SpatialGMMSegmenter(3, image_shape=(H, W), random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 2 epochs
        pipe.fit(X)
    return pipe, X


def test_round_trip_gives_identical_outputs_and_metadata(fitted, tmp_path):
    pipe, X = fitted
    path = tmp_path / "model.joblib"
    written = save_model(path, pipe)
    loaded, info = load_model(path)

    assert loaded is not pipe
    np.testing.assert_array_equal(loaded[:-1].transform(X), pipe[:-1].transform(X))
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    np.testing.assert_array_equal(
        loaded[:-1].inverse_transform(loaded[:-1].transform(X)),
        pipe[:-1].inverse_transform(pipe[:-1].transform(X)),
    )
    assert info.n_bands == B == written.n_bands
    # wavelengths default to the resampler's own
    np.testing.assert_allclose(info.wavelengths, WAVELENGTHS)
    assert info.format_version == FORMAT_VERSION
    assert info.steps == ("spectralresampler", "aedencoder", "spatialgmmsegmenter")
    assert info.has_segmenter
    assert set(info.versions) >= {"hsiae", "torch", "scikit-learn", "skorch", "numpy"}
    assert info.versions["torch"] == torch.__version__
    assert info.versions["scikit-learn"] == sklearn.__version__
    assert datetime.fromisoformat(info.created).tzinfo is not None
    assert info.path == path


def test_file_is_a_marked_dict(fitted, tmp_path):
    pipe, _ = fitted
    path = tmp_path / "m.joblib"
    save_model(path, pipe[:-1], wavelengths=WAVELENGTHS)
    payload = joblib.load(path)
    assert payload["format"] == FORMAT_MARKER
    assert payload["format_version"] == FORMAT_VERSION
    assert payload["metadata"]["n_bands"] == B
    assert payload["metadata"]["wavelengths"] == pytest.approx(WAVELENGTHS.tolist())
    _, info = load_model(path)
    assert not info.has_segmenter


def test_save_without_wavelengths(tmp_path):
    X = _spectra(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = _tiny_head().fit(X)
    save_model(tmp_path / "m.joblib", pipe)
    _, info = load_model(tmp_path / "m.joblib")
    assert info.wavelengths is None


def test_existing_file_needs_force(fitted, tmp_path):
    pipe, X = fitted
    path = tmp_path / "model.joblib"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="already exists"):
        save_model(path, pipe)
    assert path.read_bytes() == b"precious"
    save_model(path, pipe, force=True)
    loaded, _ = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def test_failed_write_leaves_nothing_behind(fitted, tmp_path, monkeypatch):
    pipe, _ = fitted

    def broken_dump(value, fh, **kwargs):
        fh.write(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(joblib, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        save_model(tmp_path / "model.joblib", pipe)
    assert os.listdir(tmp_path) == []

    # an existing file survives a failed forced overwrite
    (tmp_path / "old.joblib").write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        save_model(tmp_path / "old.joblib", pipe, force=True)
    assert os.listdir(tmp_path) == ["old.joblib"]
    assert (tmp_path / "old.joblib").read_bytes() == b"old"


def test_save_rejects_bad_input(fitted, tmp_path):
    pipe, _ = fitted
    with pytest.raises(ValueError, match="not fitted"):
        save_model(tmp_path / "m.joblib", make_pipeline(SpectralResampler(), AEDEncoder()))
    with pytest.raises(ValueError, match="Pipeline of SpectralResampler, AEDEncoder"):
        save_model(tmp_path / "m.joblib", pipe[1:])
    with pytest.raises(ValueError, match="got AEDEncoder"):
        save_model(tmp_path / "m.joblib", pipe[1])
    with pytest.raises(ValueError, match="20 finite values"):
        save_model(tmp_path / "m.joblib", pipe, wavelengths=np.arange(5.0))
    with pytest.raises(ValueError, match="differ from the wavelengths"):
        save_model(tmp_path / "m.joblib", pipe, wavelengths=WAVELENGTHS + 1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_model(tmp_path / "missing" / "m.joblib", pipe)
    assert os.listdir(tmp_path) == []


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such model file"):
        load_model(tmp_path / "nope.joblib")
    with pytest.raises(IsADirectoryError):
        load_model(tmp_path)

    noise = tmp_path / "noise.joblib"
    noise.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(ValueError, match="not a joblib/pickle file"):
        load_model(noise)

    empty = tmp_path / "empty.joblib"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a joblib/pickle file"):
        load_model(empty)

    for i, obj in enumerate([{"pipeline": None}, [1, 2, 3], {"format": "other"}]):
        other = tmp_path / f"other{i}.joblib"
        joblib.dump(obj, other)
        with pytest.raises(ValueError, match="not an hsiae model file"):
            load_model(other)

    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not an hsiae model file"):
        load_model(plain)


def _rewrite(path, **changes):
    payload = joblib.load(path)
    for key, value in changes.items():
        if key == "versions":
            payload["metadata"]["versions"].update(value)
        else:
            payload[key] = value
    joblib.dump(payload, path)


def test_newer_format_version_is_refused(fitted, tmp_path):
    pipe, _ = fitted
    path = tmp_path / "m.joblib"
    save_model(path, pipe)
    _rewrite(path, format_version=FORMAT_VERSION + 1)
    newer = f"format version {FORMAT_VERSION + 1} by a newer hsiae.*upgrade"
    with pytest.raises(ValueError, match=newer):
        load_model(path)


def test_marked_file_with_wrong_content_is_refused(fitted, tmp_path):
    pipe, _ = fitted
    path = tmp_path / "m.joblib"
    save_model(path, pipe)
    _rewrite(path, pipeline=pipe[1])
    with pytest.raises(ValueError, match="must be a fitted Pipeline"):
        load_model(path)


def test_version_mismatch_warns_naming_both_versions(fitted, tmp_path):
    pipe, X = fitted
    path = tmp_path / "m.joblib"
    save_model(path, pipe)
    _rewrite(path, versions={"torch": "1.0.0", "scikit-learn": "0.1.0"})
    with pytest.warns(ModelVersionWarning) as record:
        loaded, info = load_model(path)
    messages = [str(w.message) for w in record if issubclass(w.category, ModelVersionWarning)]
    assert any("torch 1.0.0" in m and f"torch {torch.__version__}" in m for m in messages)
    here = f"scikit-learn {sklearn.__version__}"
    assert any("scikit-learn 0.1.0" in m and here in m for m in messages)
    assert info.versions["torch"] == "1.0.0"
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def test_same_versions_do_not_warn(fitted, tmp_path):
    pipe, _ = fitted
    path = tmp_path / "m.joblib"
    save_model(path, pipe)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", PickleModelWarning)  # said on every pickle
        load_model(path)


def test_cuda_trained_model_loads_on_cpu(tmp_path):
    """A net saved with device='cuda' is mapped to the CPU (skorch) and the encoder says 'cpu'."""
    X = _spectra(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = _tiny_head().fit(X)
    expected = pipe.transform(X)
    enc = pipe[-1]
    enc.device = "cuda"  # pretend it was trained on a GPU (the weights are on the CPU anyway)
    enc.net_.device = "cuda"
    save_model(tmp_path / "gpu.joblib", pipe)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no skorch DeviceWarning escapes
        warnings.simplefilter("ignore", PickleModelWarning)  # said on every pickle
        loaded, _ = load_model(tmp_path / "gpu.joblib")
    assert loaded[-1].device == "cpu"
    assert loaded[-1].net_.device == "cpu"
    assert next(loaded[-1].net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), expected)


def _info(fitted, tmp_path):
    pipe, _ = fitted
    return save_model(tmp_path / "m.joblib", pipe)


def test_check_model_bands(fitted, tmp_path):
    info = _info(fitted, tmp_path)
    check_model_bands(info, B)
    check_model_bands(info, B, WAVELENGTHS)
    check_model_bands(info, B, None)
    with pytest.raises(ValueError, match="trained on cubes with 20 bands.*this cube has 24 bands"):
        check_model_bands(info, 24)
    with pytest.raises(
        ValueError,
        match=r"20 bands \(400-1000 every 31.58\).*24 bands "
        r"\(400-2500 every 91.3\); apply",
    ):
        check_model_bands(info, 24, np.linspace(400, 2500, 24))
    # the same range, finer: the steps say how the grids differ
    with pytest.raises(
        ValueError,
        match=r"20 bands \(400-1000 every 31.58\).*30 bands "
        r"\(400-1000 every 20.69\); apply",
    ):
        check_model_bands(info, 30, np.linspace(400, 1000, 30))
    # the model's bands with two dropped (e.g. absorption bands): where the grids part
    dropped = np.delete(WAVELENGTHS, [7, 8])
    with pytest.raises(
        ValueError,
        match=r"18 bands \(400-1000, steps 31.58 to 94.74\); they "
        r"part at band 7: 621.053 in the model, 684.211 in the cube",
    ):
        check_model_bands(info, 18, dropped)
    shifted = WAVELENGTHS.copy()
    shifted[3] += 5
    differ = "both have 20 bands, but their wavelengths differ.*band 3"
    with pytest.raises(ValueError, match=differ):
        check_model_bands(info, B, shifted)


# --------------------------------------------------------------------------- safe .hsiae format


ARCHITECTURES = {
    "conv": dict(channels=(2, 4)),
    "dense": dict(hidden_sizes=(8,)),
    "lstm": dict(d_model=4, token_size=3),
    "transformer": dict(d_model=4, n_heads=2),
}


def _fit_quietly(pipe, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 1-2 epochs
        return pipe.fit(X)


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def fitted_arch(request):
    """A tiny pipeline with a segmenter per architecture, standard scaling, cubic resampling."""
    X = _spectra(3)
    pipe = make_pipeline(
        SpectralResampler(n_bands=12, wavelengths=WAVELENGTHS, method="cubic", scaling="standard"),
        AEDEncoder(zdims=2, architecture=request.param, max_epochs=2, random_state=0, **ARCHITECTURES[request.param]),
        SpatialGMMSegmenter(3, image_shape=(H, W), covariance_type="diag", random_state=0),
    )
    return _fit_quietly(pipe, X), X


def _assert_identical(loaded, pipe, X):
    head, loaded_head = pipe[:2], loaded[:2]
    Z = head.transform(X)
    np.testing.assert_array_equal(loaded_head.transform(X), Z)
    np.testing.assert_array_equal(loaded_head.inverse_transform(Z), head.inverse_transform(Z))
    np.testing.assert_array_equal(
        loaded[1].reconstruct(head[0].transform(X)), pipe[1].reconstruct(head[0].transform(X))
    )
    assert loaded[1].score(head[0].transform(X)) == pipe[1].score(head[0].transform(X))
    if len(pipe) == 3:
        np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
        np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
        np.testing.assert_array_equal(loaded[-1].labels_, pipe[-1].labels_)


@pytest.mark.parametrize("with_segmenter", [True, False], ids=["segmenter", "head"])
def test_safe_round_trip_is_identical_for_every_architecture(fitted_arch, with_segmenter, tmp_path):
    pipe, X = fitted_arch
    pipe = pipe if with_segmenter else pipe[:2]
    path = tmp_path / "model.hsiae"
    written = save_model(path, pipe)
    assert written.format == "hsiae" and written.format_version == FORMAT_VERSION
    loaded, info = load_model(path)
    assert info.format == "hsiae"
    assert info.has_segmenter is with_segmenter
    assert info.steps == tuple(name for name, _ in pipe.steps)
    np.testing.assert_allclose(info.wavelengths, WAVELENGTHS)
    _assert_identical(loaded, pipe, X)
    # parameters come back with their types (tuples stay tuples, arrays stay arrays)
    for (_, a), (_, b) in zip(pipe.steps, loaded.steps):
        pa, pb = a.get_params(), b.get_params()
        assert set(pa) == set(pb)
        for key in pa:
            if isinstance(pa[key], np.ndarray):
                np.testing.assert_array_equal(pb[key], pa[key])
            else:
                assert pb[key] == pa[key] and type(pb[key]) is type(pa[key]), key
    for key, values in pipe[1].history_.items():
        np.testing.assert_array_equal(loaded[1].history_[key], values)
        assert loaded[1].history_[key].dtype == values.dtype
    assert (loaded[1].best_epoch_, loaded[1].n_epochs_) == (pipe[1].best_epoch_, pipe[1].n_epochs_)
    assert not loaded[1].net_.module_.training
    assert list(loaded[1].get_feature_names_out()) == list(pipe[1].get_feature_names_out())


def test_safe_file_is_plain_json_and_tensors(fitted, tmp_path):
    pipe, _ = fitted
    path = tmp_path / "m.hsiae"
    save_model(path, pipe)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["model.json", "weights.pt"]
        doc = json.loads(zf.read("model.json"))
        state = torch.load(io.BytesIO(zf.read("weights.pt")), weights_only=True)
    assert doc["format"] == "hsiae-model" and doc["format_version"] == FORMAT_VERSION
    meta = doc["metadata"]
    assert meta["n_bands"] == B and meta["wavelengths"] == pytest.approx(WAVELENGTHS.tolist())
    assert {"hsiae", "torch", "scikit-learn"} <= set(meta["versions"])
    assert [s["class"] for s in doc["steps"]] == ["SpectralResampler", "AEDEncoder", "SpatialGMMSegmenter"]
    assert doc["steps"][1]["params"]["zdims"] == 3
    assert set(state) == set(pipe[1].net_.module_.state_dict())
    # the first bytes say zip, not pickle
    assert path.read_bytes()[:4] == b"PK\x03\x04"


def test_safe_load_leaves_the_global_rng_untouched(fitted, tmp_path):
    pipe, _ = fitted
    save_model(tmp_path / "m.hsiae", pipe)
    torch.manual_seed(7)
    state = torch.random.get_rng_state()
    load_model(tmp_path / "m.hsiae")
    assert torch.equal(state, torch.random.get_rng_state())


def test_same_seed_same_labels_across_runs_and_safe_round_trip(tmp_path):
    X = _spectra(4)

    def run():
        return _fit_quietly(
            make_pipeline(
                SpectralResampler(n_bands=12),
                AEDEncoder(zdims=2, channels=(2, 4), max_epochs=2, random_state=5),
                SpatialGMMSegmenter(3, image_shape=(H, W), random_state=5),
            ),
            X,
        )

    first, second = run(), run()
    np.testing.assert_array_equal(first[-1].labels_, second[-1].labels_)
    save_model(tmp_path / "m.hsiae", first)
    loaded, _ = load_model(tmp_path / "m.hsiae")
    np.testing.assert_array_equal(loaded.predict(X), first[-1].labels_)


def test_safe_weights_are_read_weights_only_on_the_cpu(fitted, tmp_path, monkeypatch):
    """A GPU-trained model loads on a CPU machine: the device is reset and tensors are mapped."""
    pipe, X = fitted
    enc = pipe[1]
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(enc, "device", "cuda")  # pretend it was trained on a GPU
    save_model(tmp_path / "gpu.hsiae", pipe)
    monkeypatch.undo()
    monkeypatch.setattr(torch, "load", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded, _ = load_model(tmp_path / "gpu.hsiae")
    assert calls == [{"map_location": "cpu", "weights_only": True}]
    assert loaded[1].device == "cpu" and loaded[1].net_.device == "cpu"
    assert next(loaded[1].net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def test_safe_save_refuses_what_json_cannot_hold(fitted, tmp_path):
    pipe, _ = fitted
    X = _spectra(5)
    rs_pipe = _fit_quietly(
        make_pipeline(
            SpectralResampler(n_bands=12),
            AEDEncoder(zdims=2, channels=(2,), max_epochs=1, random_state=np.random.RandomState(0)),
        ),
        X,
    )
    with pytest.raises(ValueError, match="AEDEncoder.random_state is a RandomState.*int"):
        save_model(tmp_path / "m.hsiae", rs_pipe)
    assert os.listdir(tmp_path) == []
    save_model(tmp_path / "m.joblib", rs_pipe)  # a pickle can hold it


def test_safe_failed_write_leaves_nothing_behind(fitted, tmp_path, monkeypatch):
    pipe, _ = fitted

    def broken_save(obj, fh, *args, **kwargs):
        fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    (tmp_path / "old.hsiae").write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        save_model(tmp_path / "old.hsiae", pipe, force=True)
    assert os.listdir(tmp_path) == ["old.hsiae"]
    assert (tmp_path / "old.hsiae").read_bytes() == b"old"


class _Boom:
    """Unpickling this would create a file: proof that something ran."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_named_hsiae_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    _Boom.marker = marker
    path = tmp_path / "evil.hsiae"
    path.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ValueError, match="not a valid .hsiae model file.*not a readable zip"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["evil.model", "evil.tif", "evil", "evil.joblib.bak"])
def test_a_pickle_under_another_name_is_refused_without_being_unpickled(tmp_path, name):
    # only .joblib/.pkl are unpickled: any other name is refused before the file is opened
    marker = tmp_path / "pwned"
    _Boom.marker = marker
    path = tmp_path / name
    path.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ValueError, match=r"\.hsiae.*\.joblib.*\.pkl") as caught:
        load_model(path)
    assert name in str(caught.value)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".joblib", ".pkl", ".JOBLIB"])
def test_loading_a_pickle_warns_that_it_runs_code(fitted, tmp_path, suffix):
    pipe, X = fitted
    path = tmp_path / f"m{suffix}"
    save_model(path, pipe)
    with pytest.warns(PickleModelWarning, match=f"m{suffix}.*runs code.*trust.*\\.hsiae"):
        loaded, info = load_model(path)
    assert info.format == "joblib"
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def test_loading_the_safe_format_does_not_warn(fitted, tmp_path):
    pipe, _ = fitted
    save_model(tmp_path / "m.hsiae", pipe)
    os.link(tmp_path / "m.hsiae", tmp_path / "zip.joblib")  # a zip under a pickle's name: read safely
    for name in ("m.hsiae", "zip.joblib"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_model(tmp_path / name)


@pytest.mark.parametrize("name", ["m.tif", "m.model", "m", "m.hsiae.tmp"])
def test_save_refuses_a_name_without_a_model_extension(fitted, tmp_path, name):
    # any name but .hsiae/.joblib/.pkl used to be written as a pickle, a .tif included
    pipe, _ = fitted
    with pytest.raises(ValueError, match=r"\.hsiae.*\.joblib.*\.pkl"):
        save_model(tmp_path / name, pipe)
    assert os.listdir(tmp_path) == []


def test_model_extensions_are_case_insensitive(fitted, tmp_path):
    pipe, X = fitted
    save_model(tmp_path / "m.HSIAE", pipe)
    loaded, info = load_model(tmp_path / "m.HSIAE")
    assert info.format == "hsiae"
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def _tamper(src, dst, *, json_edit=None, members=None, weights=None):
    """Copy the .hsiae archive ``src`` to ``dst``, editing model.json, members or weights."""
    with zipfile.ZipFile(src) as zf:
        content = {name: zf.read(name) for name in zf.namelist()}
    if json_edit is not None:
        doc = json.loads(content["model.json"])
        json_edit(doc)
        content["model.json"] = json.dumps(doc).encode()
    if weights is not None:
        content["weights.pt"] = weights
    if members is not None:
        content = {name: content[name] for name in members}
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return dst


def _set(path, value):
    def edit(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _evil_weights(marker):
    _Boom.marker = marker
    buf = io.BytesIO()
    torch.save({"x": _Boom()}, buf)
    return buf.getvalue()


TAMPERED = {
    "missing weights": (dict(members=["model.json"]), "lacks weights.pt"),
    "missing json": (dict(members=["weights.pt"]), "lacks model.json"),
    "class outside the allow-list": (
        dict(json_edit=_set(["steps", 1, "class"], "os.system")),
        "'os.system', which is not one of the classes",
    ),
    "a Pipeline class": (dict(json_edit=_set(["steps", 0, "class"], "Pipeline")), "not one of the classes"),
    "steps in the wrong order": (dict(json_edit=lambda d: d["steps"].reverse()), "must be a SpectralResampler"),
    "wrong means shape": (
        dict(json_edit=_set(["steps", 2, "fitted", "means_", "shape"], [3, 5])),
        "means_ holds an array of shape",
    ),
    "means of another size": (
        dict(
            json_edit=_set(
                ["steps", 2, "fitted", "means_"], {"__ndarray__": [[0.0] * 5] * 3, "dtype": "float64", "shape": [3, 5]}
            )
        ),
        r"means_ should be an array of shape \(3, 3\)",
    ),
    "NaN covariance": (
        dict(json_edit=_set(["steps", 2, "fitted", "weights_", "__ndarray__", 0], "nan")),
        "weights_ holds NaN",
    ),
    "interpolation matrix of another size": (
        dict(
            json_edit=_set(
                ["steps", 0, "fitted", "forward_matrix_"], {"__ndarray__": [[1.0]], "dtype": "float64", "shape": [1, 1]}
            )
        ),
        "forward_matrix_ should be an array of shape",
    ),
    "zdims that the weights do not fit": (
        dict(json_edit=_set(["steps", 1, "params", "zdims"], 5)),
        "SpatialGMMSegmenter.n_features_in_ is 3, but the encoder gives 5",
    ),
    "weights of another network": (
        dict(json_edit=lambda d: (_set(["steps", 1, "params", "zdims"], 4)(d), d["steps"].pop())),
        "does not fit the encoder's network",
    ),
    "invalid parameter": (dict(json_edit=_set(["steps", 1, "params", "architecture"], "gru")), "invalid AEDEncoder"),
    "unknown parameter": (dict(json_edit=_set(["steps", 0, "params", "evil"], 1)), "no parameters \\['evil'\\]"),
    "unknown tag": (
        dict(json_edit=_set(["steps", 0, "params", "wavelengths"], {"__class__": "os.system"})),
        "unknown tagged value",
    ),
    "array of objects": (
        dict(json_edit=_set(["steps", 0, "fitted", "scale_"], {"__ndarray__": [1], "dtype": "object", "shape": [1]})),
        "dtype 'object'",
    ),
    "band count": (
        dict(json_edit=lambda d: (_set(["metadata", "n_bands"], 7)(d), _set(["metadata", "wavelengths"], None)(d))),
        "the model says 7 input bands",
    ),
    "wavelengths of another length": (
        dict(json_edit=_set(["metadata", "wavelengths"], [1.0, 2.0])),
        "wavelengths should be 20",
    ),
    "attribute shadowing a method": (
        dict(json_edit=_set(["steps", 0, "fitted", "transform"], 1)),
        "unexpected attributes",
    ),
    "private attribute": (dict(json_edit=_set(["steps", 1, "fitted", "__class__"], "x")), "unexpected attributes"),
    "missing attribute": (dict(json_edit=lambda d: d["steps"][1]["fitted"].pop("history_")), "lacks the fitted"),
    "weights that are not tensors": (dict(weights=b"not torch"), "weights.pt is not a tensor"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_tampered_safe_files_are_clear_value_errors(fitted, tmp_path, case):
    pipe, _ = fitted
    good = tmp_path / "good.hsiae"
    save_model(good, pipe)
    changes, message = TAMPERED[case]
    bad = _tamper(good, tmp_path / "bad.hsiae", **changes)
    with pytest.raises(ValueError, match=message) as err:
        load_model(bad)
    assert str(err.value).startswith(f"'{bad}' is not a valid .hsiae model file")


def test_pickled_objects_in_the_weights_never_run(fitted, tmp_path):
    pipe, _ = fitted
    good = tmp_path / "good.hsiae"
    save_model(good, pipe)
    marker = tmp_path / "pwned"
    bad = _tamper(good, tmp_path / "bad.hsiae", weights=_evil_weights(marker))
    with pytest.raises(ValueError, match="weights.pt is not a tensor state dict"):
        load_model(bad)
    assert not marker.exists()


def test_damaged_safe_files_are_clear_value_errors(fitted, tmp_path):
    pipe, _ = fitted
    good = tmp_path / "good.hsiae"
    save_model(good, pipe)
    data = good.read_bytes()
    cases = {
        "truncated.hsiae": data[: len(data) // 2],
        "empty.hsiae": b"",
        "noise.hsiae": np.random.default_rng(0).bytes(300),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match="not a valid .hsiae model file"):
            load_model(tmp_path / name)
    with zipfile.ZipFile(good) as zf:
        weights = zf.read("weights.pt")
    for text in (
        b"{not json",
        b"[1, 2]",
        b'{"format": "hsiae-model", "format_version": "x"}',
        b"[" * 100000 + b"]" * 100000,
    ):
        bad = tmp_path / "bad.hsiae"
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr("model.json", text)
            zf.writestr("weights.pt", weights)
        with pytest.raises(ValueError, match="not a valid .hsiae model file"):
            load_model(bad)


def test_newer_safe_format_asks_to_upgrade(fitted, tmp_path):
    pipe, _ = fitted
    save_model(tmp_path / "good.hsiae", pipe)
    newer = FORMAT_VERSION + 1
    bad = _tamper(tmp_path / "good.hsiae", tmp_path / "new.hsiae", json_edit=_set(["format_version"], newer))
    with pytest.raises(ValueError, match=f"format version {newer} by a newer hsiae.*upgrade"):
        load_model(bad)


def test_other_public_fitted_attributes_are_kept(fitted, tmp_path):
    """A fitted attribute the format does not list (e.g. added by a later hsiae) survives."""
    pipe, _ = fitted
    pipe[1].extra_info_ = {"offset": 0.5, "shape": (2, 3)}
    try:
        save_model(tmp_path / "m.hsiae", pipe)
    finally:
        del pipe[1].extra_info_
    loaded, _ = load_model(tmp_path / "m.hsiae")
    assert loaded[1].extra_info_ == {"offset": 0.5, "shape": (2, 3)}


def test_a_zip_under_another_name_is_read_safely(fitted, tmp_path):
    pipe, X = fitted
    save_model(tmp_path / "m.hsiae", pipe)
    os.rename(tmp_path / "m.hsiae", tmp_path / "m.joblib")
    loaded, info = load_model(tmp_path / "m.joblib")
    assert info.format == "hsiae"
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def test_a_wiener_denoiser_round_trips_in_both_formats(tmp_path):
    X = _spectra() + np.random.default_rng(1).normal(scale=0.3, size=(H * W, B)).astype(np.float32)
    pipe = _fit_quietly(
        make_pipeline(
            SpectralResampler(n_bands=16, wavelengths=WAVELENGTHS),
            AEDEncoder(zdims=3, max_epochs=1, shrinkage="wiener", random_state=0),
        ),
        X,
    )
    assert np.any(pipe[1].shrinkage_gains_ < 0.999)  # the gains matter for this data
    for name in ("m.hsiae", "m.joblib"):
        save_model(tmp_path / name, pipe)
        loaded, _ = load_model(tmp_path / name)
        np.testing.assert_array_equal(loaded[1].shrinkage_gains_, pipe[1].shrinkage_gains_)
        np.testing.assert_array_equal(
            loaded.inverse_transform(loaded.transform(X)), pipe.inverse_transform(pipe.transform(X))
        )


# --------------------------------------------------------------------------- the unmixer


def _unmixing_spectra():
    from hsiae.datasets import make_unmixing_scene

    scene = make_unmixing_scene(3, n_bands=B, shape=(H, W), snr=40, random_state=0)
    return scene.cube.reshape(-1, B).astype(np.float64)


@pytest.fixture(scope="module")
def unmixers():
    """A fitted AEUnmixer alone and one after a resampler, and their training spectra."""
    from hsiae import AEUnmixer

    X = _unmixing_spectra()
    alone = AEUnmixer(3, hidden_sizes=(6,), max_epochs=2, random_state=0).fit(X)
    pipe = make_pipeline(
        SpectralResampler(n_bands=16, scaling=None, wavelengths=WAVELENGTHS),
        AEUnmixer(3, max_epochs=2, random_state=0),
    ).fit(X)
    return {"alone": alone, "pipeline": pipe}, X


def _assert_same_unmixer(loaded, saved):
    from hsiae import AEUnmixer

    assert type(loaded) is AEUnmixer and loaded is not saved
    for name in ("endmembers_", "init_endmembers_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(saved, name))
    assert loaded.scale_ == saved.scale_ and loaded.n_epochs_ == saved.n_epochs_
    assert loaded.n_features_in_ == saved.n_features_in_
    assert set(loaded.history_) == set(saved.history_)
    for key, values in saved.history_.items():
        np.testing.assert_array_equal(loaded.history_[key], values)
        assert loaded.history_[key].dtype == values.dtype
    for key, value in saved.get_params().items():
        assert loaded.get_params()[key] == value and type(loaded.get_params()[key]) is type(value)
    assert loaded.device == "cpu" and not loaded.net_.module_.training
    assert list(loaded.get_feature_names_out()) == list(saved.get_feature_names_out())


@pytest.mark.parametrize("suffix", [".hsiae", ".joblib"])
@pytest.mark.parametrize("kind", ["alone", "pipeline"])
def test_unmixer_round_trip_is_identical(unmixers, kind, suffix, tmp_path):
    models, X = unmixers
    model = models[kind]
    path = tmp_path / f"unmixer{suffix}"
    written = save_model(path, model)
    loaded, info = load_model(path)

    assert type(loaded) is type(model)
    unmixer, saved = (loaded, model) if kind == "alone" else (loaded[-1], model[-1])
    _assert_same_unmixer(unmixer, saved)
    A = model.transform(X)
    np.testing.assert_array_equal(loaded.transform(X), A)
    np.testing.assert_array_equal(loaded.inverse_transform(A), model.inverse_transform(A))
    Xu = X if kind == "alone" else model[0].transform(X)
    np.testing.assert_array_equal(unmixer.reconstruct(Xu), saved.reconstruct(Xu))
    assert unmixer.score(Xu) == saved.score(Xu)
    # the fcls solver works from the restored endmembers_ alone
    np.testing.assert_array_equal(
        unmixer.set_params(solver="fcls").transform(Xu), saved.set_params(solver="fcls").transform(Xu)
    )
    saved.set_params(solver="encoder")

    assert info.format == suffix[1:] == written.format
    assert info.format_version == FORMAT_VERSION and info.n_bands == B == written.n_bands
    assert not info.has_segmenter
    if kind == "alone":
        assert info.steps == ("aeunmixer",) and info.wavelengths is None
        check_model_bands(info, B, WAVELENGTHS)  # no wavelengths to compare: the count decides
    else:
        assert info.steps == ("spectralresampler", "aeunmixer")
        np.testing.assert_allclose(info.wavelengths, WAVELENGTHS)
        check_model_bands(info, B, WAVELENGTHS)
        with pytest.raises(ValueError, match="both have 20 bands, but their wavelengths differ"):
            check_model_bands(info, B, WAVELENGTHS + 10)
    with pytest.raises(ValueError, match="trained on cubes with 20 bands.*this cube has 16 bands"):
        check_model_bands(info, 16)


def test_a_lone_unmixer_keeps_the_wavelengths_it_is_given(unmixers, tmp_path):
    models, _ = unmixers
    save_model(tmp_path / "u.hsiae", models["alone"], wavelengths=WAVELENGTHS)
    _, info = load_model(tmp_path / "u.hsiae")
    np.testing.assert_allclose(info.wavelengths, WAVELENGTHS)
    with pytest.raises(ValueError, match="20 finite values, one per input band of the model"):
        save_model(tmp_path / "v.hsiae", models["alone"], wavelengths=WAVELENGTHS[:5])


def test_a_lone_unmixer_is_one_step_of_plain_json_and_tensors(unmixers, tmp_path):
    models, _ = unmixers
    path = tmp_path / "u.hsiae"
    save_model(path, models["alone"])
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read(JSON_MEMBER))
        state = torch.load(io.BytesIO(zf.read(WEIGHTS_MEMBER)), weights_only=True)
    [step] = doc["steps"]
    assert (step["name"], step["class"]) == ("aeunmixer", "AEUnmixer")
    assert step["params"]["n_endmembers"] == 3
    assert step["params"]["hidden_sizes"] == {"__tuple__": [6]}
    assert set(step["fitted"]) == {
        "n_features_in_",
        "endmembers_",
        "init_endmembers_",
        "scale_",
        "history_",
        "n_epochs_",
    }
    assert step["fitted"]["endmembers_"]["shape"] == [3, B]
    assert set(state) == set(models["alone"].net_.module_.state_dict())


@pytest.mark.parametrize("suffix", [".hsiae", ".joblib"])
def test_a_gpu_trained_unmixer_loads_on_the_cpu(tmp_path, suffix):
    from hsiae import AEUnmixer

    X = _unmixing_spectra()
    unmixer = AEUnmixer(2, max_epochs=1, random_state=0).fit(X)
    expected = unmixer.transform(X)
    unmixer.device = "cuda"  # as if trained on a GPU (the tensors are on the CPU anyway)
    unmixer.net_.device = "cuda"
    save_model(tmp_path / f"gpu{suffix}", unmixer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no skorch DeviceWarning escapes
        warnings.simplefilter("ignore", PickleModelWarning)  # said on every pickle
        loaded, _ = load_model(tmp_path / f"gpu{suffix}")
    assert loaded.device == "cpu" and loaded.net_.device == "cpu"
    assert next(loaded.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), expected)


def test_an_unfitted_unmixer_is_refused(unmixers, tmp_path):
    from hsiae import AEUnmixer

    models, _ = unmixers
    for suffix in (".hsiae", ".joblib"):
        with pytest.raises(ValueError, match="pipeline is an AEUnmixer that is not fitted; fit it before saving it"):
            save_model(tmp_path / f"u{suffix}", AEUnmixer(3))
        unfitted = make_pipeline(models["pipeline"][0], AEUnmixer(3))
        with pytest.raises(ValueError, match="step 'aeunmixer' \\(AEUnmixer\\) is not fitted"):
            save_model(tmp_path / f"p{suffix}", unfitted)
    # an unmixer in any other pipeline is none of the models a file holds
    with pytest.raises(ValueError, match="or a fitted AEUnmixer, got a Pipeline of AEUnmixer;"):
        save_model(tmp_path / "one.hsiae", make_pipeline(models["alone"]))
    assert os.listdir(tmp_path) == []

    # a joblib file whose unmixer is not fitted (written by hand) is refused on load
    joblib.dump(
        {
            "format": FORMAT_MARKER,
            "format_version": FORMAT_VERSION,
            "pipeline": AEUnmixer(3),
            "metadata": {"n_bands": B},
        },
        tmp_path / "u.joblib",
    )
    with pytest.raises(ValueError, match="the model in .* is an AEUnmixer that is not fitted"):
        load_model(tmp_path / "u.joblib")


def _weights(edit):
    """weights.pt content made by ``edit(state)`` from the lone unmixer's saved tensors."""

    def make(src):
        with zipfile.ZipFile(src) as zf:
            state = torch.load(io.BytesIO(zf.read(WEIGHTS_MEMBER)), weights_only=True)
        edit(state)
        buf = io.BytesIO()
        torch.save(state, buf)
        return buf.getvalue()

    return make


def _scaled(key, factor):
    def edit(doc):
        array = doc["steps"][0]["fitted"][key]
        array["__ndarray__"] = (np.array(array["__ndarray__"]) * factor).tolist()

    return edit


FITTED = ["steps", 0, "fitted"]
PARAMS = ["steps", 0, "params"]
TAMPERED_UNMIXERS = {
    "missing weights": (dict(members=[JSON_MEMBER]), "lacks weights.pt"),
    "endmembers of another shape": (
        dict(
            json_edit=_set(
                [*FITTED, "endmembers_"], {"__ndarray__": [[1.0] * 5] * 3, "dtype": "float64", "shape": [3, 5]}
            )
        ),
        r"AEUnmixer.endmembers_ should be an array of shape \(3, 20\), got \(3, 5\)",
    ),
    "endmembers with a wrong shape tag": (
        dict(json_edit=_set([*FITTED, "endmembers_", "shape"], [3, 7])),
        "endmembers_ holds an array of shape",
    ),
    "negative endmembers": (
        dict(json_edit=_scaled("endmembers_", -1.0)),
        "AEUnmixer.endmembers_ holds negative values",
    ),
    "NaN in the starting endmembers": (
        dict(json_edit=_set([*FITTED, "init_endmembers_", "__ndarray__", 0, 0], "nan")),
        "AEUnmixer.init_endmembers_ holds NaN",
    ),
    "endmembers that the decoder does not give": (
        dict(json_edit=_scaled("endmembers_", 2.0)),
        "weights.pt does not agree with the AEUnmixer's fitted attributes",
    ),
    "another scale": (
        dict(json_edit=_set([*FITTED, "scale_"], 123.0)),
        "weights.pt does not agree with the AEUnmixer's fitted attributes",
    ),
    "scale of the wrong type": (
        dict(json_edit=_set([*FITTED, "scale_"], "1.0")),
        "AEUnmixer.scale_ should be a finite number",
    ),
    "missing starting endmembers": (
        dict(json_edit=lambda d: d["steps"][0]["fitted"].pop("init_endmembers_")),
        r"AEUnmixer lacks the fitted attributes \['init_endmembers_'\]",
    ),
    "history of another length": (
        dict(json_edit=_set([*FITTED, "n_epochs_"], 3)),
        r"AEUnmixer.history_\['\w+'\] should be 3",
    ),
    "history without losses": (
        dict(json_edit=lambda d: d["steps"][0]["fitted"]["history_"].pop("train_loss")),
        "AEUnmixer.history_ should map epoch, train_loss and dur",
    ),
    "band count": (
        dict(json_edit=_set(["metadata", "n_bands"], 7)),
        "AEUnmixer.n_features_in_ is 20, but the model says 7 bands",
    ),
    "n_endmembers of the wrong type": (
        dict(json_edit=_set([*PARAMS, "n_endmembers"], "three")),
        "invalid AEUnmixer parameters",
    ),
    "more endmembers": (
        dict(json_edit=_set([*PARAMS, "n_endmembers"], 4)),
        r"AEUnmixer.endmembers_ should be an array of shape \(4, 20\)",
    ),
    "unknown normalisation": (dict(json_edit=_set([*PARAMS, "normalize"], "l3")), "invalid AEUnmixer parameters"),
    "unknown parameter": (dict(json_edit=_set([*PARAMS, "evil"], 1)), r"AEUnmixer has no parameters \['evil'\]"),
    "hidden sizes the weights do not fit": (
        dict(json_edit=_set([*PARAMS, "hidden_sizes"], {"__tuple__": [7]})),
        r"does not fit the unmixer's network: encoder.0.bias has shape \(6,\), expected \(7,\)",
    ),
    "a million hidden layers": (
        dict(json_edit=_set([*PARAMS, "hidden_sizes"], [1] * 1_000_000)),
        r"AEUnmixer parameters \['hidden_sizes'\] do not match the 10 stored tensors",
    ),
    "hidden layers wider than torch can hold": (
        dict(json_edit=_set([*PARAMS, "hidden_sizes"], [10**30])),
        r"the AEUnmixer parameters do not describe a network \([^\n]*Overflow[^\n]*\);",
    ),
    "hidden sizes that are no network": (
        dict(json_edit=_set([*PARAMS, "hidden_sizes"], [0])),
        "the AEUnmixer parameters do not describe a network",
    ),
    "a missing tensor": (
        dict(weights=_weights(lambda s: s.pop("encoder.0.bias"))),
        r"does not fit the unmixer's network: missing \['encoder.0.bias'\]",
    ),
    "NaN weights": (
        dict(weights=_weights(lambda s: s["encoder.0.weight"].fill_(float("nan")))),
        "tensor encoder.0.weight is not finite float32 weights",
    ),
    "steps after the unmixer": (
        dict(json_edit=lambda d: d["steps"].append(dict(d["steps"][0], name="again"))),
        r"step 1 \(AEUnmixer\) comes after the last step of a model",
    ),
    "a resampler without its unmixer": (
        dict(json_edit=lambda d: d["steps"].__setitem__(0, dict(d["steps"][0], **{"class": "SpectralResampler"}))),
        r"the steps \['SpectralResampler'\] end before the model does",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERED_UNMIXERS))
def test_tampered_unmixer_files_are_clear_value_errors(unmixers, tmp_path, case):
    models, _ = unmixers
    good = tmp_path / "good.hsiae"
    save_model(good, models["alone"])
    changes, message = TAMPERED_UNMIXERS[case]
    if callable(changes.get("weights")):
        changes = dict(changes, weights=changes["weights"](good))
    bad = _tamper(good, tmp_path / "bad.hsiae", **changes)
    with pytest.raises(ValueError, match=message) as err:
        load_model(bad)
    assert str(err.value).startswith(f"'{bad}' is not a valid .hsiae model file")


def test_a_tampered_unmixer_pipeline_names_the_resamplers_bands(unmixers, tmp_path):
    models, _ = unmixers
    good = tmp_path / "good.hsiae"
    save_model(good, models["pipeline"])
    bad = _tamper(good, tmp_path / "bad.hsiae", json_edit=_set(["steps", 1, "fitted", "n_features_in_"], 20))
    with pytest.raises(ValueError, match="n_features_in_ is 20, but the resampler gives 16"):
        load_model(bad)
    swapped = _tamper(good, tmp_path / "swapped.hsiae", json_edit=lambda d: d["steps"].reverse())
    with pytest.raises(ValueError, match=r"step 1 \(SpectralResampler\) comes after the last"):
        load_model(swapped)


def test_pickled_objects_in_an_unmixers_weights_never_run(unmixers, tmp_path):
    models, _ = unmixers
    good = tmp_path / "good.hsiae"
    save_model(good, models["alone"])
    marker = tmp_path / "pwned"
    bad = _tamper(good, tmp_path / "bad.hsiae", weights=_evil_weights(marker))
    with pytest.raises(ValueError, match="weights.pt is not a tensor state dict"):
        load_model(bad)
    assert not marker.exists()


def _first_python_block(page):
    """The first ```python block of a page of the documentation (``docs/...``)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / page).read_text(encoding="utf-8")
    block = text.index("```python\n") + len("```python\n")
    return text[block : text.index("```", block)]


def test_the_guide_saving_models_example_runs_as_written(fitted, tmp_path, monkeypatch):
    # load_model gives back the model and its ModelInfo; the user guide shows how to take both
    pipe, X = fitted
    monkeypatch.chdir(tmp_path)
    scope = {"pipe": pipe, "X": X}
    exec(_first_python_block("docs/user_guide/persistence.md"), scope)
    assert isinstance(scope["pipe"], Pipeline) and scope["pipe"] is not pipe
    assert scope["info"].n_bands == B and scope["info"].format == "hsiae"
    np.testing.assert_array_equal(scope["labels"], pipe.predict(X))


# --------------------------------------------------------------------------- crafted archives


def _bomb(path, weights, *, json_mib=0, weights_mib=0, json_method=zipfile.ZIP_DEFLATED):
    """A .hsiae archive whose members expand from a few KiB to ``json_mib`` / ``weights_mib`` MiB.

    Written in a streaming way, so that neither the test nor the archive holds the expanded bytes.
    """
    chunk = b"0," * (1 << 19)  # 1 MiB of a JSON array's items
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo(JSON_MEMBER)
        info.compress_type = json_method
        with zf.open(info, "w", force_zip64=True) as fh:
            fh.write(b'{"format":"hsiae-model","format_version":1,"junk":[')
            for _ in range(json_mib):
                fh.write(chunk)
            fh.write(b"0]}")
        info = zipfile.ZipInfo(WEIGHTS_MEMBER)
        info.compress_type = zipfile.ZIP_DEFLATED if weights_mib else zipfile.ZIP_STORED
        with zf.open(info, "w", force_zip64=True) as fh:
            fh.write(weights)
            for _ in range(weights_mib):
                fh.write(bytes(1 << 20))
    return path


def _load_measured(path):
    """``load_model(path)``'s error and the peak of Python allocations while it ran (bytes)."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            load_model(path)
        return str(err.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "json_mib, weights_mib, message",
    [
        (100, 0, r"model.json would take 100 MiB once decompressed, more than the 64 MiB"),
        (20, 0, r"model.json would expand from [\d.]+ KiB in the archive to 20 MiB; beyond 16 MiB"),
        (0, 100, r"weights.pt would expand from [\d.]+ KiB in the archive to 100 MiB"),
    ],
)
def test_a_small_archive_that_expands_hugely_is_refused_before_it_is_read(
    fitted, tmp_path, json_mib, weights_mib, message
):
    # a 292 KB crafted file made the loader hold 2.1 GB for 37 s: the sizes in the archive's
    # directory are checked before a byte of a member is decompressed
    pipe, _ = fitted
    save_model(tmp_path / "good.hsiae", pipe)
    with zipfile.ZipFile(tmp_path / "good.hsiae") as zf:
        weights = zf.read(WEIGHTS_MEMBER)
    bomb = _bomb(tmp_path / "bomb.hsiae", weights, json_mib=json_mib, weights_mib=weights_mib)
    assert bomb.stat().st_size < 300_000
    text, peak = _load_measured(bomb)
    assert re.search(message, text), text
    assert text.startswith(f"'{bomb}' is not a valid .hsiae model file")
    assert peak < 4 << 20


def test_a_json_of_countless_empty_arrays_is_refused_before_it_is_parsed(fitted, tmp_path):
    # within the size limits, but a parsed empty list takes about 20 times its text
    pipe, _ = fitted
    good = save_model(tmp_path / "good.hsiae", pipe).path
    with zipfile.ZipFile(good) as zf:
        weights = zf.read(WEIGHTS_MEMBER)
    bomb = tmp_path / "lists.hsiae"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(JSON_MEMBER, b"[" + b"[]," * 1_500_000 + b"[]]")
        zf.writestr(WEIGHTS_MEMBER, weights)
    text, peak = _load_measured(bomb)
    assert "model.json opens 1500002 arrays and objects, more than the 1048576" in text, text
    assert peak < 16 << 20  # the text itself, not the lists


def test_a_member_compressed_in_a_way_hsiae_never_writes_is_refused(fitted, tmp_path):
    pipe, _ = fitted
    save_model(tmp_path / "good.hsiae", pipe)
    with zipfile.ZipFile(tmp_path / "good.hsiae") as zf:
        weights = zf.read(WEIGHTS_MEMBER)
    bomb = _bomb(tmp_path / "bz2.hsiae", weights, json_mib=1, json_method=zipfile.ZIP_BZIP2)
    text, _ = _load_measured(bomb)
    assert "model.json is compressed with bzip2" in text, text


def test_a_model_too_large_for_the_safe_format_is_not_written(fitted, tmp_path, monkeypatch):
    # the writer applies the reader's limits: it never leaves a file that load_model refuses
    from hsiae.persistence import _safe

    pipe, _ = fitted
    monkeypatch.setattr(_safe, "_MAX_JSON_BYTES", 1000)
    with pytest.raises(
        ValueError,
        match=r"too large for the \.hsiae format.*model\.json would "
        r"take .* KiB.*SpectralResampler\.\w+_ .*save it as "
        r"\.joblib",
    ):
        save_model(tmp_path / "m.hsiae", pipe)
    assert os.listdir(tmp_path) == []

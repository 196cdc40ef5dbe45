"""Tests for hsiae.persistence: save_model, load_model, check_model_bands."""

import os
import pickle
import warnings
from datetime import datetime

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.pipeline import make_pipeline

from hsiae import AEDEncoder, SpatialGMMSegmenter, SpectralResampler
from hsiae.persistence import (
    FORMAT_MARKER,
    FORMAT_VERSION,
    ModelVersionWarning,
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
    return make_pipeline(
        SpectralResampler(n_bands=16), AEDEncoder(zdims=2, max_epochs=1, random_state=0)
    )


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
    with pytest.raises(ValueError, match="20 bands.*24 bands.*wavelengths differ too"):
        check_model_bands(info, 24, np.linspace(400, 2500, 24))
    shifted = WAVELENGTHS.copy()
    shifted[3] += 5
    differ = "both have 20 bands, but their wavelengths differ.*band 3"
    with pytest.raises(ValueError, match=differ):
        check_model_bands(info, B, shifted)

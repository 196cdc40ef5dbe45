"""Bad input to every public estimator and helper: a clear error before any work, or a right result.

Each case either gives a finite result of the right shape, or raises a
ValueError/TypeError from hsiae's (or scikit-learn's) validation whose message
says what was expected and what came; never a traceback from inside torch and
never a NaN in an output.
"""

import re
import warnings

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from hsiae import (
    AEDEncoder,
    SpatialGMMSegmenter,
    SpectralResampler,
    cluster_mean_spectra,
    denoise,
    make_clustering_scorer,
    representative_spectra,
)

H, W, B = 10, 10, 20
N = H * W


def _spectra(n=N, n_bands=B, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_bands)
    centres = rng.random((n, 1))
    return np.exp(-((t - centres) ** 2) / 0.05) + 0.01 * rng.normal(size=(n, n_bands))


def _resampler():
    return SpectralResampler(n_bands=16)


def _encoder(**params):
    return AEDEncoder(
        **{"zdims": 2, "channels": (2, 4), "max_epochs": 2, "batch_size": 32, "random_state": 0, **params}
    )


def _segmenter(**params):
    return SpatialGMMSegmenter(**{"n_clusters": 3, "image_shape": (H, W), "random_state": 0, **params})


def _quietly(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # ConvergenceWarning is one
        return fn(*args)


@pytest.fixture(scope="module")
def fitted():
    X = _spectra()
    pipe = make_pipeline(_resampler(), _encoder(), _segmenter())
    _quietly(pipe.fit, X)
    return pipe, X


def _finite(result):
    results = result if isinstance(result, tuple) else (result,)
    for r in results:
        assert np.all(np.isfinite(np.asarray(r, dtype=np.float64))), "a NaN or inf in the output"


def _check(case, call):
    """Run ``call``; ``case`` is ("ok", shape) or (ExceptionType, regex)."""
    expect, detail = case
    if expect == "ok":
        result = _quietly(call)
        _finite(result)
        if detail is not None:
            assert np.asarray(result).shape == detail
        return result
    with pytest.raises(expect, match=detail) as err:
        _quietly(call)
    # hsiae's or scikit-learn's own message, not one from inside torch
    assert "torch" not in err.traceback[-1].path.as_posix().split("site-packages/")[-1][:6]
    return err


# --------------------------------------------------------------------------- arrays

_NAN = np.full((N, B), 0.5)
_NAN[3, 1] = np.nan  # column 1: kept when sliced to the segmenter's 2 features
_INF = np.full((N, B), 0.5)
_INF[3, 1] = np.inf
_CONSTANT_BAND = _spectra()
_CONSTANT_BAND[:, 5] = 0.3

# A cube passed where spectra as rows go: what was expected, what came, and how to get one from the other.
_CUBE = (
    r"takes spectra as rows, an array of shape \(n_pixels, n_bands\), but got a 3-D array of shape \(10, 10, \d+\); "
    r"for a cube of shape \(rows, cols, bands\) pass cube\.reshape\(-1, cube\.shape\[-1\]\), or hsiae\.pixel_spectra"
)

# name -> (X for fit, expectation): ("ok", shape) or (exception, message regex)
FIT_INPUTS = {
    "nan": (_NAN, (ValueError, "NaN")),
    "inf": (_INF, (ValueError, "infinity|inf")),
    "empty rows": (np.empty((0, B)), (ValueError, "0 sample")),
    "empty bands": (np.empty((N, 0)), (ValueError, "0 feature")),
    "1-D": (np.ones(B), (ValueError, "Expected a 2-dimensional|2D array")),
    "3-D": (np.ones((H, W, B)), (ValueError, _CUBE)),
    "strings": (np.full((N, B), "a"), (ValueError, "could not convert|dtype|numeric")),
    "zero spectra": (np.zeros((N, B)), ("ok", None)),
    "constant band": (_CONSTANT_BAND, ("ok", None)),
    "negative": (-_spectra(), ("ok", None)),
    "uint16": ((1000 * _spectra()).astype(np.uint16), ("ok", None)),
    "int64": ((1000 * _spectra()).astype(np.int64), ("ok", None)),
    "bool": (_spectra() > 0.5, ("ok", None)),
    "float16": (_spectra().astype(np.float16), ("ok", None)),
}


@pytest.mark.parametrize("name", list(FIT_INPUTS))
@pytest.mark.parametrize("estimator", ["resampler", "encoder", "segmenter", "pipeline"])
def test_fit_on_bad_arrays(estimator, name):
    X, case = FIT_INPUTS[name]
    make = {
        "resampler": _resampler,
        "encoder": _encoder,
        "segmenter": _segmenter,
        "pipeline": lambda: make_pipeline(_resampler(), _encoder(), _segmenter()),
    }[estimator]
    est = make()
    if case[0] != "ok":
        _check(case, lambda: est.fit(X))
        return
    _quietly(est.fit, X)
    out = est.predict(X) if estimator in ("segmenter", "pipeline") else est.transform(X)
    _finite(out)
    assert out.shape[0] == N
    if estimator in ("segmenter", "pipeline"):
        assert out.min() >= 0 and out.max() < 3
    if estimator in ("encoder", "pipeline"):
        history = (est if estimator == "encoder" else est[1]).history_
        assert np.all(np.isfinite(history["train_loss"]))


@pytest.mark.parametrize("step", [0, 1, 2, "pipeline"])
@pytest.mark.parametrize("name", ["nan", "inf", "empty rows", "1-D", "3-D"])
def test_transform_and_predict_on_bad_arrays(fitted, step, name):
    pipe, X = fitted
    bad, case = FIT_INPUTS[name]
    if step in (1, 2):  # the encoder and segmenter take the previous step's features
        n_features = pipe[step].n_features_in_
        bad = bad[..., :n_features] if bad.ndim > 1 else bad[:n_features]
    est = pipe if step == "pipeline" else pipe[step]
    method = est.predict if step in (2, "pipeline") else est.transform
    _check(case, lambda: method(bad))


@pytest.mark.parametrize("step", [0, 1, 2])
def test_wrong_band_count_names_both_numbers(fitted, step):
    pipe, _ = fitted
    expected = pipe[step].n_features_in_
    wrong = np.ones((N, expected + 3))
    method = pipe[step].predict if step == 2 else pipe[step].transform
    _check((ValueError, f"{expected + 3} features.*expecting {expected}"), lambda: method(wrong))


def test_wrong_sizes_at_inverse_transform_name_both_numbers(fitted):
    pipe, _ = fitted
    _check((ValueError, "3 features.*expects 2 \\(zdims\\)"), lambda: pipe[1].inverse_transform(np.ones((4, 3))))
    _check((ValueError, "5 features.*expects 16"), lambda: pipe[0].inverse_transform(np.ones((4, 5))))
    _check((ValueError, "NaN"), lambda: pipe[1].inverse_transform(np.full((4, 2), np.nan)))
    _check((ValueError, "2D array|2-dimensional"), lambda: pipe[1].inverse_transform(np.ones(2)))


# --------------------------------------------------------------------------- magnitudes


@pytest.mark.parametrize("magnitude", [1e20, 1e25, 1e30, 1e37, 1e38])
def test_encoder_refuses_values_whose_squares_overflow_float32(magnitude):
    X = magnitude * _spectra()
    err = _check((ValueError, "scale the data"), lambda: _encoder().fit(X))
    found = re.search(r"values up to (\S+) in magnitude", str(err.value))
    assert found and float(found.group(1)) == pytest.approx(np.abs(X).max(), rel=1e-2)


def test_encoder_trains_on_large_but_safe_values():
    X = 1e15 * _spectra()
    enc = _quietly(_encoder().fit, X)
    assert np.all(np.isfinite(enc.history_["train_loss"]))
    _finite(enc.transform(X))


@pytest.mark.parametrize("magnitude", [1e20, 1e30])
def test_fitted_encoder_refuses_values_beyond_its_range(fitted, magnitude):
    pipe, X = fitted
    enc = pipe[1]
    Z = enc.transform(pipe[0].transform(X))
    big = magnitude * np.ones((4, enc.n_features_in_))
    _check((ValueError, "scale"), lambda: enc.transform(big))
    _check((ValueError, "scale"), lambda: enc.reconstruct(big))
    _check((ValueError, "scale"), lambda: enc.score(big))
    _check((ValueError, "scale"), lambda: enc.inverse_transform(magnitude * np.ones_like(Z)))


@pytest.mark.parametrize("magnitude", [1e-30, 1e30, 1e300])
def test_resampler_is_finite_for_any_float64_magnitude(magnitude):
    X = magnitude * _spectra()
    res = SpectralResampler(n_bands=16).fit(X)
    out = res.transform(X)
    _finite(out)
    np.testing.assert_allclose(res.inverse_transform(out), X, rtol=0.05, atol=0.05 * magnitude)


def test_pipeline_scales_huge_values_before_the_encoder():
    """The resampler's scaling brings 1e30-sized spectra into the encoder's range."""
    X = 1e30 * _spectra()
    pipe = _quietly(make_pipeline(_resampler(), _encoder(), _segmenter()).fit, X)
    _finite(pipe[:-1].transform(X))
    _finite(denoise(pipe, X))


def test_float32_input_near_its_limit():
    X = (3e38 * _spectra() / 1.1).astype(np.float32)
    res = SpectralResampler(n_bands=16).fit(X)
    _finite(res.transform(X))


def test_segmenter_refuses_features_whose_squares_overflow():
    _check((ValueError, "scale"), lambda: _segmenter().fit(1e200 * _spectra(n_bands=2)))
    _quietly(_segmenter().fit, 1e100 * _spectra(n_bands=2))


# --------------------------------------------------------------------------- geometry and counts


def test_segmenter_image_shape_and_cluster_count():
    Z = _spectra(n_bands=2)
    _check(
        (ValueError, re.escape("image_shape=(10, 9) implies 90 pixels, but X has 100 rows")),
        lambda: _segmenter(image_shape=(10, 9)).fit(Z),
    )
    _check((ValueError, "pair \\(H, W\\) of positive integers"), lambda: _segmenter(image_shape=(10, 10, 1)).fit(Z))
    _check((ValueError, "pair \\(H, W\\) of positive integers"), lambda: _segmenter(image_shape=(10.0, 10)).fit(Z))
    _check(
        (ValueError, "n_clusters=200 must be <= the number of pixels"),
        lambda: _segmenter(n_clusters=200, image_shape=None).fit(Z),
    )
    seg = _quietly(_segmenter().fit, Z)
    _check((ValueError, "implies 100 pixels, but X has 50 rows"), lambda: seg.predict(Z[:50]))


def test_segmenter_on_identical_pixels_gives_valid_labels():
    seg = _quietly(_segmenter().fit, np.ones((N, 2)))
    labels = seg.labels_
    assert labels.min() >= 0 and labels.max() < 3
    _finite(seg.predict_proba(np.ones((N, 2))))


def test_encoder_needs_two_spectra_and_a_training_split():
    _check((ValueError, "at least 2 spectra"), lambda: _encoder().fit(np.ones((1, B))))
    _check((ValueError, "leaves 1 for training"), lambda: _encoder(validation_fraction=0.5).fit(_spectra(n=3)))


# --------------------------------------------------------------------------- parameters

ABSURD = {
    "resampler n_bands=0": (lambda: SpectralResampler(n_bands=0), ValueError, "n_bands"),
    "resampler n_bands=1e9": (lambda: SpectralResampler(n_bands=10**9), ValueError, "n_bands=1000000000.*GiB"),
    "resampler method": (lambda: SpectralResampler(method="spline"), ValueError, "method"),
    "resampler wavelengths length": (
        lambda: SpectralResampler(wavelengths=np.arange(5.0)),
        ValueError,
        "5 values but X has 20",
    ),
    "resampler wavelengths nan": (
        lambda: SpectralResampler(wavelengths=np.r_[np.nan, np.arange(1.0, B)]),
        ValueError,
        "finite",
    ),
    "resampler wavelengths decreasing": (
        lambda: SpectralResampler(wavelengths=np.arange(B)[::-1]),
        ValueError,
        "increasing",
    ),
    "resampler targets outside": (
        lambda: SpectralResampler(target_wavelengths=[-5.0, 3.0]),
        ValueError,
        "inside the source",
    ),
    "encoder zdims=0": (lambda: _encoder(zdims=0), ValueError, "zdims"),
    "encoder zdims=1e9": (lambda: _encoder(zdims=10**9), ValueError, "parameters.*GiB|zdims"),
    "encoder channels=(1e6,)": (lambda: _encoder(channels=(10**6,)), ValueError, "parameters.*GiB|channels"),
    "encoder channels empty": (lambda: _encoder(channels=()), ValueError, "non-empty sequence"),
    "encoder channels negative": (lambda: _encoder(channels=(2, -1)), ValueError, "positive"),
    "encoder lr=0": (lambda: _encoder(lr=0), ValueError, "lr"),
    "encoder lr=nan": (lambda: _encoder(lr=float("nan")), ValueError, "lr"),
    "encoder batch_size=1": (lambda: _encoder(batch_size=1), ValueError, "batch_size"),
    "encoder heads": (
        lambda: _encoder(architecture="transformer", d_model=6, n_heads=4),
        ValueError,
        "must divide d_model",
    ),
    "encoder weights all 0": (
        lambda: _encoder(mse_weight=0, sam_weight=0, gradient_weight=0),
        ValueError,
        "nothing to train",
    ),
    "encoder device": (lambda: _encoder(device="tpu"), ValueError, "device"),
    "encoder architecture": (lambda: _encoder(architecture="gru"), ValueError, "architecture"),
    "encoder validation_fraction=1": (lambda: _encoder(validation_fraction=1.0), ValueError, "validation_fraction"),
    "segmenter n_clusters=0": (lambda: _segmenter(n_clusters=0), ValueError, "n_clusters"),
    "segmenter spatial_weight<0": (lambda: _segmenter(spatial_weight=-1), ValueError, "spatial_weight"),
    "segmenter covariance": (lambda: _segmenter(covariance_type="banana"), ValueError, "covariance_type"),
}


@pytest.mark.parametrize("name", list(ABSURD))
def test_absurd_parameters_are_refused_before_training(name):
    make, error, message = ABSURD[name]
    X = _spectra()
    if name.startswith("segmenter"):
        X = X[:, :2]
    _check((error, message), lambda: make().fit(X))


# --------------------------------------------------------------------------- pipeline helpers


def test_helpers_refuse_what_is_not_a_fitted_pipeline(fitted):
    pipe, X = fitted
    _check((TypeError, "Expected a fitted sklearn Pipeline"), lambda: representative_spectra(X))
    _check((TypeError, "Expected a fitted sklearn Pipeline"), lambda: denoise(pipe[1], X))
    _check((TypeError, "ending in a SpatialGMMSegmenter"), lambda: representative_spectra(pipe[:-1]))
    _check((TypeError, "ending in a SpatialGMMSegmenter"), lambda: cluster_mean_spectra(pipe[:-1], X))


def test_helpers_on_bad_arrays(fitted):
    pipe, X = fitted
    _check((ValueError, "NaN"), lambda: denoise(pipe, _NAN))
    _check((ValueError, "25 features.*expecting 20"), lambda: denoise(pipe, np.ones((N, 25))))
    _check((ValueError, "NaN"), lambda: cluster_mean_spectra(pipe, _NAN))
    _check(
        (ValueError, "labels has 5 values but X has 100 rows"), lambda: cluster_mean_spectra(pipe, X, np.zeros(5, int))
    )
    _check(
        (ValueError, "labels must be integers in 0..2.*got values from 3 to 3"),
        lambda: cluster_mean_spectra(pipe, X, np.full(N, 3)),
    )
    _check((ValueError, "labels must be integers"), lambda: cluster_mean_spectra(pipe, X, np.full(N, 0.5)))
    _check(("ok", (3, B)), lambda: cluster_mean_spectra(pipe, X, np.zeros(N, int)))
    _check(("ok", (N, B)), lambda: denoise(pipe, np.zeros((N, B))))
    _check(("ok", (3, B)), lambda: representative_spectra(pipe))
    scorer = make_clustering_scorer()
    _check((ValueError, "pass y"), lambda: scorer(pipe, X, None))
    _check((ValueError, "y has 5 values but X has 100 rows"), lambda: scorer(pipe, X, np.ones(5)))


def test_a_cube_passed_for_spectra_is_refused_by_name_everywhere(fitted):
    # the usual slip, passing the (rows, cols, bands) cube itself, named in each estimator's and function's words
    from hsiae import AEUnmixer
    from hsiae.noise import band_snr, estimate_noise, hysime, noise_statistics
    from hsiae.unmixing import estimate_snr, fcls, simplex_volume, vca

    pipe, X = fitted
    cube = X.reshape(H, W, B)
    E = X[:3]
    unmixer = AEUnmixer(3, max_epochs=1, random_state=0).fit(X)
    calls = {
        "AEUnmixer": [lambda: AEUnmixer(3).fit(cube), lambda: unmixer.transform(cube), lambda: unmixer.score(cube)],
        "vca": [lambda: vca(cube, 3)],
        "fcls": [lambda: fcls(cube, E)],
        "estimate_snr": [lambda: estimate_snr(cube, 3)],
        "simplex_volume": [lambda: simplex_volume(E, cube)],
        "estimate_noise": [lambda: estimate_noise(cube)],
        "band_snr": [lambda: band_snr(cube)],
        "hysime": [lambda: hysime(cube)],
        "noise_statistics": [lambda: noise_statistics(cube)],
        "cluster_mean_spectra": [lambda: cluster_mean_spectra(pipe, cube)],
        "SpectralResampler": [lambda: _resampler().fit(cube)],
    }
    for who, tries in calls.items():
        for call in tries:
            with pytest.raises(ValueError, match=f"^{who} {_CUBE}"):
                call()

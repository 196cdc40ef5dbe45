"""Property-based tests (hypothesis): resampler, losses and the whole pipeline on random input."""

import warnings

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.pipeline import make_pipeline

from hsiae import AEDEncoder, SpatialGMMSegmenter, SpectralResampler
from hsiae.losses import SpectralLoss, gradient_loss, spectral_angle

# Small budgets: the whole file runs in well under a minute on a busy 2-core machine.
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def band_positions(draw, min_bands=1, max_bands=300):
    """Strictly increasing wavelengths with uneven, sometimes tiny, sometimes large steps."""
    n = draw(st.integers(min_bands, max_bands))
    start = draw(st.floats(-1e3, 1e4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    steps = 10.0 ** rng.uniform(-2, 1.5, size=n - 1)
    return start + np.concatenate([[0.0], np.cumsum(steps)])


# --------------------------------------------------------------------------- SpectralResampler


@FAST
@given(
    wavelengths=band_positions(min_bands=2, max_bands=60),
    n_out=st.integers(2, 120),
    method=st.sampled_from(["linear", "cubic"]),
    scaling=st.sampled_from(["range", "standard", None]),
    seed=st.integers(0, 1000),
)
def test_resampler_round_trip_is_exact_on_straight_spectra(wavelengths, n_out, method, scaling, seed):
    """Both interpolations reproduce a straight line exactly: there and back loses nothing."""
    rng = np.random.default_rng(seed)
    t = (wavelengths - wavelengths[0]) / (wavelengths[-1] - wavelengths[0])
    X = rng.normal(size=(5, 1)) + rng.normal(size=(5, 1)) * t
    res = SpectralResampler(n_bands=n_out, wavelengths=wavelengths, method=method, scaling=scaling)
    back = res.fit(X).inverse_transform(res.transform(X))
    np.testing.assert_allclose(back, X, rtol=1e-7, atol=1e-7 * np.abs(X).max())


@FAST
@given(n_in=st.integers(8, 40), factor=st.integers(4, 8), seed=st.integers(0, 1000))
def test_resampler_round_trip_is_close_on_smooth_spectra(n_in, factor, seed):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_in)
    centres = rng.uniform(0.2, 0.8, size=(4, 1))
    X = np.exp(-((t - centres) ** 2) / 0.1)  # wide Gaussian peaks: smooth at this sampling
    res = SpectralResampler(n_bands=factor * n_in, method="cubic").fit(X)
    np.testing.assert_allclose(res.inverse_transform(res.transform(X)), X, atol=1e-3)


@FAST
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    n_in=st.integers(1, 40),
    n_out=st.integers(1, 40),
    method=st.sampled_from(["linear", "cubic"]),
    scaling=st.sampled_from(["range", "standard", None]),
)
def test_resampler_keeps_the_float_dtype(dtype, n_in, n_out, method, scaling):
    X = np.random.default_rng(0).random((4, n_in)).astype(dtype)
    res = SpectralResampler(n_bands=n_out, method=method, scaling=scaling).fit(X)
    out = res.transform(X)
    assert out.dtype == dtype and out.shape == (4, n_out)
    if res.backward_matrix_ is not None:
        back = res.inverse_transform(out)
        assert back.dtype == dtype and back.shape == X.shape


@FAST
@given(
    wavelengths=band_positions(1, 300),
    n_out=st.integers(1, 64),
    n_pixels=st.integers(1, 6),
    magnitude=st.sampled_from([1e-6, 1.0, 1e4, 1e6]),
    method=st.sampled_from(["linear", "cubic"]),
    scaling=st.sampled_from(["range", "standard", None]),
    seed=st.integers(0, 1000),
)
def test_resampler_output_is_finite_for_any_band_grid(wavelengths, n_out, n_pixels, magnitude, method, scaling, seed):
    X = magnitude * np.random.default_rng(seed).normal(size=(n_pixels, len(wavelengths)))
    res = SpectralResampler(n_bands=n_out, wavelengths=wavelengths, method=method, scaling=scaling).fit(X)
    out = res.transform(X)
    assert out.shape == (n_pixels, n_out)
    assert np.all(np.isfinite(out))
    if n_out > 1:  # the output grid spans the input range exactly
        np.testing.assert_array_equal(res.target_positions_[[0, -1]], wavelengths[[0, -1]])
    if res.backward_matrix_ is not None:
        back = res.inverse_transform(out)
        assert back.shape == X.shape and np.all(np.isfinite(back))


# --------------------------------------------------------------------------- losses


def _spectra_pairs(max_value):
    elements = st.floats(-max_value, max_value, allow_nan=False, width=32)
    shape = st.tuples(st.integers(1, 6), st.integers(1, 40))
    return shape.flatmap(
        lambda s: st.tuples(arrays(np.float32, s, elements=elements), arrays(np.float32, s, elements=elements))
    )


@FAST
@given(pair=_spectra_pairs(1e6))
def test_spectral_angle_is_in_0_pi_with_finite_gradients(pair):
    a = torch.tensor(pair[0], requires_grad=True)
    b = torch.tensor(pair[1], requires_grad=True)
    angle = spectral_angle(a, b, reduction="none")
    assert torch.all(torch.isfinite(angle))
    assert torch.all(angle >= 0) and torch.all(angle <= np.pi)
    angle.sum().backward()
    assert torch.all(torch.isfinite(a.grad)) and torch.all(torch.isfinite(b.grad))


@FAST
@given(
    x=arrays(
        np.float32,
        st.tuples(st.integers(1, 5), st.integers(1, 30)),
        elements=st.floats(-1e6, 1e6, allow_nan=False, width=32),
    ),
    scale=st.floats(1e-3, 1e3),
)
def test_spectral_angle_of_a_spectrum_with_itself_or_a_multiple_is_0(x, scale):
    x = torch.tensor(x)
    nonzero = (x * x).sum(dim=1) > 1e-6
    angle = spectral_angle(x, x * scale, reduction="none")
    assert torch.all(angle[nonzero] < 1e-3)


@FAST
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 30)), other=st.sampled_from(["zero", "ones", "random"]))
def test_losses_are_finite_with_finite_gradients_for_zero_spectra(shape, other):
    zeros = torch.zeros(shape, requires_grad=True)
    target = {
        "zero": torch.zeros(shape),
        "ones": torch.ones(shape),
        "random": torch.randn(shape, generator=torch.Generator().manual_seed(0)),
    }[other]
    angle = spectral_angle(zeros, target, reduction="none")
    expected = 0.0 if other == "zero" else np.pi / 2
    if other == "random":
        expected = torch.where((target * target).sum(1) > 1e-12, np.pi / 2, 0.0)
    torch.testing.assert_close(angle, torch.as_tensor(expected, dtype=angle.dtype).expand_as(angle))
    loss = SpectralLoss(1.0, 1.0, 1.0)(zeros, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.all(torch.isfinite(zeros.grad))


@FAST
@given(pair=_spectra_pairs(1e6), weights=st.tuples(*[st.floats(0, 10)] * 3).filter(lambda w: sum(w) > 0))
def test_composite_loss_is_finite_and_non_negative(pair, weights):
    a = torch.tensor(pair[0], requires_grad=True)
    b = torch.tensor(pair[1])
    loss = SpectralLoss(*weights)(a, b)
    assert torch.isfinite(loss) and float(loss.detach()) >= 0
    if loss.requires_grad:  # not when every weighted term is constant (one band, say)
        loss.backward()
        assert torch.all(torch.isfinite(a.grad))
    assert float(gradient_loss(a, b).detach()) >= 0


# --------------------------------------------------------------------------- the pipeline


@st.composite
def tiny_cubes(draw):
    H, W = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    B = draw(st.integers(2, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    magnitude = draw(st.sampled_from([1e-3, 1.0, 1e3, 6e4]))
    kind = draw(st.sampled_from(["noise", "constant_band", "integers", "constant_cube"]))
    rng = np.random.default_rng(seed)
    cube = magnitude * rng.random((H, W, B))
    if kind == "constant_band":
        cube[..., rng.integers(B)] = magnitude
    elif kind == "integers":
        cube = np.round(cube).astype(np.uint16)
    elif kind == "constant_cube":
        cube[:] = magnitude
    return cube


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cube=tiny_cubes(), k=st.integers(1, 3), spatial_weight=st.sampled_from([0.0, 1.0]))
def test_pipeline_on_tiny_random_cubes_gives_finite_outputs_and_valid_labels(cube, k, spatial_weight):
    H, W, B = cube.shape
    X = cube.reshape(H * W, B)
    pipe = make_pipeline(
        SpectralResampler(n_bands=8),
        AEDEncoder(zdims=2, channels=(2, 4), max_epochs=1, validation_fraction=0, batch_size=8, random_state=0),
        SpatialGMMSegmenter(k, image_shape=(H, W), spatial_weight=spatial_weight, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence after one epoch, k-means on equal points
        labels = pipe.fit_predict(X)
        Z = pipe[:-1].transform(X)
        rec = pipe[:-1].inverse_transform(Z)
        proba = pipe.predict_proba(X)
    assert labels.shape == (H * W,)
    assert labels.min() >= 0 and labels.max() < k
    assert Z.shape == (H * W, 2) and np.all(np.isfinite(Z))
    assert rec.shape == X.shape and np.all(np.isfinite(rec))
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(pipe[1].history_["train_loss"]))

"""Tests for hsiae.unmixing: VCA finds pure pixels, FCLS solves the constrained problem exactly."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import nnls

from hsiae.datasets import make_unmixing_scene
from hsiae.metrics import abundance_rmse, match_endmembers, mean_endmember_angle
from hsiae.unmixing import estimate_snr, fcls, simplex_volume, vca


def _mixture(n_pixels=300, k=3, n_bands=20, seed=0):
    rng = np.random.default_rng(seed)
    E = rng.uniform(0.05, 1.0, (k, n_bands))
    A = rng.dirichlet(np.ones(k), size=n_pixels)
    return A, E


def _fcls_reference(x, E, delta=1e4):
    """FCLS by Heinz and Chang's augmentation: NNLS with a heavily weighted sum-to-one row."""
    M = np.vstack([E.T, delta * np.ones(E.shape[0])])
    return nnls(M, np.append(x, delta), maxiter=10_000)[0]


# -- vca ---------------------------------------------------------------------------------------


def test_vca_picks_the_pure_pixels_of_a_noise_free_mixture():
    A, E = _mixture()
    X = np.vstack([A @ E, E])  # the pure pixels are the last three rows
    endmembers, rows = vca(X, 3, random_state=0)
    assert sorted(rows.tolist()) == [300, 301, 302]
    assert_allclose(endmembers, X[rows], atol=1e-10)


def test_vca_finds_the_endmembers_of_a_noisy_scene_and_keeps_float32():
    scene = make_unmixing_scene(4, n_bands=60, shape=(32, 32), snr=30, random_state=1)
    X = scene.cube.reshape(-1, 60)
    endmembers, rows = vca(X, 4, random_state=0)
    assert endmembers.dtype == np.float32 and endmembers.shape == (4, 60)
    assert mean_endmember_angle(scene.endmembers.T, endmembers) < 0.05


def test_vca_is_reproducible_with_a_seed():
    scene = make_unmixing_scene(3, n_bands=30, shape=(16, 16), random_state=0)
    X = scene.cube.reshape(-1, 30)
    assert_array_equal(vca(X, 3, random_state=5)[1], vca(X, 3, random_state=5)[1])


@pytest.mark.parametrize(
    "X, k, match",
    [
        (np.ones((5, 4)), 6, "n_endmembers=6 needs at least that many pixels and bands"),
        (np.ones((5, 4)), 0, "n_endmembers must be a positive integer"),
        (np.array([[1.0, np.nan], [1.0, 2.0]]), 1, r"NaN or infinite values \(row 0 is the first\)"),
    ],
)
def test_vca_refuses_bad_input_clearly(X, k, match):
    with pytest.raises(ValueError, match=match):
        vca(X, k)


def test_simplex_volume_is_largest_for_the_true_endmembers():
    A, E = _mixture()
    X = A @ E
    shrunk = 0.7 * E + 0.3 * E.mean(axis=0)
    assert simplex_volume(E, X) > simplex_volume(shrunk, X) > 0
    assert simplex_volume(E[:1], X) == 0.0


def test_estimate_snr_is_close_to_the_snr_of_the_added_noise():
    scene = make_unmixing_scene(4, n_bands=100, shape=(40, 40), snr=25, random_state=0)
    assert estimate_snr(scene.cube.reshape(-1, 100), 4) == pytest.approx(25, abs=2)
    assert estimate_snr(scene.clean.reshape(-1, 100).astype(np.float64), 4) > 60


# -- fcls --------------------------------------------------------------------------------------


def test_fcls_recovers_noise_free_abundances_exactly():
    A, E = _mixture()
    assert_allclose(fcls(A @ E, E), A, atol=1e-10)


def test_fcls_matches_the_augmented_nnls_reference_on_noisy_pixels_with_active_constraints():
    A, E = _mixture(n_pixels=60, k=4)
    rng = np.random.default_rng(1)
    X = A @ E + rng.normal(0, 0.2, (60, E.shape[1]))  # noise large enough that many abundances hit 0
    out = fcls(X, E)
    reference = np.array([_fcls_reference(x, E) for x in X])
    assert (out == 0).any(), "the test needs pixels on the simplex boundary"
    assert_allclose(out, reference, atol=1e-5)
    assert np.all(out >= 0) and assert_allclose(out.sum(axis=1), 1.0, atol=1e-12) is None


def test_fcls_projected_gradient_agrees_with_the_exact_solver():
    A, E = _mixture(n_pixels=200, k=5)
    X = A @ E + np.random.default_rng(2).normal(0, 0.1, (200, E.shape[1]))
    assert_allclose(fcls(X, E, method="projected_gradient", tol=1e-10, max_iter=20_000), fcls(X, E), atol=1e-4)


def test_fcls_keeps_float32_and_handles_more_rows_than_a_block():
    A, E = _mixture(n_pixels=70_000, k=3, n_bands=8)
    out = fcls((A @ E).astype(np.float32), E)
    assert out.dtype == np.float32 and out.shape == (70_000, 3)
    assert abundance_rmse(A, out, order=np.arange(3)) < 1e-5


def test_fcls_with_a_pixel_outside_the_simplex_puts_it_on_the_nearest_vertex():
    E = np.eye(2)
    assert_allclose(fcls([[2.0, 0.0], [0.3, 0.7]], E), [[1.0, 0.0], [0.3, 0.7]], atol=1e-12)


@pytest.mark.parametrize(
    "X, E, kwargs, match",
    [
        (np.ones((3, 5)), np.ones((5, 2)), {}, r"load_scene gives them as columns: pass scene.endmembers.T"),
        (np.ones((3, 5)), np.ones((2, 4)), {}, r"shape \(n_endmembers, 5\)"),
        (np.full((3, 5), np.inf), np.ones((2, 5)), {}, "NaN or infinite"),
        (np.ones((3, 5)), np.full((2, 5), np.nan), {}, "endmembers have NaN"),
        (np.ones((3, 5)), np.ones((2, 5)), {"method": "nnls"}, "method must be"),
    ],
)
def test_fcls_refuses_bad_input_clearly(X, E, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fcls(X, E, **kwargs)


def test_vca_then_fcls_unmix_a_synthetic_scene():
    scene = make_unmixing_scene(3, n_bands=50, shape=(32, 32), snr=40, random_state=3)
    X = scene.cube.reshape(-1, 50)
    E, _ = vca(X, 3, random_state=0)
    order = match_endmembers(scene.endmembers.T, E)
    assert abundance_rmse(scene.abundances, fcls(X, E), order=order) < 0.06  # 0.040 measured

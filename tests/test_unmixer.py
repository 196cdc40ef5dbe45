"""Tests for hsiae.AEUnmixer: abundances on the simplex, endmembers near the truth, the transformer contract."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from hsiae import AEUnmixer, SpectralResampler
from hsiae.datasets import make_unmixing_scene
from hsiae.metrics import abundance_rmse, match_endmembers, mean_endmember_angle
from hsiae.unmixing import fcls

FAST = {"max_epochs": 60, "random_state": 0}


@pytest.fixture(scope="module")
def scene():
    return make_unmixing_scene(3, n_bands=40, shape=(32, 32), snr=35, random_state=0)


@pytest.fixture(scope="module")
def X(scene):
    return scene.cube.reshape(-1, 40).astype(np.float64)


@pytest.fixture(scope="module")
def fitted(X):
    return AEUnmixer(3, **FAST).fit(X)


def test_abundances_are_non_negative_and_sum_to_one(fitted, X):
    A = fitted.transform(X)
    assert A.shape == (len(X), 3) and A.dtype == np.float64
    assert np.all(A >= 0)
    assert_allclose(A.sum(axis=1), 1.0, atol=1e-6)


def test_endmembers_are_non_negative_in_the_input_bands_and_near_the_truth(fitted, scene, X):
    E = fitted.endmembers_
    assert E.shape == (3, 40) and np.all(E >= 0)
    assert mean_endmember_angle(scene.endmembers.T, E) < 0.08  # 0.060 measured (VCA: 0.014)
    # in the input's units: a typical pixel's brightness, not unit norm
    assert np.linalg.norm(E, axis=1) == pytest.approx(np.median(np.linalg.norm(X, axis=1)), rel=1e-6)


def test_abundances_follow_the_truth(fitted, scene, X):
    order = match_endmembers(scene.endmembers.T, fitted.endmembers_)
    assert abundance_rmse(scene.abundances, fitted.transform(X), order=order) < 0.15  # 0.123 measured


def test_inverse_transform_mixes_the_endmembers(fitted):
    A = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    assert_allclose(fitted.inverse_transform(A), A @ fitted.endmembers_)
    with pytest.raises(ValueError, match=r"X has 2 features, but AEUnmixer.inverse_transform expects 3"):
        fitted.inverse_transform(A[:, :2])


def test_abundances_ignore_brightness_and_reconstruct_scales_back(fitted, X):
    assert_allclose(fitted.transform(2.5 * X), fitted.transform(X), atol=1e-5)  # float32 rounding
    rec = fitted.reconstruct(X)
    assert_allclose(fitted.reconstruct(2.5 * X), 2.5 * rec, rtol=1e-5)
    assert np.sqrt(np.mean((rec - X) ** 2)) < 0.1 * np.sqrt(np.mean(X**2))


def test_score_is_higher_for_the_trained_model_than_for_its_start(fitted, X):
    untrained = AEUnmixer(3, max_epochs=1, lr=1e-6, random_state=0).fit(X)
    assert fitted.score(X) > untrained.score(X)
    assert fitted.score(X) == pytest.approx(
        -np.mean(
            np.arccos(
                np.clip(
                    np.sum(fitted.reconstruct(X) * X, 1)
                    / np.linalg.norm(fitted.reconstruct(X), axis=1)
                    / np.linalg.norm(X, axis=1),
                    -1,
                    1,
                )
            )
        ),
        abs=1e-6,
    )


def test_training_starts_from_vca_or_from_random_pixels(fitted, scene, X):
    truth = scene.endmembers.T
    assert mean_endmember_angle(truth, fitted.init_endmembers_) < 0.03
    random_start = AEUnmixer(3, init="random", max_epochs=1, random_state=0).fit(X)
    assert mean_endmember_angle(truth, random_start.init_endmembers_) > 0.1


def test_same_seed_same_result_and_global_torch_rng_untouched(X):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = AEUnmixer(3, max_epochs=2, random_state=3).fit(X[:300])
    after = torch.rand(1)
    b = AEUnmixer(3, max_epochs=2, random_state=3).fit(X[:300])
    assert_array_equal(a.endmembers_, b.endmembers_)
    assert_array_equal(a.transform(X[:50]), b.transform(X[:50]))
    assert before == after


def test_float32_in_float32_out_and_feature_names(fitted, X):
    assert fitted.transform(X.astype(np.float32)).dtype == np.float32
    assert fitted.get_feature_names_out().tolist() == ["aeunmixer0", "aeunmixer1", "aeunmixer2"]


def test_fcls_with_the_unmixers_endmembers(fitted, scene, X):
    order = match_endmembers(scene.endmembers.T, fitted.endmembers_)
    A = fcls(
        X / np.linalg.norm(X, axis=1, keepdims=True),
        fitted.endmembers_ / np.linalg.norm(fitted.endmembers_, axis=1, keepdims=True),
    )
    assert abundance_rmse(scene.abundances, A, order=order) < 0.15


def test_plain_linear_mixing_keeps_each_endmembers_scale(scene, X):
    u = AEUnmixer(3, normalize=None, max_epochs=60, random_state=0).fit(X)
    assert mean_endmember_angle(scene.endmembers.T, u.endmembers_) < 0.08
    order = match_endmembers(scene.endmembers.T, u.endmembers_)
    norms = np.linalg.norm(u.endmembers_[order], axis=1) / np.linalg.norm(scene.endmembers.T, axis=1)
    assert_allclose(norms, 1.0, rtol=0.15)


def test_pipeline_with_resampler_and_grid_search_over_n_endmembers(X):
    pipe = make_pipeline(SpectralResampler(n_bands=20, scaling=None), AEUnmixer(max_epochs=3, random_state=0))
    search = GridSearchCV(pipe, {"aeunmixer__n_endmembers": [2, 3]}, cv=2).fit(X[:400])
    assert search.best_params_["aeunmixer__n_endmembers"] in (2, 3)
    assert search.best_estimator_.transform(X[:5]).shape == (5, search.best_params_["aeunmixer__n_endmembers"])


@pytest.mark.parametrize(
    "data, params, match",
    [
        (
            lambda X: X - X.mean(),
            {},
            "Negative values in data passed to AEUnmixer: .* SpectralResampler\\(scaling=None\\)",
        ),
        (
            lambda X: np.where(np.arange(len(X))[:, None] == 3, np.nan, X),
            {},
            "NaN or infinite values; leave the no-data",
        ),
        (lambda X: X[:, :2], {}, r"n_endmembers=3 needs at least as many bands, but X has 2 feature\(s\)"),
        (lambda X: X, {"mse_weight": 0, "sam_weight": 0}, "mse_weight and sam_weight are both 0"),
        (lambda X: X, {"hidden_sizes": (4, 0)}, "hidden_sizes must be a sequence of positive integers"),
    ],
)
def test_bad_input_is_refused_before_training(X, data, params, match):
    with pytest.raises(ValueError, match=match):
        AEUnmixer(3, max_epochs=1, **params).fit(data(X[:100]))


def test_small_negative_noise_is_accepted(X):
    noisy = X[:200] - 0.02 * X.max()
    noisy[noisy > 0] = X[:200][noisy > 0]
    AEUnmixer(3, max_epochs=1, random_state=0).fit(noisy)


# -- the seams a model file uses: weights, their shapes, restoring ---------------------------------

FITTED_ATTRIBUTES = ("n_features_in_", "endmembers_", "init_endmembers_", "scale_", "history_", "n_epochs_")


def _restored(fitted, weights):
    """A new unmixer with ``fitted``'s parameters and fitted attributes, and ``weights``."""
    other = AEUnmixer(**fitted.get_params())
    for name in FITTED_ATTRIBUTES:
        setattr(other, name, getattr(fitted, name))
    return other.set_weights(weights)


def test_weight_shapes_describe_the_network_without_fitting():
    shapes = AEUnmixer(3, hidden_sizes=(8, 5)).weight_shapes(12)
    assert shapes["weight"] == (3, 12)  # the decoder: one row per endmember
    assert shapes["encoder.0.weight"] == (8, 12) and shapes["encoder.2.weight"] == (5, 8)
    assert shapes["encoder.4.weight"] == (3, 5)
    assert shapes["encoder.5.running_var"] == (3,) and shapes["encoder.5.num_batches_tracked"] == ()
    assert len(shapes) == 2 * 2 + 2 + 5 + 1
    with pytest.raises(ValueError, match=r"n_endmembers=3 needs at least as many bands.* 2 input band"):
        AEUnmixer(3).weight_shapes(2)
    with pytest.raises(ValueError, match="hidden_sizes must be a sequence of positive integers"):
        AEUnmixer(3, hidden_sizes=(4, -1)).weight_shapes(12)


def test_get_weights_are_cpu_tensors_of_the_expected_shapes(fitted):
    weights = fitted.get_weights()
    assert all(t.device.type == "cpu" for t in weights.values())
    assert {k: tuple(t.shape) for k, t in weights.items()} == fitted.weight_shapes()
    assert fitted.weight_mismatch(weights) is None
    # copies: changing them leaves the fitted network alone
    weights["weight"].zero_()
    assert fitted.net_.module_.weight.abs().sum() > 0


def test_weight_mismatch_names_missing_unexpected_and_reshaped_tensors(fitted):
    weights = fitted.get_weights()
    missing = {k: v for k, v in weights.items() if k != "weight"}
    assert fitted.weight_mismatch(missing) == "missing ['weight']"
    assert fitted.weight_mismatch({**weights, "extra": torch.zeros(1)}) == "unexpected ['extra']"
    reshaped = {**weights, "weight": torch.zeros(3, 41)}
    assert fitted.weight_mismatch(reshaped) == "weight has shape (3, 41), expected (3, 40)"


def test_set_weights_restores_an_identical_unmixer(fitted, X):
    torch.manual_seed(5)
    state = torch.random.get_rng_state()
    restored = _restored(fitted, fitted.get_weights())
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    assert not restored.net_.module_.training
    assert_array_equal(restored.transform(X), fitted.transform(X))
    assert_array_equal(restored.reconstruct(X), fitted.reconstruct(X))
    assert restored.score(X) == fitted.score(X)
    assert restored.get_feature_names_out().tolist() == fitted.get_feature_names_out().tolist()


def test_set_weights_refuses_weights_of_another_network_or_other_endmembers(fitted):
    weights = fitted.get_weights()
    with pytest.raises(ValueError, match=r"do not fit the unmixer's network: weight has shape \(3, 39\)"):
        _restored(fitted, {**weights, "weight": torch.ones(3, 39)})
    with pytest.raises(ValueError, match="decoder's weights give other endmembers than endmembers_"):
        _restored(fitted, {**weights, "weight": weights["weight"].flip(0)})


def test_to_cpu_moves_the_network_and_the_device_parameter(X):
    unmixer = AEUnmixer(2, max_epochs=1, random_state=0).fit(X[:100])
    unmixer.device = "cuda"  # as if trained on a GPU (the tensors are on the CPU anyway)
    unmixer.net_.device = "cuda"
    assert unmixer.to_cpu() is unmixer
    assert unmixer.device == "cpu" and unmixer.net_.device == "cpu"
    assert next(unmixer.net_.module_.parameters()).device.type == "cpu"
    assert unmixer.transform(X[:5]).shape == (5, 2)


def test_reconstruct_from_given_abundances_equals_reconstruct():
    from hsiae.datasets import make_unmixing_scene

    scene = make_unmixing_scene(3, n_bands=30, shape=(12, 12), random_state=0)
    X = scene.cube.reshape(-1, 30)
    unmixer = AEUnmixer(3, max_epochs=2, random_state=0).fit(X)
    np.testing.assert_array_equal(unmixer.reconstruct(X, abundances=unmixer.transform(X)), unmixer.reconstruct(X))
    with pytest.raises(ValueError, match=r"abundances must have shape \(144, 3\)"):
        unmixer.reconstruct(X, abundances=np.ones((144, 2)))

"""Tests for hsiae.metrics: cluster matching, spectral angles and PSNR on hand-checkable cases."""

import numpy as np
import pytest
import torch

from hsiae.metrics import (
    cluster_accuracy,
    match_clusters,
    mean_spectral_angle,
    psnr,
    spectral_angles,
)

# -- match_clusters / cluster_accuracy ----------------------------------------------


def test_permuted_cluster_ids_match_their_classes_exactly():
    y_true = np.array([1, 1, 1, 2, 2, 3, 3, 3, 3])
    y_pred = np.array([7, 7, 7, 0, 0, 4, 4, 4, 4])  # same partition, arbitrary ids
    assert match_clusters(y_true, y_pred) == {7: 1, 0: 2, 4: 3}
    assert cluster_accuracy(y_true, y_pred) == 1.0


def test_cluster_accuracy_counts_pixels_of_the_best_one_to_one_matching():
    # Cluster 0 is mostly class 1, cluster 1 mostly class 2: 2 of 6 pixels are wrong.
    y_true = [1, 1, 1, 2, 2, 2]
    y_pred = [0, 0, 1, 1, 1, 0]
    assert match_clusters(y_true, y_pred) == {0: 1, 1: 2}
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_matching_is_one_to_one_even_when_one_class_dominates():
    # Both clusters are mostly class 1, but only one of them may take it.
    y_true = [1, 1, 1, 1, 1, 2]
    y_pred = [0, 0, 0, 1, 1, 1]
    mapping = match_clusters(y_true, y_pred)
    assert sorted(mapping.values()) == [1, 2]
    assert mapping == {0: 1, 1: 2}
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_ignore_leaves_unlabelled_pixels_out_of_matching_and_accuracy():
    # The unlabelled pixels (0) are all in cluster 5, which would otherwise steal class 0's slot.
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([5, 5, 5, 5, 3, 3, 9, 9])
    assert match_clusters(y_true, y_pred, ignore=0) == {3: 1, 9: 2}
    assert cluster_accuracy(y_true, y_pred, ignore=0) == 1.0
    # Without ignore, 0 is a class like any other and is matched too.
    assert match_clusters(y_true, y_pred) == {5: 0, 3: 1, 9: 2}
    # One mistake among the 4 labelled pixels: accuracy is over labelled pixels only.
    y_pred_wrong = np.array([5, 5, 5, 5, 3, 9, 9, 9])
    assert cluster_accuracy(y_true, y_pred_wrong, ignore=0) == pytest.approx(3 / 4)


def test_more_clusters_than_classes_leaves_extra_clusters_unmatched():
    y_true = [1, 1, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 0, 3, 1, 1, 1, 2]  # class 1 split into 0 and 3, class 2 into 1 and 2
    mapping = match_clusters(y_true, y_pred)
    assert mapping == {0: 1, 1: 2}
    # The pixels of the unmatched clusters 2 and 3 count as errors.
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(6 / 8)


def test_accepts_label_images_and_raises_on_size_mismatch_or_nothing_labelled():
    y_true = np.array([[1, 1], [2, 2]])
    y_pred = np.array([[4, 4], [6, 6]])
    assert cluster_accuracy(y_true, y_pred) == 1.0
    with pytest.raises(ValueError, match="4 labels but y_pred has 3"):
        cluster_accuracy(y_true, [4, 4, 6])
    with pytest.raises(ValueError, match="No labelled pixel"):
        cluster_accuracy([0, 0, 0], [1, 2, 3], ignore=0)


# -- spectral angles ----------------------------------------------------------------


def test_spectral_angles_of_hand_checkable_pairs():
    A = np.array(
        [
            [1.0, 0.0, 0.0],  # orthogonal
            [1.0, 2.0, 3.0],  # opposite
            [1.0, 2.0, 3.0],  # positively scaled copy
            [1.0, 0.0, 0.0],  # 45 degrees
            [1.0, 0.0, 0.0],  # 120 degrees
        ]
    )
    B = np.array(
        [
            [0.0, 5.0, 0.0],
            [-2.0, -4.0, -6.0],
            [10.0, 20.0, 30.0],
            [1.0, 1.0, 0.0],
            [-0.5, np.sqrt(3) / 2, 0.0],
        ]
    )
    expected = [np.pi / 2, np.pi, 0.0, np.pi / 4, 2 * np.pi / 3]
    np.testing.assert_allclose(spectral_angles(A, B), expected, atol=1e-7)
    assert mean_spectral_angle(A, B) == pytest.approx(np.mean(expected), abs=1e-7)


def test_spectral_angle_of_zero_spectra_follows_the_documented_convention():
    A = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    B = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    angles = spectral_angles(A, B)
    np.testing.assert_allclose(angles, [0.0, np.pi / 2, np.pi / 2])
    assert np.all(np.isfinite(angles))


def test_spectral_angles_are_in_zero_pi_and_symmetric_and_scale_invariant():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 16))
    B = rng.normal(size=(200, 16))
    B[:10] = 3.0 * A[:10]  # near-parallel rows, where rounding could push |cos| above 1
    B[10:20] = -0.5 * A[10:20]
    angles = spectral_angles(A, B)
    assert angles.shape == (200,)
    assert np.all((angles >= 0) & (angles <= np.pi))
    np.testing.assert_allclose(angles[:10], 0.0, atol=1e-7)
    np.testing.assert_allclose(angles[10:20], np.pi, atol=1e-7)
    np.testing.assert_allclose(spectral_angles(B, A), angles)
    np.testing.assert_allclose(spectral_angles(7.0 * A, 0.1 * B), angles, atol=1e-7)


def test_spectral_angles_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        spectral_angles(np.ones((2, 3)), np.ones((2, 4)))


# -- psnr -----------------------------------------------------------------------------


def test_psnr_of_a_known_mse():
    clean = np.array([0.0, 1.0, 0.0, 1.0])  # range 1
    estimate = clean + np.array([0.1, -0.1, 0.1, -0.1])  # MSE = 0.01
    assert psnr(clean, estimate) == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    # An explicit data_range replaces the range of clean: 10 log10(4 / 0.01).
    assert psnr(clean, estimate, data_range=2.0) == pytest.approx(10 * np.log10(400))


def test_psnr_rises_as_the_error_shrinks_and_is_inf_for_a_perfect_estimate():
    rng = np.random.default_rng(0)
    clean = rng.random((10, 10, 8))
    noisy = clean + rng.normal(scale=0.1, size=clean.shape)
    better = clean + 0.1 * (noisy - clean)  # error / 10 -> +20 dB
    assert psnr(clean, better) == pytest.approx(psnr(clean, noisy) + 20.0)
    assert psnr(clean, clean.copy()) == float("inf")


def test_psnr_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(3, 4\)"):
        psnr(np.zeros((4, 3)), np.zeros((3, 4)))


def test_spectral_angles_are_accurate_at_small_angles_and_work_on_cubes():
    from hsiae.losses import spectral_angle

    rng = np.random.default_rng(0)
    a = rng.random((3, 50)) + 0.5
    # rotate each spectrum by a tiny angle within the plane of a and an orthogonal direction
    ortho = rng.standard_normal((3, 50))
    ortho -= (np.sum(ortho * a, axis=1) / np.sum(a * a, axis=1))[:, None] * a
    ortho *= (np.linalg.norm(a, axis=1) / np.linalg.norm(ortho, axis=1))[:, None]
    b = np.cos(1e-9) * a + np.sin(1e-9) * ortho
    np.testing.assert_allclose(spectral_angles(a, b), 1e-9, rtol=1e-5)  # arccos gave 0 here
    c = rng.random((3, 50))
    np.testing.assert_allclose(
        spectral_angles(a, c),
        spectral_angle(torch.as_tensor(a), torch.as_tensor(c), reduction="none").numpy(),
        rtol=1e-6,
    )
    cube_a, cube_c = a.reshape(3, 1, 50), c.reshape(3, 1, 50)
    assert spectral_angles(cube_a, cube_c).shape == (3, 1)


# -- unmixing metrics -------------------------------------------------------------------


def test_match_endmembers_undoes_a_permutation_and_ignores_scale():
    from hsiae.metrics import endmember_angles, match_endmembers, mean_endmember_angle

    rng = np.random.default_rng(0)
    E = rng.uniform(0.1, 1.0, (4, 30))
    estimate = 3.0 * E[[2, 0, 3, 1]]  # permuted and brighter
    order = match_endmembers(E, estimate)
    assert order.tolist() == [1, 3, 0, 2]
    assert np.allclose(endmember_angles(E, estimate), 0.0, atol=1e-7)
    assert mean_endmember_angle(E, estimate) < 1e-7


def test_endmember_angles_are_per_true_endmember_after_matching():
    from hsiae.metrics import endmember_angles

    E = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    estimate = np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])  # second is 45 degrees off the first truth
    assert np.allclose(endmember_angles(E, estimate), [np.pi / 4, 0.0])


def test_abundance_rmse_uses_the_given_matching():
    from hsiae.metrics import abundance_rmse

    A = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    swapped = A[:, ::-1]
    assert abundance_rmse(A, swapped, order=[1, 0]) == 0.0
    assert abundance_rmse(A, swapped) == 0.0  # None: matched by squared error
    assert abundance_rmse(A, swapped, order=[0, 1]) == pytest.approx(np.sqrt(2 / 3))
    assert np.allclose(abundance_rmse(A, A + [0.1, 0.0], order=[0, 1], per_endmember=True), [0.1, 0.0])


def test_reconstruction_rmse_and_sam():
    from hsiae.metrics import reconstruction_rmse, reconstruction_sam

    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert reconstruction_rmse(X, X + 0.5) == pytest.approx(0.5)
    assert reconstruction_sam(X, 2 * X) == pytest.approx(0.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.match_endmembers(np.ones((2, 5)), np.ones((2, 4))), "load_scene's are columns: use .T"),
        (lambda m: m.match_endmembers(np.ones((3, 5)), np.ones((2, 5))), "fewer than the 3 true ones"),
        (lambda m: m.abundance_rmse(np.ones((4, 2)), np.ones((3, 2))), "has 4 pixels but abundances_pred has 3"),
        (lambda m: m.abundance_rmse(np.ones((4, 2)), np.ones((4, 2)), order=[0]), "one estimated column per true"),
    ],
)
def test_unmixing_metrics_refuse_mismatched_input(call, match):
    import hsiae.metrics as m

    with pytest.raises(ValueError, match=match):
        call(m)

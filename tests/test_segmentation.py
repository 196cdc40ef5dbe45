"""Tests for hsiae.segmentation: the Potts-prior Gaussian mixture and its helpers."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from hsiae.segmentation import SpatialGMMSegmenter, check_image_shape, neighbour_sum

H, W = 30, 40  # non-square on purpose: a swapped (W, H) reshape would scramble the quadrants
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
QUADRANT_MEANS = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [3.0, 3.0]])


def _quadrants():
    """Ground-truth labels of a (H, W) image cut into 4 quadrants, row-major."""
    rows, cols = np.mgrid[:H, :W]
    return ((rows >= H // 2) * 2 + (cols >= W // 2)).ravel()


def _quadrant_image(noise, seed=0):
    """Pixels whose 2 features are their quadrant's mean plus Gaussian noise."""
    truth = _quadrants()
    rng = np.random.default_rng(seed)
    return QUADRANT_MEANS[truth] + rng.normal(scale=noise, size=(H * W, 2)), truth


def _boundary_fraction(labels):
    """Share of 4-connected neighbour pairs whose labels differ (0 = one flat segment)."""
    img = labels.reshape(H, W)
    n_diff = np.sum(img[:, 1:] != img[:, :-1]) + np.sum(img[1:] != img[:-1])
    return n_diff / (H * (W - 1) + (H - 1) * W)


# -- without space it is a plain Gaussian mixture ---------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("image_shape", [None, (H, W)], ids=["no-image", "image-weight0"])
def test_spatial_weight_zero_is_a_plain_gaussian_mixture(covariance_type, image_shape):
    X, truth = _quadrant_image(noise=0.5)
    seg = SpatialGMMSegmenter(
        4,
        image_shape=image_shape,
        spatial_weight=0,
        covariance_type=covariance_type,
        random_state=0,
    ).fit(X)
    gmm = GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X)
    assert adjusted_rand_score(gmm.predict(X), seg.labels_) == 1.0
    assert seg.score(X) == pytest.approx(gmm.score(X), abs=1e-3)
    np.testing.assert_allclose(seg.score_samples(X), gmm.score_samples(X), atol=1e-2)
    # the easy data are segmented correctly, not just like sklearn
    assert adjusted_rand_score(truth, seg.labels_) > 0.95


@pytest.mark.parametrize("spatial_weight", [0.0, 2.0])
def test_without_image_shape_any_spatial_weight_gives_the_plain_mixture(spatial_weight):
    X, _ = _quadrant_image(noise=1.5)  # noisy: the spatial prior would change many labels
    plain = SpatialGMMSegmenter(4, spatial_weight=0, random_state=0).fit(X)
    seg = SpatialGMMSegmenter(4, spatial_weight=spatial_weight, random_state=0).fit(X)
    np.testing.assert_array_equal(seg.labels_, plain.labels_)
    np.testing.assert_allclose(seg.predict_proba(X), plain.predict_proba(X))
    # and it does not ask for a whole image: any subset of pixels can be predicted
    assert seg.predict(X[:7]).shape == (7,)


# -- with space: smoother and more accurate segments ----------------------------------------


def test_increasing_spatial_weight_smooths_the_segments_and_recovers_the_regions():
    X, truth = _quadrant_image(noise=1.5)  # clusters overlap: a plain mixture gets ~1/3 wrong
    weights = [0.0, 0.5, 1.0, 2.0]
    fits = [SpatialGMMSegmenter(4, image_shape=(H, W), spatial_weight=w, random_state=0).fit(X) for w in weights]
    boundary = [_boundary_fraction(s.labels_) for s in fits]
    ari = [adjusted_rand_score(truth, s.labels_) for s in fits]
    assert all(later <= earlier for earlier, later in zip(boundary, boundary[1:])), boundary
    # the weight sets the strength: a weak prior leaves visibly more ragged boundaries
    assert boundary[1] > 1.5 * boundary[-1], boundary
    # with a strong prior the segment boundaries are about as long as the true ones
    assert boundary[-1] < 1.5 * _boundary_fraction(truth)
    assert ari[0] < 0.6
    assert all(a > ari[0] + 0.3 for a in ari[1:]), ari
    assert ari[-1] > 0.95


def test_spatial_prior_uses_row_major_order_of_a_non_square_image():
    X, truth = _quadrant_image(noise=1.5)
    right = SpatialGMMSegmenter(4, image_shape=(H, W), spatial_weight=2.0, random_state=0).fit(X)
    # The same pixels read as a (W, H) image put unrelated pixels side by side.
    wrong = SpatialGMMSegmenter(4, image_shape=(W, H), spatial_weight=2.0, random_state=0).fit(X)
    assert adjusted_rand_score(truth, right.labels_) > 0.95
    assert adjusted_rand_score(truth, wrong.labels_) < 0.9


@pytest.mark.parametrize(
    "scale, offset",
    [((10.0, 0.2), (100.0, -5.0)), ((0.01, 3.0), (0.0, 0.0)), ((-2.0, 0.5), (1.0, 1.0))],
)
def test_full_covariance_partition_is_invariant_to_rescaling_features(scale, offset):
    # Rescaling a feature column (for example pixel coordinates appended with a
    # weight) rescales the fitted covariances and leaves the partition alone:
    # the reason the segmenter uses a spatial prior instead of coordinates.
    # Clusters along a diagonal, so the k-means start is sensible at every scale.
    rows, cols = np.mgrid[:H, :W]
    truth = (cols // 10).ravel()
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [2.0, 2.0], [4.0, 4.0], [6.0, 6.0]])
    X = centres[truth] + rng.normal(size=(H * W, 2))
    Xs = X * np.array(scale) + np.array(offset)

    def fit(X, covariance_type):
        seg = SpatialGMMSegmenter(4, image_shape=(H, W), covariance_type=covariance_type, random_state=0)
        return seg.fit(X).labels_

    assert adjusted_rand_score(fit(X, "full"), fit(Xs, "full")) == 1.0
    # A spherical mixture measures plain distances, so the same rescaling moves pixels.
    assert adjusted_rand_score(fit(X, "spherical"), fit(Xs, "spherical")) < 0.99


# -- the fitted model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    X, truth = _quadrant_image(noise=1.0)
    seg = SpatialGMMSegmenter(4, image_shape=(H, W), spatial_weight=1.0, random_state=0).fit(X)
    return seg, X, truth


def test_labels_equal_predict_and_fit_predict(fitted):
    seg, X, _ = fitted
    assert seg.labels_.shape == (H * W,)
    np.testing.assert_array_equal(seg.predict(X), seg.labels_)
    again = SpatialGMMSegmenter(4, image_shape=(H, W), spatial_weight=1.0, random_state=0)
    np.testing.assert_array_equal(again.fit_predict(X), seg.labels_)
    np.testing.assert_array_equal(again.labels_, seg.labels_)


def test_predict_proba_is_a_distribution_consistent_with_predict(fitted):
    seg, X, _ = fitted
    proba = seg.predict_proba(X)
    assert proba.shape == (H * W, 4)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), seg.predict(X))


def test_same_random_state_gives_identical_labels(fitted):
    seg, X, _ = fitted
    for _ in range(2):
        other = SpatialGMMSegmenter(4, image_shape=(H, W), spatial_weight=1.0, random_state=0)
        other.fit(X)
        np.testing.assert_array_equal(other.labels_, seg.labels_)
        np.testing.assert_array_equal(other.means_, seg.means_)


def test_means_are_the_cluster_centres_in_feature_space(fitted):
    seg, X, truth = fitted
    assert seg.means_.shape == (4, X.shape[1])
    assert seg.weights_.shape == (4,)
    np.testing.assert_allclose(seg.weights_.sum(), 1.0)
    # Each true region is mostly one segment, whose centre is that region's mean.
    for region in range(4):
        segment = np.bincount(seg.labels_[truth == region], minlength=4).argmax()
        np.testing.assert_allclose(seg.means_[segment], QUADRANT_MEANS[region], atol=0.25)


def test_fit_returns_self_and_records_convergence(fitted):
    seg, X, _ = fitted
    assert seg.converged_
    assert 1 <= seg.n_iter_ <= seg.max_iter
    assert seg.n_features_in_ == 2
    assert np.isfinite(seg.lower_bound_)
    other = SpatialGMMSegmenter(4, image_shape=(H, W), random_state=0)
    assert other.fit(X) is other


# -- validation and errors -----------------------------------------------------------------


def test_wrong_number_of_pixels_names_both_numbers_and_the_fix():
    X, _ = _quadrant_image(noise=1.0)
    seg = SpatialGMMSegmenter(4, image_shape=(H, W), random_state=0)
    with pytest.raises(ValueError, match=r"implies 1200 pixels.*1199 rows") as err:
        seg.fit(X[:-1])
    assert "image_shape=None" in str(err.value)
    # Predicting on part of the image is refused the same way, since the prior needs neighbours.
    seg.fit(X)
    with pytest.raises(ValueError, match=r"implies 1200 pixels.*600 rows"):
        seg.predict(X[:600])


@pytest.mark.parametrize(
    "image_shape",
    [(-30, -40), (0, 1200), (1200,), (30, 40, 1), ("thirty", "forty"), 1200],
    ids=["negative", "zero", "one-value", "three-values", "strings", "scalar"],
)
def test_invalid_image_shape_raises_value_error(image_shape):
    X, _ = _quadrant_image(noise=1.0)
    with pytest.raises(ValueError, match="image_shape"):
        SpatialGMMSegmenter(4, image_shape=image_shape).fit(X)


def test_non_integer_image_shape_raises_value_error():
    X, _ = _quadrant_image(noise=1.0)
    with pytest.raises(ValueError, match="positive integers"):
        SpatialGMMSegmenter(4, image_shape=(30.5, 40)).fit(X)


def test_check_image_shape_returns_ints_and_validates_against_the_rows():
    assert check_image_shape([np.int64(3), 5], 15) == (3, 5)
    with pytest.raises(ValueError, match=r"\(3, 5\) implies 15 pixels, but X has 16 rows"):
        check_image_shape((3, 5), 16)


def test_more_clusters_than_pixels_raises_value_error():
    X = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(ValueError, match=r"n_clusters=6 must be <= the number of pixels, got 5"):
        SpatialGMMSegmenter(6).fit(X)


def test_predict_before_fit_and_wrong_feature_count_raise():
    from sklearn.exceptions import NotFittedError

    X, _ = _quadrant_image(noise=1.0)
    with pytest.raises(NotFittedError):
        SpatialGMMSegmenter(4).predict(X)
    seg = SpatialGMMSegmenter(4, random_state=0).fit(X)
    with pytest.raises(ValueError, match="3 features"):
        seg.predict(np.c_[X, X[:, :1]])


def test_max_iter_one_warns_convergence_with_advice():
    X, _ = _quadrant_image(noise=1.0)
    seg = SpatialGMMSegmenter(4, image_shape=(H, W), max_iter=1, random_state=0)
    with pytest.warns(ConvergenceWarning, match="increase max_iter"):
        seg.fit(X)
    assert not seg.converged_
    assert seg.n_iter_ == 1


# -- neighbour_sum and model selection ------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 7), (1, 6), (6, 1), (1, 1)])
def test_neighbour_sum_equals_a_brute_force_sum_over_8_neighbours(shape):
    h, w = shape
    k = 3
    r = np.random.default_rng(0).random((h, w, k))
    expected = np.zeros_like(r)
    for i in range(h):
        for j in range(w):
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    ii, jj = i + di, j + dj
                    if (di or dj) and 0 <= ii < h and 0 <= jj < w:
                        expected[i, j] += r[ii, jj]
    got = neighbour_sum(r.reshape(h * w, k), (h, w))
    assert got.shape == (h * w, k)
    np.testing.assert_allclose(got, expected.reshape(h * w, k))
    # the input is left untouched
    np.testing.assert_array_equal(r, np.random.default_rng(0).random((h, w, k)))


def test_bic_prefers_the_true_number_of_well_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = centres[rng.integers(0, 3, 600)] + rng.normal(size=(600, 2))
    bic = {k: SpatialGMMSegmenter(k, random_state=0).fit(X).bic(X) for k in (1, 3)}
    assert bic[3] < bic[1]
    # BIC is -2 * total log-likelihood + n_parameters * log(n): full covariances in 2-D
    # give k * 3 + k * 2 + (k - 1) parameters.
    seg = SpatialGMMSegmenter(3, random_state=0).fit(X)
    assert seg.bic(X) == pytest.approx(-2 * seg.score(X) * 600 + 17 * np.log(600))


def test_without_the_spatial_prior_any_subset_of_pixels_can_be_predicted():
    X, _ = _quadrant_image(noise=1.0)
    seg = SpatialGMMSegmenter(4, image_shape=(30, 40), spatial_weight=0, random_state=0).fit(X)
    np.testing.assert_array_equal(seg.predict(X[:100]), seg.labels_[:100])
    with pytest.raises(ValueError, match="implies 1200 pixels"):
        seg.set_params(spatial_weight=1.0).predict(X[:100])


# -- holes: pixels of sample_weight 0 ------------------------------------------------------


def _holes():
    """A block of no-data pixels across the quadrant boundary, and their weights."""
    hole = np.zeros((H, W), dtype=bool)
    hole[10:20, 12:28] = True
    return hole.ravel(), (~hole.ravel()).astype(float)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_what_holes_hold_does_not_matter(covariance_type):
    X, truth = _quadrant_image(noise=0.8)
    hole, weight = _holes()
    fits = []
    for fill in (np.array([1.5, 1.5]), np.array([40.0, -40.0])):  # the mean spectrum, or garbage
        Xf = X.copy()
        Xf[hole] = fill
        seg = SpatialGMMSegmenter(4, image_shape=(H, W), covariance_type=covariance_type, random_state=0)
        fits.append(seg.fit(Xf, sample_weight=weight))
    np.testing.assert_allclose(fits[0].means_, fits[1].means_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fits[0].covariances_, fits[1].covariances_, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(fits[0].labels_[~hole], fits[1].labels_[~hole])
    assert adjusted_rand_score(truth[~hole], fits[0].labels_[~hole]) > 0.9


def test_without_weights_what_holes_hold_changes_the_segments():
    # The same image as above with the holes counted: the garbage fill takes a cluster of its
    # own, so the weights are what keeps the holes out.
    X, truth = _quadrant_image(noise=0.8)
    hole, _ = _holes()
    labels = []
    for fill in (np.array([1.5, 1.5]), np.array([40.0, -40.0])):
        Xf = X.copy()
        Xf[hole] = fill
        labels.append(SpatialGMMSegmenter(4, image_shape=(H, W), random_state=0).fit(Xf).labels_)
    assert adjusted_rand_score(labels[0][~hole], labels[1][~hole]) < 0.9


def test_unit_weights_equal_no_weights():
    X, _ = _quadrant_image(noise=0.8)
    a = SpatialGMMSegmenter(4, image_shape=(H, W), random_state=0).fit(X)
    b = SpatialGMMSegmenter(4, image_shape=(H, W), random_state=0).fit(X, sample_weight=np.ones(H * W))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    np.testing.assert_array_equal(a.labels_, b.labels_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES + ["shaded"])
def test_integer_weights_act_as_repeated_pixels(covariance_type):
    # Without an image, weight w is w copies of the pixel (0: the pixel is left out), whatever
    # the order of the pixels: the same clusters, in the same order, as the repeated pixels.
    X, _ = _quadrant_image(noise=1.0)
    X = X[::4]
    weight = np.random.default_rng(1).integers(0, 4, len(X))
    order = np.random.default_rng(2).permutation(len(X))
    kw = dict(covariance_type=covariance_type, random_state=0)
    repeated = SpatialGMMSegmenter(4, **kw).fit(np.repeat(X, weight, axis=0))
    weighted = SpatialGMMSegmenter(4, **kw).fit(X[order], sample_weight=weight[order])
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(weighted.labels_[np.argsort(order)], repeated.predict(X))


def test_sample_weight_is_checked():
    X, _ = _quadrant_image(noise=0.8)
    seg = SpatialGMMSegmenter(4, image_shape=(H, W), random_state=0)
    with pytest.raises(ValueError, match="Negative values"):
        seg.fit(X, sample_weight=-np.ones(H * W))
    with pytest.raises(ValueError, match="sample_weight"):
        seg.fit(X, sample_weight=np.ones(5))
    few = np.zeros(H * W)
    few[:3] = 1
    with pytest.raises(ValueError, match="n_clusters=4 must be <= .*3 pixels of non-zero sample_weight"):
        seg.fit(X, sample_weight=few)


@pytest.mark.parametrize("scale", [1e-3, 1e8])
def test_labels_do_not_depend_on_the_features_scale(scale):
    # Small features run the E-step in float32, features beyond 1e6 in float64: same segments.
    X, _ = _quadrant_image(noise=0.8)
    kwargs = dict(image_shape=(H, W), covariance_type="full", random_state=0)
    reference = SpatialGMMSegmenter(4, **kwargs).fit(X)
    scaled = SpatialGMMSegmenter(4, reg_covar=1e-6 * scale**2, **kwargs).fit(X * scale)
    assert adjusted_rand_score(reference.labels_, scaled.labels_) > 0.99
    np.testing.assert_allclose(scaled.means_ / scale, reference.means_, rtol=1e-3, atol=1e-3)


# -- fitting large images on a sub-grid ------------------------------------------------------


def test_large_images_are_fitted_on_a_sub_grid_and_labelled_whole():
    X, truth = _quadrant_image(noise=1.0)
    seg = SpatialGMMSegmenter(4, image_shape=(H, W), subsample=300, random_state=0, verbose=1)
    seg.fit(X)
    # 30 x 40 pixels, at most 300: every 2nd row and column (15 x 20)
    assert seg.labels_.shape == (H * W,)
    np.testing.assert_array_equal(seg.labels_, seg.predict(X))
    assert adjusted_rand_score(truth, seg.labels_) > 0.95
    whole = SpatialGMMSegmenter(4, image_shape=(H, W), subsample=None, random_state=0).fit(X)
    # the same four centres, in whatever order
    gaps = np.linalg.norm(seg.means_[:, None] - whole.means_[None], axis=2)
    assert sorted(gaps.argmin(axis=1)) == [0, 1, 2, 3] and gaps.min(axis=1).max() < 0.15


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sub_grid_fit_prints_its_step(capsys):
    X, _ = _quadrant_image(noise=1.0)
    SpatialGMMSegmenter(4, image_shape=(H, W), subsample=300, max_iter=2, verbose=1).fit(X)
    assert "Fitting on every 2th row and column: 15 x 20 of 30 x 40 pixels" in capsys.readouterr().out


def test_subsample_at_or_above_the_pixel_count_changes_nothing():
    X, _ = _quadrant_image(noise=1.0)
    a = SpatialGMMSegmenter(4, image_shape=(H, W), subsample=H * W, random_state=0).fit(X)
    b = SpatialGMMSegmenter(4, image_shape=(H, W), subsample=None, random_state=0).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)


def test_without_an_image_the_subsample_is_random_and_labels_cover_all_pixels():
    X, truth = _quadrant_image(noise=0.6)
    seg = SpatialGMMSegmenter(4, subsample=200, random_state=0).fit(X)
    assert seg.labels_.shape == (H * W,)
    assert adjusted_rand_score(truth, seg.labels_) > 0.9


def test_a_subsample_without_enough_usable_pixels_is_refused():
    X, _ = _quadrant_image(noise=1.0)
    weight = np.zeros(H * W)
    weight[1::2] = 1  # odd columns only: the sub-grid of even rows and columns has none
    seg = SpatialGMMSegmenter(4, image_shape=(H, W), subsample=300, random_state=0)
    with pytest.raises(ValueError, match="usable pixels in the subsample of 300 pixels"):
        seg.fit(X, sample_weight=weight)


def test_a_cluster_seeded_on_an_outlier_is_drawn_again():
    # Three groups and one far outlier: k-means++ often seeds a cluster on the outlier, and with
    # a tied covariance a one-pixel cluster survives EM; the segmenter starts again instead.
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 1.0, size=(300, 2)) for c in ((0, 0), (6, 0), (0, 6))])
    X[0] = (400.0, 400.0)
    sizes = []
    for seed in range(8):
        seg = SpatialGMMSegmenter(3, covariance_type="tied", random_state=seed).fit(X)
        sizes.append(np.bincount(seg.labels_, minlength=3).min())
    assert min(sizes) > 250, sizes


def test_equal_weights_stop_a_large_cluster_from_taking_its_small_neighbours_tail():
    # A large and a small cluster whose tails overlap, as where one material grades into another.
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0.0, 1.0, (8000, 1)), rng.normal(3.0, 1.0, (2000, 1))])
    estimated = SpatialGMMSegmenter(2, covariance_type="tied", random_state=0).fit(X)
    equal = SpatialGMMSegmenter(2, covariance_type="tied", equal_weights=True, random_state=0).fit(X)
    np.testing.assert_allclose(equal.weights_, [0.5, 0.5])
    assert estimated.weights_.min() == pytest.approx(0.2, abs=0.03)

    def boundary(seg):
        grid = np.linspace(-2, 5, 7001)[:, None]
        return float(grid[np.flatnonzero(np.diff(seg.predict(grid)))[0], 0])

    def expected(seg):
        # Tied variance v: the log-odds are linear, zero at the midpoint shifted by v log(w0 / w1) / (m1 - m0).
        (m0, m1), v, (w0, w1) = seg.means_.ravel(), float(seg.covariances_.ravel()[0]), seg.weights_
        return (m0 + m1) / 2 + v * np.log(w0 / w1) / (m1 - m0)

    assert boundary(equal) == pytest.approx(equal.means_.mean(), abs=2e-3)  # where the densities meet
    assert boundary(estimated) == pytest.approx(expected(estimated), abs=2e-3)
    assert boundary(estimated) > estimated.means_.mean() + 0.3  # pushed into the small cluster
    small = lambda seg: np.bincount(seg.labels_)[np.argmax(seg.means_.ravel())]  # noqa: E731
    assert small(estimated) < 2100 < 3000 < small(equal)


def test_spatial_fit_false_fits_the_plain_mixture_and_smooths_only_the_labels():
    X, truth = _quadrant_image(noise=1.5)
    plain = SpatialGMMSegmenter(4, image_shape=(H, W), spatial_weight=0, random_state=0).fit(X)
    seg = SpatialGMMSegmenter(4, image_shape=(H, W), spatial_weight=2.0, spatial_fit=False, random_state=0).fit(X)
    # The mixture is the one fitted without space ...
    np.testing.assert_array_equal(seg.means_, plain.means_)
    np.testing.assert_array_equal(seg.covariances_, plain.covariances_)
    assert seg.lower_bound_ == plain.lower_bound_
    # ... while the labels get the spatial prior: smoother and closer to the regions.
    np.testing.assert_array_equal(seg.labels_, seg.predict(X))
    assert _boundary_fraction(seg.labels_) < 0.5 * _boundary_fraction(plain.labels_)
    assert adjusted_rand_score(truth, seg.labels_) > adjusted_rand_score(truth, plain.labels_) + 0.3


# -- the shaded mixture ------------------------------------------------------------------


def _shaded_scene(n=2000, seed=0):
    """A material seen at brightness 0.3-1 (a line towards the black point 0) and a compact one.

    The dark end of the line lies nearer the compact cluster than the line's bright end: a
    shared covariance cuts the line there.
    """
    rng = np.random.default_rng(seed)
    line = rng.uniform(0.3, 1.0, n)[:, None] * np.array([1.0, 0.8]) + rng.normal(scale=0.02, size=(n, 2))
    compact = np.array([0.2, 0.45]) + rng.normal(scale=0.04, size=(n, 2))
    return np.vstack([line, compact]), np.repeat([0, 1], n)


def test_shaded_mixture_keeps_a_shaded_material_together_where_a_tied_one_cuts_it():
    X, truth = _shaded_scene()
    kwargs = dict(equal_weights=True, random_state=0)
    tied = SpatialGMMSegmenter(2, covariance_type="tied", **kwargs).fit(X)
    shaded = SpatialGMMSegmenter(2, covariance_type="shaded", **kwargs).fit(X)
    assert adjusted_rand_score(truth, tied.labels_) < 0.5
    assert adjusted_rand_score(truth, shaded.labels_) > 0.99
    np.testing.assert_array_equal(shaded.shade_point_, [0.0, 0.0])  # None: the origin
    # The features moved away from the black point: told where it went, the same partition ...
    offset = np.array([5.0, -2.0])
    moved = SpatialGMMSegmenter(2, covariance_type="shaded", **kwargs).fit(X + offset, shade_point=offset)
    np.testing.assert_array_equal(moved.labels_, shaded.labels_)
    np.testing.assert_allclose(moved.means_, shaded.means_ + offset)
    np.testing.assert_array_equal(moved.shade_point_, offset)
    # ... not told, the lines point at the wrong place and the material is cut again.
    lost = SpatialGMMSegmenter(2, covariance_type="shaded", **kwargs).fit(X + offset)
    assert adjusted_rand_score(truth, lost.labels_) < 0.5


def test_shaded_covariances_are_one_shared_matrix_plus_a_variance_along_each_shading_line():
    rng = np.random.default_rng(1)
    materials = np.array([[1.0, 0.6, 0.2, 0.1], [0.3, 0.6, 1.0, 0.8], [0.7, 0.9, 0.6, 0.3]])
    truth = np.repeat(np.arange(3), 600)
    shade = np.array([0.1, -0.2, 0.0, 0.3])
    X = shade + rng.uniform(0.4, 1.0, (1800, 1)) * materials[truth] + rng.normal(scale=0.03, size=(1800, 4))
    seg = SpatialGMMSegmenter(3, covariance_type="shaded", equal_weights=True, random_state=0)
    seg.fit(X, shade_point=shade)
    assert adjusted_rand_score(truth, seg.labels_) > 0.99
    assert seg.covariances_.shape == seg.precisions_cholesky_.shape == (3, 4, 4)
    v = seg.means_ - shade
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    # Across all three lines the covariances are the same matrix ...
    Q, _ = np.linalg.qr(v.T, mode="complete")
    across = Q[:, 3:]
    for cov in seg.covariances_[1:]:
        np.testing.assert_allclose(across.T @ cov @ across, across.T @ seg.covariances_[0] @ across, atol=1e-12)
    # ... and two clusters' covariances differ by a_c v_c v_c' - a_j v_j v_j' only, a >= 0.
    for c, j in ((0, 1), (0, 2), (1, 2)):
        basis = np.stack([np.outer(v[c], v[c]).ravel(), -np.outer(v[j], v[j]).ravel()], axis=1)
        diff = (seg.covariances_[c] - seg.covariances_[j]).ravel()
        a, *_ = np.linalg.lstsq(basis, diff, rcond=None)
        np.testing.assert_allclose(basis @ a, diff, atol=1e-10)
        assert np.all(a > 0)  # every line carries a spread of brightness
    # Along its line each cluster has the spread of its pixels there.
    for c in range(3):
        spread = np.var((X[seg.labels_ == c] - seg.means_[c]) @ v[c])
        assert v[c] @ seg.covariances_[c] @ v[c] == pytest.approx(spread, rel=0.05)
    np.testing.assert_allclose(
        np.linalg.inv(seg.covariances_),
        np.einsum("kij,klj->kil", seg.precisions_cholesky_, seg.precisions_cholesky_),
        rtol=1e-8,
        atol=1e-6,
    )


def test_shade_point_is_checked_and_used_only_by_the_shaded_mixture():
    X, _ = _shaded_scene(n=200)
    seg = SpatialGMMSegmenter(2, covariance_type="shaded", random_state=0)
    for bad, found in (([0.0, 0.0, 0.0], r"shape \(3,\)"), ([0.0, np.nan], "non-finite")):
        with pytest.raises(
            ValueError, match=r"shade_point must be 2 finite numbers .*" + found + r".*hsiae\.shade_point"
        ):
            seg.fit(X, shade_point=bad)
    assert not hasattr(seg, "means_")  # refused before any work
    seg.fit(X, shade_point=np.zeros((1, 2)))  # one row, as a transformer returns it
    tied = SpatialGMMSegmenter(2, covariance_type="tied", random_state=0)
    plain = SpatialGMMSegmenter(2, covariance_type="tied", random_state=0).fit(X)
    np.testing.assert_array_equal(tied.fit(X, shade_point=[9.0, 9.0]).labels_, plain.labels_)
    assert not hasattr(tied, "shade_point_")


def test_shaded_mixture_ignores_what_holes_hold():
    X, truth = _quadrant_image(noise=0.8)
    X = X + 10.0  # away from the black point, so that the lines have directions
    hole, weight = _holes()
    fits = []
    for fill in (np.array([11.5, 11.5]), np.array([40.0, -40.0])):
        Xf = X.copy()
        Xf[hole] = fill
        seg = SpatialGMMSegmenter(4, image_shape=(H, W), covariance_type="shaded", random_state=0)
        fits.append(seg.fit(Xf, sample_weight=weight))
    np.testing.assert_allclose(fits[0].covariances_, fits[1].covariances_, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(fits[0].labels_[~hole], fits[1].labels_[~hole])
    assert adjusted_rand_score(truth[~hole], fits[0].labels_[~hole]) > 0.9


def test_shaded_bic_counts_one_shared_covariance_and_a_variance_per_cluster():
    X, _ = _shaded_scene(n=300)
    shaded = SpatialGMMSegmenter(2, covariance_type="shaded", random_state=0).fit(X)
    tied = SpatialGMMSegmenter(2, covariance_type="tied", random_state=0).fit(X)
    assert shaded._n_parameters() == tied._n_parameters() + 2
    expected = -2 * shaded.score(X) * len(X) + shaded._n_parameters() * np.log(len(X))
    assert shaded.bic(X) == pytest.approx(expected)


def test_shaded_m_step_recovers_the_covariances_data_were_drawn_from():
    # Clusters drawn from N(m_c, S + a_c v_c v_c') exactly: the M-step finds S and a_c, where
    # splitting each residual into its part along the line and the rest would not (it drops
    # what S itself has along the lines).
    from hsiae.segmentation import _shaded_covariances

    rng = np.random.default_rng(0)
    d, n = 5, 40_000
    means = rng.uniform(1.0, 3.0, (3, d))
    v = means / np.linalg.norm(means, axis=1, keepdims=True)
    B = rng.normal(size=(d, d))
    S = B @ B.T / d + 0.1 * np.eye(d)
    a = np.array([4.0, 0.5, 9.0])
    scatter = np.empty((3, d, d))
    for c in range(3):
        X = rng.multivariate_normal(means[c], S + a[c] * np.outer(v[c], v[c]), size=n)
        r = X - X.mean(axis=0)
        scatter[c] = r.T @ r
    cov = _shaded_covariances(scatter, np.full(3, float(n)), means, np.zeros(d), 1e-6, max_iter=5000)
    fitted_a = np.einsum("ki,kij,kj->k", v, cov, v) - np.einsum("ki,ij,kj->k", v, S, v)
    np.testing.assert_allclose(fitted_a, a, rtol=0.05)
    np.testing.assert_allclose(
        cov - fitted_a[:, None, None] * np.einsum("ki,kj->kij", v, v),
        np.broadcast_to(S, (3, d, d)),
        atol=0.03 * np.abs(S).max(),
    )


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("reg_covar", [1e-6, 0.0])
def test_a_cluster_centred_on_the_shade_point_has_no_line_and_still_fits(reg_covar):
    X = np.random.default_rng(0).normal(size=(500, 3))
    seg = SpatialGMMSegmenter(1, covariance_type="shaded", reg_covar=reg_covar).fit(X, shade_point=X.mean(axis=0))
    np.testing.assert_allclose(seg.covariances_[0], np.cov(X.T, bias=True) + reg_covar * np.eye(3), rtol=1e-6)
    assert np.isfinite(seg.score(X))

"""Tests for hsiae.workflow.recipes, spectra and selection: helpers on a fitted resampler, encoder, segmenter."""

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline, make_pipeline

from hsiae import (
    AEDEncoder,
    SegmentationPipeline,
    SpatialGMMSegmenter,
    SpectralResampler,
    WholeImageSplit,
    cluster_mean_spectra,
    denoise,
    load_model,
    make_clustering_scorer,
    make_segmentation_pipeline,
    make_silhouette_scorer,
    representative_spectra,
    save_model,
    segment_cube,
    shade_point,
    silhouette_scorer,
)
from hsiae.datasets import load_scene, make_synthetic_scene

# Tiny networks, trained for a few epochs: they do not converge, and say so.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

H, W, N_BANDS, K = 20, 20, 24, 3
GRID = {"aedencoder__zdims": [2, 3], "spatialgmmsegmenter__n_clusters": [2, 3]}


def _make_pipe(zdims=3):
    return make_pipeline(
        SpectralResampler(n_bands=16),
        AEDEncoder(zdims=zdims, channels=(2, 4), max_epochs=3, batch_size=64, random_state=0),
        SpatialGMMSegmenter(K, image_shape=(H, W), random_state=0),
    )


@pytest.fixture(scope="module")
def scene():
    s = make_synthetic_scene(n_bands=N_BANDS, shape=(H, W), n_segments=K, random_state=0)
    return s.cube.reshape(-1, N_BANDS), s.labels.ravel()


@pytest.fixture(scope="module")
def fitted(scene):
    X, _ = scene
    return _make_pipe().fit(X)


class _FixedLabels(ClusterMixin, BaseEstimator):
    """A stand-in "pipeline" that predicts given labels, to score labels without a model."""

    def __init__(self, labels=None):
        self.labels = labels

    def fit(self, X, y=None):
        return self

    def predict(self, X):
        return np.asarray(self.labels)


# -- representative and mean spectra ----------------------------------------------------------


def test_representative_spectra_decode_the_cluster_centres(fitted):
    spectra = representative_spectra(fitted)
    assert spectra.shape == (K, N_BANDS)
    expected = fitted[:-1].inverse_transform(fitted[-1].means_)
    np.testing.assert_allclose(spectra, expected)
    # one spectrum per segment, in the original bands: the decoder's output mapped back
    # through the resampler, not the 16 resampled bands
    decoded = fitted.named_steps["aedencoder"].inverse_transform(fitted[-1].means_)
    assert decoded.shape == (K, 16)
    np.testing.assert_allclose(spectra, fitted[0].inverse_transform(decoded))


def test_cluster_mean_spectra_of_many_rows_far_from_zero(fitted):
    # more rows than one streamed block, clusters interleaved, an empty cluster, a large offset
    import hsiae._stats

    rng = np.random.default_rng(3)
    n = 2 * hsiae._stats.ROW_BLOCK + 77
    labels = rng.integers(0, K - 1, size=n)  # cluster K - 1 stays empty
    X = 5e3 + labels[:, None] + rng.normal(size=(n, 5)) * 0.01
    means, std = cluster_mean_spectra(fitted, X, labels, return_std=True)
    for c in range(K - 1):
        np.testing.assert_allclose(means[c], X[labels == c].mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(std[c], X[labels == c].std(axis=0), rtol=1e-7)
    assert np.all(means[K - 1] == 0) and np.all(std[K - 1] == 0)


def test_cluster_mean_spectra_equal_a_groupby_mean_and_std(fitted, scene):
    X, _ = scene
    labels = fitted.predict(X)
    onehot = np.eye(K)[labels]  # (n_pixels, K)
    counts = onehot.sum(axis=0)[:, None]
    assert np.all(counts > 0)
    mean = onehot.T @ X.astype(np.float64) / counts
    std = np.sqrt(onehot.T @ (X - mean[labels]) ** 2 / counts)

    np.testing.assert_allclose(cluster_mean_spectra(fitted, X), mean, rtol=1e-6)
    got_mean, got_std = cluster_mean_spectra(fitted, X, return_std=True)
    assert got_mean.shape == got_std.shape == (K, N_BANDS)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-6)
    np.testing.assert_allclose(got_std, std, rtol=1e-5, atol=1e-7)


def test_cluster_mean_spectra_with_given_labels_and_an_empty_cluster(fitted, scene):
    X, _ = scene
    labels = np.where(np.arange(len(X)) < 100, 0, 2)  # cluster 1 is empty
    means = cluster_mean_spectra(fitted, X, labels)
    np.testing.assert_allclose(means[0], X[:100].mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(means[1], 0.0)
    np.testing.assert_allclose(means[2], X[100:].mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="labels has 399 values but X has 400 rows"):
        cluster_mean_spectra(fitted, X, labels[:-1])


# -- denoising ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_denoise_is_encode_then_decode_in_the_input_dtype(fitted, scene, dtype):
    X = scene[0].astype(dtype)
    head = fitted[:-1]
    denoised = denoise(fitted, X)
    assert denoised.shape == X.shape
    assert denoised.dtype == dtype
    np.testing.assert_array_equal(denoised, head.inverse_transform(head.transform(X)))
    # A pipeline without the segmenter denoises the same way.
    np.testing.assert_array_equal(denoise(head, X), denoised)


def test_helpers_reject_what_is_not_a_fitted_segmentation_pipeline(fitted, scene):
    X, _ = scene
    encoder = fitted.named_steps["aedencoder"]
    with pytest.raises(TypeError, match="Expected a fitted sklearn Pipeline, got AEDEncoder"):
        representative_spectra(encoder)
    with pytest.raises(TypeError, match="Expected a fitted sklearn Pipeline, got ndarray"):
        denoise(X, X)
    with pytest.raises(TypeError, match="Expected a fitted sklearn Pipeline"):
        cluster_mean_spectra(encoder, X)
    # A pipeline that does not end in a segmenter has no centres to decode.
    with pytest.raises(TypeError, match="ending in a SpatialGMMSegmenter, but its last step is AEDEncoder"):
        representative_spectra(fitted[:-1])
    with pytest.raises(NotFittedError):
        representative_spectra(_make_pipe())


def test_a_clusterer_without_means_is_rejected_with_type_error():
    X = np.random.default_rng(0).random((60, 8))
    pipe = make_pipeline(PCA(2), KMeans(3, n_init=1, random_state=0)).fit(X)
    with pytest.raises(TypeError, match="means_"):
        representative_spectra(pipe)


# -- scorers ---------------------------------------------------------------------------


def test_silhouette_scorer_measures_predicted_segments_on_the_input_spectra(fitted, scene):
    X, _ = scene
    labels = fitted.predict(X)
    score = silhouette_scorer(fitted, X)
    # measured on X (fewer pixels than sample_size: all of them), not on the latent codes
    assert score == pytest.approx(silhouette_score(X, labels))
    assert score != pytest.approx(silhouette_score(fitted[:-1].transform(X), labels))
    assert silhouette_scorer(fitted, X) == score  # the same predictions score the same
    # Anything that predicts the same labels scores the same: only X and labels count.
    assert silhouette_scorer(_FixedLabels(labels), X) == score


def test_silhouette_scorer_is_comparable_across_zdims(scene):
    X, _ = scene
    pipes = [_make_pipe(zdims).fit(X) for zdims in (2, 3)]
    for pipe in pipes:
        labels = pipe.predict(X)
        # The score of an encoder is the score of its labels on X, whatever its latent size.
        assert silhouette_scorer(pipe, X) == silhouette_scorer(_FixedLabels(labels), X)
        assert silhouette_scorer(pipe, X) == pytest.approx(silhouette_score(X, labels))


def test_silhouette_scorer_samples_the_same_pixels_for_every_candidate(scene):
    X, y = scene
    scorer = make_silhouette_scorer(sample_size=100, random_state=0)
    a = scorer(_FixedLabels(y), X)
    # same labels, another estimator object: same sample, same value
    assert scorer(_FixedLabels(y.copy()), X) == a
    assert -1 <= a <= 1
    # a sample of 100 pixels gives another value than all 400
    assert a != pytest.approx(silhouette_score(X, y))


def test_silhouette_scorer_gives_minus_one_to_a_single_segment(scene):
    X, _ = scene
    assert silhouette_scorer(_FixedLabels(np.zeros(len(X), int)), X) == -1.0
    assert make_silhouette_scorer(metric="cosine")(_FixedLabels(np.full(len(X), 4)), X) == -1.0


def test_clustering_scorer_leaves_unlabelled_pixels_out(scene):
    X, y = scene
    rng = np.random.default_rng(0)
    pred = rng.permutation(y)
    y_partly = y.copy()
    y_partly[:150] = 0  # unlabelled
    keep = y_partly != 0
    scorer = make_clustering_scorer()
    expected = adjusted_rand_score(y[keep], pred[keep])
    assert scorer(_FixedLabels(pred), X, y_partly) == pytest.approx(expected)
    assert scorer(_FixedLabels(y + 10), X, y) == 1.0  # same partition, other ids
    everything = make_clustering_scorer(unlabelled=None)
    expected = adjusted_rand_score(y_partly, pred)
    assert everything(_FixedLabels(pred), X, y_partly) == pytest.approx(expected)
    with pytest.raises(ValueError, match="pass y to fit"):
        scorer(_FixedLabels(pred), X, None)


def _background_map():
    """Two classes, 0 (background) and 1, told apart by the first feature."""
    y = np.repeat([0, 1], 100)
    return y[:, None] * 3.0 + np.random.default_rng(0).normal(size=(200, 2)), y


def test_clustering_scorer_refuses_ground_truth_left_with_one_class():
    # On a 0/1 map the default unlabelled=0 leaves one class: every segmentation would score the
    # same (0.0), so the scorer says which label it dropped and how to keep it.
    X, y = _background_map()
    message = r"only class 1 is left.*unlabelled=0.*make_clustering_scorer\(unlabelled=None\)"
    with pytest.raises(ValueError, match=message):
        make_clustering_scorer()(_FixedLabels(y), X, y)
    with pytest.raises(ValueError, match="no pixel is left"):
        make_clustering_scorer()(_FixedLabels(y), X, np.zeros_like(y))
    with pytest.raises(ValueError, match="only class 1 is in y"):
        make_clustering_scorer(unlabelled=None)(_FixedLabels(y), X, np.ones_like(y))
    assert make_clustering_scorer(unlabelled=None)(_FixedLabels(y), X, y) == 1.0
    assert make_clustering_scorer(unlabelled=-1)(_FixedLabels(1 - y), X, y) == 1.0


def test_grid_search_on_a_background_map_tells_why_it_cannot_choose():
    X, y = _background_map()
    grid = {"n_clusters": [3, 2]}
    search = GridSearchCV(
        SpatialGMMSegmenter(random_state=0), grid, cv=WholeImageSplit(), scoring=make_clustering_scorer()
    )
    # GridSearchCV turns the scorer's error into a warning and a NaN score per candidate
    with pytest.warns(UserWarning, match="non-finite"), pytest.warns(UserWarning, match="unlabelled=None"):
        search.fit(X, y)
    assert np.all(np.isnan(search.cv_results_["mean_test_score"]))
    search.set_params(error_score="raise")
    with pytest.raises(ValueError, match="only class 1 is left"):
        search.fit(X, y)
    # keeping the background as a class, the search finds the two classes
    search.set_params(scoring=make_clustering_scorer(unlabelled=None)).fit(X, y)
    assert search.best_params_ == {"n_clusters": 2} and search.best_score_ > 0.9


# -- model selection -------------------------------------------------------------------


def _grid_values(params):
    return (
        params["aedencoder__zdims"] in GRID["aedencoder__zdims"]
        and params["spatialgmmsegmenter__n_clusters"] in GRID["spatialgmmsegmenter__n_clusters"]
    )


def test_grid_search_with_labels_on_whole_images(scene):
    X, y = scene
    scorer = make_clustering_scorer()
    search = GridSearchCV(_make_pipe(), GRID, cv=WholeImageSplit(), scoring=scorer, error_score="raise")
    search.fit(X, y)
    assert set(search.best_params_) == set(GRID) and _grid_values(search.best_params_)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    # Each split trains on the whole image, so the refit model is exactly the one that was scored.
    assert scorer(search.best_estimator_, X, y) == pytest.approx(search.best_score_)
    assert search.best_estimator_.predict(X).shape == (H * W,)


def test_grid_search_without_labels_using_the_silhouette(scene):
    X, _ = scene
    search = GridSearchCV(_make_pipe(), GRID, cv=WholeImageSplit(), scoring=silhouette_scorer, error_score="raise")
    search.fit(X)
    assert _grid_values(search.best_params_)
    assert silhouette_scorer(search.best_estimator_, X) == pytest.approx(search.best_score_)
    assert np.all(search.cv_results_["mean_test_score"] <= search.best_score_)


def test_random_folds_break_the_image_and_raise_the_segmenter_error(scene):
    X, y = scene
    search = GridSearchCV(_make_pipe(), GRID, cv=KFold(3), scoring=make_clustering_scorer(), error_score="raise")
    message = r"image_shape=\(20, 20\) implies 400 pixels, but X has 26\d rows"
    with pytest.raises(ValueError, match=message):
        search.fit(X, y)


def test_whole_image_split_yields_all_pixels_for_training_and_testing():
    X = np.zeros((6, 2))
    splits = list(WholeImageSplit(n_splits=2).split(X))
    assert len(splits) == WholeImageSplit(n_splits=2).get_n_splits() == 2
    for train, test in splits:
        np.testing.assert_array_equal(train, np.arange(6))
        np.testing.assert_array_equal(test, np.arange(6))


# -- persistence and the factory ----------------------------------------------------------------


def test_joblib_round_trip_gives_identical_outputs(fitted, scene, tmp_path):
    X, _ = scene
    path = tmp_path / "pipe.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(loaded[:-1].transform(X), fitted[:-1].transform(X))
    np.testing.assert_array_equal(representative_spectra(loaded), representative_spectra(fitted))


def _shaded_pipe():
    steps = _make_pipe().steps
    steps[-1][1].set_params(covariance_type="shaded", equal_weights=True)
    return SegmentationPipeline(steps)


def test_shade_point_is_the_code_of_a_black_spectrum(fitted):
    point = shade_point(fitted[:-1])
    np.testing.assert_array_equal(point, fitted[:-1].transform(np.zeros((1, N_BANDS), np.float32))[0])
    assert point.dtype == np.float64 and point.shape == (3,)
    np.testing.assert_array_equal(shade_point(fitted[:-1], N_BANDS), point)
    with pytest.raises(NotFittedError):
        shade_point(_make_pipe()[:-1])


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
def test_segmentation_pipeline_hands_its_shaded_segmenter_the_shade_point(scene, method):
    X, truth = scene
    pipe = _shaded_pipe()
    labels = getattr(pipe, method)(X)
    if method == "fit":
        labels = pipe[-1].labels_
    seg = pipe[-1]
    np.testing.assert_array_equal(seg.shade_point_, shade_point(pipe[:-1]))
    assert np.linalg.norm(seg.shade_point_) > 0.1  # not the origin the segmenter takes without it
    assert "fit" not in vars(seg)  # the segmenter's own fit again
    np.testing.assert_array_equal(pipe.predict(X), labels)
    # The same steps in a plain Pipeline: the segmenter is not told, and takes the origin.
    plain = Pipeline(clone(_shaded_pipe()).steps).fit(X)
    np.testing.assert_array_equal(plain[-1].shade_point_, np.zeros(3))
    np.testing.assert_array_equal(plain[:-1].transform(X), pipe[:-1].transform(X))
    assert not np.array_equal(plain[-1].covariances_, seg.covariances_)


def test_a_shade_point_passed_to_fit_wins(scene):
    X, _ = scene
    pipe = _shaded_pipe().fit(X, spatialgmmsegmenter__shade_point=np.ones(3))
    np.testing.assert_array_equal(pipe[-1].shade_point_, np.ones(3))


def test_segmentation_pipeline_clones_slices_and_persists_as_itself(scene, tmp_path):
    X, _ = scene
    pipe = _shaded_pipe().fit(X)
    assert type(clone(pipe)) is SegmentationPipeline
    assert type(pipe[:-1]) is SegmentationPipeline
    for name in ("m.joblib", "m.hsiae"):
        save_model(tmp_path / name, pipe)
        loaded, _ = load_model(tmp_path / name)
        assert type(loaded) is SegmentationPipeline
        np.testing.assert_array_equal(loaded[-1].shade_point_, pipe[-1].shade_point_)
        np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
        # Refitted, it finds the shade point of its new head.
        loaded.set_params(aedencoder__random_state=1).fit(X)
        np.testing.assert_array_equal(loaded[-1].shade_point_, shade_point(loaded[:-1]))


def test_segment_cube_gives_a_shaded_segmenter_the_shade_point(scene):
    X, _ = scene
    cube = X.reshape(H, W, N_BANDS).copy()
    cube[0, :3] = np.nan  # no-data pixels: the segmenter is fitted with weights
    pipe = _shaded_pipe()
    labels = segment_cube(pipe, cube)
    assert labels[0, 0] == 0 and labels.min() == 0 and labels.max() == K
    np.testing.assert_array_equal(pipe[-1].shade_point_, shade_point(pipe[:-1]))


def test_make_segmentation_pipeline_steps_and_parameters():
    pipe = make_segmentation_pipeline(6, image_shape=(83, 86), random_state=7)
    assert type(pipe) is SegmentationPipeline and isinstance(pipe, Pipeline)
    names = [name for name, _ in pipe.steps]
    assert names == ["spectralresampler", "aedencoder", "spatialgmmsegmenter"]
    assert isinstance(pipe[0], SpectralResampler)
    assert isinstance(pipe[1], AEDEncoder)
    seg = pipe.named_steps["spatialgmmsegmenter"]
    assert isinstance(seg, SpatialGMMSegmenter)
    assert seg.n_clusters == 6
    assert seg.image_shape == (83, 86)
    assert seg.spatial_weight > 0  # the spatial prior is on by default
    assert seg.covariance_type == "shaded" and seg.equal_weights
    assert seg.random_state == 7
    assert pipe.named_steps["aedencoder"].random_state == 7
    assert make_segmentation_pipeline(4)[-1].image_shape is None


def test_make_segmentation_pipeline_applies_overrides():
    pipe = make_segmentation_pipeline(
        6,
        image_shape=(83, 86),
        random_state=0,
        aedencoder__zdims=5,
        spectralresampler__n_bands=32,
        spatialgmmsegmenter__spatial_weight=0.25,
    )
    assert pipe.named_steps["aedencoder"].zdims == 5
    assert pipe.named_steps["spectralresampler"].n_bands == 32
    assert pipe.named_steps["spatialgmmsegmenter"].spatial_weight == 0.25
    assert pipe.named_steps["spatialgmmsegmenter"].n_clusters == 6  # untouched
    with pytest.raises(ValueError, match="no_such_param"):
        make_segmentation_pipeline(6, aedencoder__no_such_param=1)


# -- real data -------------------------------------------------------------------------


@pytest.mark.slow
def test_salinas_a_segments_recover_the_fields(data_home):
    scene = load_scene("salinas_a", data_home=data_home)
    n_rows, n_cols, n_bands = scene.cube.shape
    X = scene.cube.reshape(-1, n_bands)
    y = scene.labels.ravel()
    # 15 epochs instead of the default 60 keep this test short; the ARI measured 0.72
    # (about the same after 5 epochs; chance is 0).
    pipe = make_segmentation_pipeline(6, image_shape=(n_rows, n_cols), random_state=0, aedencoder__max_epochs=15).fit(X)
    labels = pipe.predict(X)
    labelled = y != 0
    assert adjusted_rand_score(y[labelled], labels[labelled]) > 0.5
    spectra = representative_spectra(pipe)
    assert spectra.shape == (6, n_bands) and np.all(np.isfinite(spectra))


def test_denoising_pipeline_reconstructs_at_least_as_well_as_pca_of_the_same_rank():
    from sklearn.decomposition import PCA

    from hsiae import denoise, make_denoising_pipeline

    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 40)
    abundances = rng.dirichlet(np.ones(3), size=600)
    clean = abundances @ np.stack([np.sin(3 * t) + 1, np.exp(-t), t**2])
    noisy = (clean + rng.normal(scale=0.02, size=clean.shape)).astype(np.float32)
    pipe = make_denoising_pipeline(
        random_state=0, spectralresampler__n_bands=40, aedencoder__zdims=3, aedencoder__max_epochs=3
    )
    assert [name for name, _ in pipe.steps] == ["spectralresampler", "aedencoder"]
    assert pipe[0].scaling == "range"
    out = denoise(pipe.fit(noisy), noisy)
    pca = PCA(3).fit(noisy)
    rmse_pca = np.sqrt(np.mean((pca.inverse_transform(pca.transform(noisy)) - clean) ** 2))
    rmse = np.sqrt(np.mean((out - clean) ** 2))
    assert rmse <= rmse_pca * 1.02  # the fixed PCA path: never worse than PCA, up to float32 noise

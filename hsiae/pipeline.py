"""Working with a fitted resampler + encoder + segmenter pipeline.

Representative and mean cluster spectra, denoising, scorers for model
selection and a cross-validation splitter that keeps whole images.
"""

from contextlib import contextmanager

import numpy as np
from sklearn.base import ClusterMixin
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.model_selection import BaseCrossValidator
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from hsiae._stats import ROW_BLOCK, RunningMoments
from hsiae.encoder import AEDEncoder
from hsiae.resampling import SpectralResampler
from hsiae.segmentation import SpatialGMMSegmenter
from hsiae.workflow.defaults import DENOISING, SEGMENTATION

__all__ = [
    "make_segmentation_pipeline",
    "SegmentationPipeline",
    "shade_point",
    "make_denoising_pipeline",
    "representative_spectra",
    "cluster_mean_spectra",
    "denoise",
    "make_silhouette_scorer",
    "silhouette_scorer",
    "make_clustering_scorer",
    "WholeImageSplit",
]


def shade_point(head, n_features=None):
    """The features of a black (all-zero) spectrum under a fitted transformer.

    Shading scales a spectrum towards zero, so in feature space it moves a
    pixel towards this point. ``SpatialGMMSegmenter(covariance_type="shaded")``
    lets each cluster spread along the line from it to the cluster's centre.

    Parameters
    ----------
    head : fitted transformer
        For example the resampler and encoder of a fitted pipeline,
        ``pipe[:-1]``.
    n_features : int, default=None
        Bands of the input spectra; by default ``head.n_features_in_``.

    Returns
    -------
    point : ndarray of shape (n_output_features,)
    """
    if n_features is None:
        check_is_fitted(head)
        n_features = head.n_features_in_
    return np.asarray(head.transform(np.zeros((1, n_features), dtype=np.float32)), dtype=np.float64)[0]


def _shading_segmenter(step):
    return isinstance(step, SpatialGMMSegmenter) and step.covariance_type == "shaded"


def _fit_segmenter(segmenter, head, codes, **fit_params):
    """``segmenter.fit(codes, **fit_params)``, with the shade point of ``head`` when it uses one."""
    if _shading_segmenter(segmenter):
        fit_params.setdefault("shade_point", shade_point(head))
    return segmenter.fit(codes, **fit_params)


class SegmentationPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` that gives its segmenter the shade point.

    The same as ``Pipeline(steps)``, except that when the last step is a
    ``SpatialGMMSegmenter(covariance_type="shaded")``, :meth:`fit` and
    :meth:`fit_predict` pass it :func:`shade_point` of the steps before it,
    once they are fitted: where a black spectrum lands depends on the fitted
    resampler and encoder. :func:`make_segmentation_pipeline` returns one.
    Prediction, slicing, ``set_params``, cloning and persistence are those
    of ``Pipeline``.
    """

    @contextmanager
    def _shading(self):
        seg = self.steps[-1][1]
        if not _shading_segmenter(seg):
            yield
            return
        fit = seg.fit

        def fit_with_shade_point(X, y=None, **params):
            params.setdefault("shade_point", shade_point(self[:-1]))
            return fit(X, y, **params)

        seg.fit = fit_with_shade_point  # the Pipeline calls this once the head is fitted
        try:
            yield
        finally:
            del seg.fit

    def fit(self, X, y=None, **params):
        """Fit the steps as :meth:`Pipeline.fit <sklearn.pipeline.Pipeline.fit>`, with the shade point."""
        with self._shading():
            return super().fit(X, y, **params)

    def fit_predict(self, X, y=None, **params):
        """Fit and label as :meth:`Pipeline.fit_predict <sklearn.pipeline.Pipeline.fit_predict>`, with the shade point."""
        with self._shading():
            return super().fit_predict(X, y, **params)


def make_segmentation_pipeline(n_clusters, image_shape=None, random_state=None, **params):
    """The recommended resampler + encoder + segmenter pipeline for segment maps.

    Spectra are resampled to 256 bands and standardised per band, encoded
    into 8 latent dimensions, and clustered by a mixture with one shared
    covariance plus, per cluster, an extra variance along the line from the
    codes of a black spectrum to the cluster's centre
    (``covariance_type="shaded"``: brightness that varies within a material
    does not split it), and equal mixing weights (so that a large cluster does not
    take the mixed pixels at its border with a small one); the spatial
    prior (``spatial_weight=0.5``) smooths the labels but does not take part
    in fitting the mixture (``spatial_fit=False``). This is the configuration that
    scored best on average over Salinas-A, Samson and Jasper Ridge in
    ``benchmarks/quality.py`` (tables and every configuration tried in
    ``benchmarks/RESULTS.md``); it reads no labels and is not tuned per
    scene. For denoising use :func:`make_denoising_pipeline`: per-band
    standardisation weighs noisy low-signal bands as much as bright ones,
    which helps to tell materials apart but costs reconstruction accuracy.

    Parameters
    ----------
    n_clusters : int
        Number of segments.
    image_shape : tuple (H, W) or None, default=None
        Shape of the image whose pixels are the rows of ``X`` (row-major).
        ``None`` segments without the spatial prior.
    random_state : int, RandomState instance or None, default=None
        Seeds the encoder and the segmenter.
    **params
        Overrides in ``set_params`` form, e.g. ``aedencoder__zdims=16``.

    Returns
    -------
    pipeline : SegmentationPipeline
        Steps ``spectralresampler``, ``aedencoder``, ``spatialgmmsegmenter``;
        a :class:`~sklearn.pipeline.Pipeline` whose ``fit`` hands the
        segmenter the codes of a black spectrum (:func:`shade_point`).

    Examples
    --------
    >>> from hsiae import make_segmentation_pipeline
    >>> pipe = make_segmentation_pipeline(6, image_shape=(83, 86), random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['spectralresampler', 'aedencoder', 'spatialgmmsegmenter']
    """
    pipe = SegmentationPipeline(make_pipeline(
        SpectralResampler(n_bands=SEGMENTATION["bands"], scaling="standard"),
        AEDEncoder(zdims=SEGMENTATION["zdims"], random_state=random_state),
        SpatialGMMSegmenter(
            n_clusters, image_shape=image_shape, covariance_type="shaded", equal_weights=True,
            spatial_weight=SEGMENTATION["spatial_weight"], spatial_fit=False, random_state=random_state,
        ),
    ).steps)
    return pipe.set_params(**params) if params else pipe


def make_denoising_pipeline(random_state=None, **params):
    """The recommended resampler + encoder pipeline for denoising.

    Spectra keep their own bands (no interpolation, which would colour the
    noise) and are scaled by the data's range (one offset and one divisor
    for all bands, so every band's error counts as in the PSNR), encoded
    into 16 latent dimensions and decoded with Wiener shrinkage
    (``shrinkage="wiener"``): each code's principal-axis part is weighed by
    ``(var - noise) / var``, with the noise variance estimated from the
    axes beyond the 16 kept. The loss is the mean squared error alone
    (``sam_weight=0, gradient_weight=0``): the spectral-angle and gradient
    terms help segmentation but pull the reconstruction away from the
    least-squares optimum. Apply it with :func:`denoise` (or
    ``hsiae train --for denoising`` and ``hsiae denoise``).
    ``benchmarks/quality.py`` compares it with PCA and Savitzky-Golay at
    1 %, 5 % and 10 % noise (tables in ``benchmarks/RESULTS.md``): the
    shrinkage is what puts it 0.3-7 dB above the same-rank PCA projection;
    the network adds little to the linear path there.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seeds the encoder.
    **params
        Overrides in ``set_params`` form, e.g. ``aedencoder__max_epochs=100``.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``spectralresampler``, ``aedencoder``.

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae import denoise, make_denoising_pipeline
    >>> X = np.random.default_rng(0).random((500, 40)).astype(np.float32)
    >>> pipe = make_denoising_pipeline(random_state=0, aedencoder__max_epochs=2).fit(X)
    >>> denoise(pipe, X).shape
    (500, 40)
    """
    pipe = make_pipeline(
        SpectralResampler(n_bands=DENOISING["bands"], upsample=False, scaling="range"),
        AEDEncoder(
            zdims=DENOISING["zdims"], sam_weight=0.0, gradient_weight=0.0, shrinkage="wiener",
            random_state=random_state,
        ),
    )
    return pipe.set_params(**params) if params else pipe


def _split(pipe):
    """(transformer part, segmenter) of a fitted pipeline ending in a clusterer with ``means_``."""
    if not isinstance(pipe, Pipeline):
        raise TypeError(f"Expected a fitted sklearn Pipeline, got {type(pipe).__name__}.")
    last = pipe.steps[-1][1]
    message = (
        f"The pipeline's last step {type(last).__name__} is not a clusterer with means_; "
        f"end the pipeline with a SpatialGMMSegmenter."
    )
    if not isinstance(last, ClusterMixin):
        raise TypeError(message)
    check_is_fitted(last)
    if not hasattr(last, "means_"):
        raise TypeError(message)
    return pipe[:-1], last


def representative_spectra(pipe):
    """One decoded spectrum per cluster, in the original bands and units.

    The cluster centres in latent space (``means_`` of the final segmenter)
    are decoded by the encoder and mapped back through the resampler.

    Parameters
    ----------
    pipe : Pipeline
        A fitted pipeline ``resampler -> encoder -> segmenter``.

    Returns
    -------
    spectra : ndarray of shape (n_clusters, n_bands)

    See Also
    --------
    cluster_mean_spectra : The average input spectrum of each cluster.

    Notes
    -----
    A decoded centre is what the model considers the typical spectrum of the
    cluster: smooth and noise-free, but shaped by the decoder, which can bend
    it where the cluster is spread out in latent space. The mean input
    spectrum is the plain average of the measured pixels: faithful to the
    data, noise averaged down, but blurred where a cluster mixes materials.
    Where both agree, the cluster is well described by the model.
    """
    head, seg = _split(pipe)
    means = np.asarray(seg.means_)
    return head.inverse_transform(means)


def cluster_mean_spectra(pipe, X, labels=None, *, return_std=False):
    """Mean (and standard deviation) of the input spectra of each cluster.

    Parameters
    ----------
    pipe : Pipeline
        A fitted pipeline ending in a segmenter.
    X : array-like of shape (n_pixels, n_bands)
        The input spectra, in the original bands and units.
    labels : array-like of shape (n_pixels,), default=None
        Cluster of each row; by default ``pipe.predict(X)``.
    return_std : bool, default=False
        Also return the per-band standard deviation.

    Returns
    -------
    means : ndarray of shape (n_clusters, n_bands)
        Rows of empty clusters are NaN-free zeros.
    std : ndarray of shape (n_clusters, n_bands)
        Only with ``return_std=True``.

    See Also
    --------
    representative_spectra : The decoded cluster centres.
    """
    _, seg = _split(pipe)
    X = check_array(X, dtype=[np.float64, np.float32])
    labels = pipe.predict(X) if labels is None else np.asarray(labels).ravel()
    if labels.shape[0] != X.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} values but X has {X.shape[0]} rows; pass one per row.")
    k = seg.means_.shape[0]
    _check_labels(labels, k)
    labels = labels.astype(np.intp, copy=False)
    # Streamed over blocks of rows: a copy of a large cluster's spectra (and numpy.std's
    # deviations from their mean) would each be as large as that part of the image.
    moments = [RunningMoments(X.shape[1]) for _ in range(k)]
    for start in range(0, X.shape[0], ROW_BLOCK):
        block, block_labels = X[start : start + ROW_BLOCK], labels[start : start + ROW_BLOCK]
        for c in np.unique(block_labels):
            moments[c].update(block[block_labels == c])
    means = np.stack([m.mean for m in moments])
    std = np.stack([m.std for m in moments])
    return (means, std) if return_std else means


def _check_labels(labels, k):
    """Labels must be cluster indices 0..k-1: shifted or fractional ones would move spectra."""
    if labels.size == 0:
        return
    numeric = labels.dtype.kind in "iub" or (
        labels.dtype.kind == "f"
        and np.all(np.isfinite(labels))
        and np.all(labels == np.round(labels))
    )
    if not numeric or labels.min() < 0 or labels.max() >= k:
        found = (f"got values from {labels.min()} to {labels.max()}" if labels.dtype.kind in "iufb"
                 else f"got dtype {labels.dtype}")
        raise ValueError(
            f"labels must be integers in 0..{k - 1} (the segmenter's clusters), {found}; labels "
            f"read from a labels.tif written by hsiae are 1..{k} with 0 for no data: drop the "
            f"0s and subtract 1."
        )


def denoise(pipe, X):
    """Encode and decode spectra: ``pipe[:-1].inverse_transform(pipe[:-1].transform(X))``.

    Parameters
    ----------
    pipe : Pipeline
        A fitted pipeline; a final clusterer is skipped.
    X : array-like of shape (n_pixels, n_bands)

    Returns
    -------
    X_denoised : ndarray of shape (n_pixels, n_bands)
        In the original bands and units.
    """
    if not isinstance(pipe, Pipeline):
        raise TypeError(f"Expected a fitted sklearn Pipeline, got {type(pipe).__name__}.")
    head = pipe[:-1] if isinstance(pipe.steps[-1][1], ClusterMixin) else pipe
    return head.inverse_transform(head.transform(X))


def make_silhouette_scorer(*, sample_size=4000, metric="euclidean", random_state=0):
    """A label-free scorer for model selection across ``zdims`` and ``n_clusters``.

    The score is the silhouette coefficient of the predicted segments,
    measured on the pipeline's input spectra ``X`` (not on the latent codes),
    over a fixed random sample of pixels. Higher is better, in ``[-1, 1]``.

    Parameters
    ----------
    sample_size : int, default=4000
        Pixels used (the silhouette costs O(n^2)).
    metric : str, default="euclidean"
        Distance between spectra; "cosine" follows spectral angle.
    random_state : int, default=0
        Fixes the sample, so that every candidate is scored on the same pixels.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``, for ``GridSearchCV(scoring=...)``.

    Notes
    -----
    The mixture's log-likelihood (``SpatialGMMSegmenter.score``) cannot
    compare encoders: it is a log-density in latent space, and densities in
    spaces of different dimension (or differently scaled axes of the same
    dimension) are in different units. Nor can the reconstruction error: it
    does not depend on ``n_clusters`` and always favours larger ``zdims``.
    The silhouette is measured in the one space every candidate shares, the
    input, and it does not grow with the number of clusters. A result with a
    single segment gets -1.
    """

    def silhouette(estimator, X, y=None):
        labels = np.asarray(estimator.predict(X))
        if np.unique(labels).size < 2:
            return -1.0
        X = check_array(X, dtype=[np.float64, np.float32])
        rng = check_random_state(random_state)
        idx = np.sort(rng.choice(X.shape[0], size=min(sample_size, X.shape[0]), replace=False))
        if np.unique(labels[idx]).size < 2:
            return -1.0
        return float(silhouette_score(X[idx], labels[idx], metric=metric))

    return silhouette


silhouette_scorer = make_silhouette_scorer()


def make_clustering_scorer(score_func=adjusted_rand_score, *, unlabelled=0):
    """A scorer comparing predicted segments with ground-truth labels.

    Parameters
    ----------
    score_func : callable, default=adjusted_rand_score
        ``score_func(labels_true, labels_pred) -> float``, higher is better
        (e.g. ``normalized_mutual_info_score`` or
        :func:`hsiae.metrics.cluster_accuracy`).
    unlabelled : int or None, default=0
        Value in ``y`` that marks unlabelled pixels, left out of the score;
        they are still segmented, since the spatial prior needs them.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``.
    """

    def score(estimator, X, y):
        if y is None:
            raise ValueError("This scorer compares with ground-truth labels; pass y to fit (GridSearchCV.fit(X, y)).")
        y = np.asarray(y).ravel()
        pred = np.asarray(estimator.predict(X))
        if y.shape[0] != pred.shape[0]:
            raise ValueError(
                f"y has {y.shape[0]} values but X has {pred.shape[0]} rows; pass one label per "
                f"pixel (0 for unlabelled ones)."
            )
        keep = np.ones(y.shape, bool) if unlabelled is None else y != unlabelled
        return float(score_func(y[keep], pred[keep]))

    return score


class WholeImageSplit(BaseCrossValidator):
    """Cross-validation "splits" that keep the whole image in every fold.

    A spatial segmenter needs every pixel of the image (``image_shape``), so
    pixels cannot be split into folds. Each split here trains and scores on
    all pixels; this is model selection by an unsupervised criterion, not a
    held-out estimate. Random folds would break the image and raise the
    segmenter's ``image_shape`` error.

    Parameters
    ----------
    n_splits : int, default=1
        Number of identical splits (more only repeat the work, unless the
        estimator is unseeded).

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae import WholeImageSplit
    >>> [(len(tr), len(te)) for tr, te in WholeImageSplit().split(np.zeros((6, 2)))]
    [(6, 6)]
    """

    def __init__(self, n_splits=1):
        self.n_splits = n_splits

    def split(self, X, y=None, groups=None):
        n = len(X)
        idx = np.arange(n)
        for _ in range(self.n_splits):
            yield idx, idx

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits

    def _iter_test_indices(self, X=None, y=None, groups=None):  # required by the base class
        for _, test in self.split(X, y, groups):
            yield test

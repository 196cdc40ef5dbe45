"""Model selection for segmentation pipelines: scorers and a splitter that keeps the whole image."""

import numpy as np
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from hsiae._checks import refuse_cube
from hsiae.exceptions import Param, ParameterError

__all__ = ["make_silhouette_scorer", "silhouette_scorer", "make_clustering_scorer", "WholeImageSplit"]


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
        refuse_cube(X, "the scorer")
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
        they are still segmented, since the spatial prior needs them. None
        scores every pixel: use it when 0 is a class of the ground truth (a
        background), or mark the unlabelled pixels with a value no class
        uses (``unlabelled=-1``).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``. It raises a ``ValueError``
        when fewer than two classes of ``y`` are left to score against (on
        a 0/1 map with the default ``unlabelled=0``, say): every
        segmentation would then score the same, and a search would keep its
        first candidate. Inside :class:`~sklearn.model_selection.GridSearchCV`
        the error becomes a ``UserWarning`` carrying this message and a NaN
        score, or an error with ``error_score="raise"``.
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
        _check_classes(y[keep], dropped=not keep.all(), unlabelled=unlabelled)
        return float(score_func(y[keep], pred[keep]))

    return score


def _check_classes(y, *, dropped, unlabelled):
    """Refuse ground truth of fewer than two classes: every segmentation scores the same on it."""
    classes = np.unique(y)
    if classes.size >= 2:
        return
    same = "every segmentation scores the same against it, so a search cannot choose"
    if not dropped:
        raise ValueError(
            f"only class {classes[0].item()!r} is in y; {same}. Score against ground truth of two classes or more."
        )
    left = "no pixel is left in y" if classes.size == 0 else f"only class {classes[0].item()!r} is left in y"
    raise ParameterError(
        "{left} once the pixels labelled {value} are left out ({unlabelled}); {same}. If {value} is "
        "a class (a background, say), keep it with make_clustering_scorer({keep}); to leave "
        "unlabelled pixels out, mark them with a value no class uses and pass it as {name}.",
        left=left,
        value=repr(unlabelled),
        unlabelled=Param("unlabelled", unlabelled),
        same=same,
        keep=Param("unlabelled", None),
        name=Param("unlabelled"),
    )


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
        """Yield ``n_splits`` pairs of (all rows, all rows) of ``X``."""
        n = len(X)
        idx = np.arange(n)
        for _ in range(self.n_splits):
            yield idx, idx

    def get_n_splits(self, X=None, y=None, groups=None):
        """The number of splits, ``n_splits``."""
        return self.n_splits

    def _iter_test_indices(self, X=None, y=None, groups=None):  # required by the base class
        for _, test in self.split(X, y, groups):
            yield test

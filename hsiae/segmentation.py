"""SpatialGMMSegmenter: a Gaussian mixture with a Potts (Markov random field) prior over the image."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import pairwise_distances_argmin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from hsiae._checks import refuse_cube
from hsiae.exceptions import Param, ParameterError

__all__ = ["SpatialGMMSegmenter", "neighbour_sum"]

_EPS = 10 * np.finfo(np.float64).eps
# Beyond this magnitude the squares in the covariances and distances overflow float64.
_MAX_MAGNITUDE = 1e150
# Features up to this magnitude keep squared distances far inside float32's range.
_FLOAT32_SAFE = 1e6
# A cluster holding fewer pixels than this share (or than n_features + 1) is re-seeded.
_MIN_CLUSTER_FRACTION = 1e-3


def _check_magnitude(X):
    peak = float(np.max(np.abs(X))) if X.size else 0.0
    if peak > _MAX_MAGNITUDE:
        raise ValueError(
            f"X has values up to {peak:.3g} in magnitude; the mixture squares them, which "
            f"overflows float64 beyond {_MAX_MAGNITUDE:.0e}; scale the features first (e.g. "
            f"with sklearn.preprocessing.StandardScaler)."
        )


def check_image_shape(image_shape, n_rows, owner="SpatialGMMSegmenter"):
    """Validate ``image_shape`` against the number of rows of X; return ``(H, W)``."""
    try:
        H, W = image_shape
    except (TypeError, ValueError):
        H = W = None
    if not all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in (H, W)):
        raise ValueError(f"image_shape must be a pair (H, W) of positive integers or None, got {image_shape!r}.")
    H, W = int(H), int(W)
    if H * W != n_rows:
        raise ValueError(
            f"image_shape=({H}, {W}) implies {H * W} pixels, but X has {n_rows} rows; pass the full "
            f"image (one row per pixel, row-major) or set {owner}'s image_shape=None."
        )
    return H, W


def neighbour_sum(resp, image_shape):
    """Sum of each pixel's 8 neighbours' values, per column.

    Parameters
    ----------
    resp : ndarray of shape (H * W, k)
        Per-pixel values (responsibilities) in row-major pixel order.
    image_shape : tuple (H, W)

    Returns
    -------
    total : ndarray of shape (H * W, k)
        For each pixel, the sum over its 8-connected neighbours inside the
        image (pixels on the border have fewer neighbours).
    """
    H, W = image_shape
    planes = np.ascontiguousarray(np.asarray(resp).T).reshape(-1, H, W)
    return _plane_neighbour_sum(planes).reshape(-1, H * W).T


def _plane_neighbour_sum(r):
    """8-neighbour sum of each plane of ``r`` (shape (k, H, W)): a 3x3 box sum minus the centre."""
    row = r.copy()
    row[:, :, 1:] += r[:, :, :-1]
    row[:, :, :-1] += r[:, :, 1:]
    out = row.copy()
    out[:, 1:] += row[:, :-1]
    out[:, :-1] += row[:, 1:]
    out -= r
    return out


# The mixture works on responsibilities laid out (k, n): one contiguous row per cluster, so that
# reductions over the clusters are element-wise operations across rows and the spatial sums run
# on whole image planes. Products with X go through blocks of rows small enough for the cache.
_BLOCK = 8192
_MSTEP_BLOCK = 2048


def _blas_single_threaded():
    """Run the mixture's matrix products on one BLAS thread.

    Its products are small blocks (8,192 rows by a few dozen columns), where a
    threaded BLAS spends more time waking and synchronising its threads than
    computing.
    """
    return threadpool_limits(1, user_api="blas")


def _grid_neighbour_sum(values, grid):
    """8-neighbour sums of (k, n) per-pixel values over an image of shape ``grid``, as (k, n)."""
    k = len(values)
    return _plane_neighbour_sum(values.reshape(k, *grid)).reshape(k, -1)


def _softmax_columns(log_p):
    """Normalise each column of (k, n) log-probabilities into probabilities, in place."""
    log_p -= log_p.max(axis=0)
    np.exp(log_p, out=log_p)
    log_p /= log_p.sum(axis=0)
    return log_p


def _estep_precision(X):
    """X for the E-step: float32 when its magnitudes allow (4x faster products), else float64."""
    return X.astype(np.float32) if X.size and np.max(np.abs(X)) <= _FLOAT32_SAFE else X


def _density_type(covariance_type):
    """The covariance form the densities are computed in: a shaded mixture's covariances are full."""
    return "full" if covariance_type == "shaded" else covariance_type


def _compute_precision_cholesky(covariances, covariance_type):
    covariance_type = _density_type(covariance_type)
    msg = (
        "A cluster's covariance is singular (a cluster collapsed onto too few distinct points); "
        "increase reg_covar, lower n_clusters, or scale the features."
    )
    if covariance_type == "full":
        k, d, _ = covariances.shape
        prec = np.empty((k, d, d))
        for i, cov in enumerate(covariances):
            try:
                chol = linalg.cholesky(cov, lower=True)
            except linalg.LinAlgError:
                raise ValueError(msg) from None
            prec[i] = linalg.solve_triangular(chol, np.eye(d), lower=True).T
        return prec
    if covariance_type == "tied":
        d = covariances.shape[0]
        try:
            chol = linalg.cholesky(covariances, lower=True)
        except linalg.LinAlgError:
            raise ValueError(msg) from None
        return linalg.solve_triangular(chol, np.eye(d), lower=True).T
    if np.any(covariances <= 0):
        raise ValueError(msg)
    return 1.0 / np.sqrt(covariances)


def _estimate_parameters(X, resp, reg_covar, covariance_type, shade_point=None, warm=None):
    """M-step from responsibilities ``resp`` of shape (k, n) (weights already applied), in float64."""
    resp = np.asarray(resp, dtype=np.float64)
    nk = resp.sum(axis=1) + _EPS
    means = (resp @ X) / nk[:, None]
    k, (n, d) = len(nk), X.shape
    if covariance_type in ("full", "tied", "shaded"):
        # Blocks of rows small enough for the cache: here about twice as fast as whole columns.
        cov = np.zeros((k, d, d))
        for lo in range(0, n, _MSTEP_BLOCK):
            Xb, rb = X[lo : lo + _MSTEP_BLOCK], resp[:, lo : lo + _MSTEP_BLOCK]
            for i in range(k):
                diff = Xb - means[i]
                cov[i] += (diff * rb[i][:, None]).T @ diff
        if covariance_type == "full":
            cov /= nk[:, None, None]
            cov[:, np.arange(d), np.arange(d)] += reg_covar
        elif covariance_type == "shaded":
            cov = _shaded_covariances(cov, nk, means, shade_point, reg_covar, warm)
        else:
            cov = cov.sum(axis=0) / nk.sum()
            cov.flat[:: d + 1] += reg_covar
    else:
        avg_x2 = (resp @ (X * X)) / nk[:, None]
        cov = np.maximum(avg_x2 - means**2, 0) + reg_covar
        if covariance_type == "spherical":
            cov = cov.mean(axis=1)
    return nk / nk.sum(), means, cov


def _shading_directions(means, shade_point):
    """Unit vectors from the shade point to each mean, shape (k, d); zero where they coincide."""
    v = means - shade_point
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > _EPS * (1 + np.abs(means).max()))


def _shaded_covariances(scatter, nk, means, shade_point, reg_covar, warm=None, max_iter=100, tol=1e-7):
    """``S + a_c v_c v_c'`` per cluster from the clusters' scatter matrices (k, d, d), unnormalised.

    ``v_c`` is the unit vector from the shade point to cluster c's mean, ``S`` the covariance
    all clusters share and ``a_c >= 0`` cluster c's extra variance along its line. There is no
    closed form for the ``S`` and ``a`` of highest likelihood together; each step here takes
    every ``a_c`` at its best for the current ``S``, then makes one EM step for ``S`` in the
    factor model with fixed loadings (Rubin & Thayer, 1982) whose residuals are ``t v_c + e``,
    ``t ~ N(0, a_c)``, ``e ~ N(0, S)``. Both raise the likelihood. It starts from the split of
    each residual into its part along the line and the rest (or from the previous M-step's
    ``S`` and ``a``, kept in the dict ``warm``). That split alone is far from the maximum:
    with it, the mixture's likelihood can fall during EM.
    """
    k, d, _ = scatter.shape
    n = nk.sum()
    floor = max(reg_covar, np.finfo(np.float64).tiny)  # a_c > 0 keeps 1 / a_c finite
    V = _shading_directions(means, shade_point)
    total = scatter.sum(axis=0)
    if warm:
        shared, extra = warm["shared"], warm["extra"]
    else:
        # The start: the scatter across each line is shared, the rest along the line is the cluster's.
        SV = np.einsum("kij,kj->ki", scatter, V)  # C_c v_c
        along = np.einsum("ki,ki->k", V, SV)  # v_c' C_c v_c
        shared = total - np.einsum("ki,kj->ij", SV, V) - np.einsum("ki,kj->ij", V, SV)
        shared += np.einsum("k,ki,kj->ij", along, V, V)
        shared /= n
        shared.flat[:: d + 1] += reg_covar
        extra = np.maximum(along / nk - np.einsum("ki,ij,kj->k", V, shared, V), floor)
    for _ in range(max_iter):
        U = linalg.solve(shared, V.T, assume_a="pos").T  # S^-1 v_c
        q = np.einsum("ki,ki->k", V, U)
        CU = np.einsum("kij,kj->ki", scatter, U)
        uCu = np.einsum("ki,ki->k", U, CU)
        # Given S, each a_c has a closed form (the likelihood along the line, by the matrix
        # determinant lemma and Sherman-Morrison); without it the EM for a_c near 0 crawls. A
        # cluster whose mean is the shade point has no line (v_c = 0, q_c = 0): a_c is moot.
        on_line = q > 0
        new_extra = np.full(k, floor)
        new_extra[on_line] = np.maximum(uCu[on_line] / (nk[on_line] * q[on_line] ** 2) - 1.0 / q[on_line], floor)
        tau = 1.0 / (1.0 / new_extra + q)  # posterior variance of t
        # Then one EM step for S: sum_c (I - tau v u') C (I - u v' tau) + N_c tau v v'.
        new = total - np.einsum("k,ki,kj->ij", tau, V, CU) - np.einsum("k,ki,kj->ij", tau, CU, V)
        new += np.einsum("k,ki,kj->ij", tau**2 * uCu + nk * tau, V, V)
        new /= n
        new.flat[:: d + 1] += reg_covar
        change = max(
            np.max(np.abs(new_extra - extra) / extra), np.max(np.abs(new - shared)) / np.max(np.abs(np.diag(shared)))
        )
        shared, extra = new, new_extra
        if change < tol:
            break
    if warm is not None:
        warm.update(shared=shared, extra=extra)
    return shared + extra[:, None, None] * np.einsum("ki,kj->kij", V, V)


def _needs_distinct_start(X, sample_weight):
    """Whether k-means starts from the distinct pixels (see :func:`_kmeans_start`).

    It must when some pixel of non-zero weight is repeated or weighs other than 1. Otherwise
    (every pixel distinct, weights 0 or 1, the usual image) k-means draws from the pixels in
    their order, as a plain ``KMeans(X, sample_weight)`` does.
    """
    used = sample_weight > 0
    if np.any(sample_weight[used] != 1):
        return True
    Xu = X[used]
    return len(np.unique(Xu, axis=0)) < len(Xu)


def _kmeans_start(X, sample_weight, k, seed, *, distinct=False, predict=False):
    """Cluster (0 .. k - 1) of every row of X in one k-means++ start of ``k`` clusters.

    Without ``distinct``, k-means runs on X with ``sample_weight`` in the rows' order, and
    returns its ``labels_`` (``predict`` returns its nearest centres instead, the same up to
    rounding). With ``distinct``, it runs on the distinct rows of non-zero weight in sorted
    order, each weighted by the total weight of its copies: an integer weight then acts as
    exactly that many copies of a pixel, wherever they are. k-means++ draws its seeds by
    cumulative weight along the rows, so otherwise a pixel of weight 3 and three copies of it
    placed elsewhere draw different seeds. Rows of weight 0 join their nearest centre; with
    fewer than ``k`` distinct rows, each is a cluster and the other clusters start empty.
    """
    if not distinct:
        km = KMeans(k, n_init=1, random_state=seed).fit(X, sample_weight=sample_weight)
        return km.predict(X) if predict else km.labels_
    used = sample_weight > 0
    points, inverse = np.unique(X[used], axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    labels = np.empty(len(X), dtype=np.intp)
    if len(points) < k:
        labels[used] = inverse
        if not used.all():
            labels[~used] = pairwise_distances_argmin(X[~used], points)
        return labels
    weight = np.bincount(inverse, weights=sample_weight[used])
    km = KMeans(k, n_init=1, random_state=seed).fit(points, sample_weight=weight)
    labels[used] = km.labels_[inverse]
    if not used.all():
        labels[~used] = km.predict(X[~used])
    return labels


def _log_gaussian(X, means, prec_chol, covariance_type):
    """Log-density of every row of X under every cluster, shape (k, n), in X's precision.

    The mixture passes X in float32: the products run about four times faster than in float64
    here, and the densities only feed posteriors.
    """
    covariance_type = _density_type(covariance_type)
    n, d = X.shape
    k = len(means)
    dtype = X.dtype
    out = np.empty((k, n), dtype=dtype)
    if covariance_type == "full":
        log_det = np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
        # All clusters in one product: X @ [P_1 ... P_k], then each block of d columns squared and
        # summed by a product with a block indicator.
        P = np.concatenate(list(prec_chol), axis=1).astype(dtype)
        shift = np.concatenate([means[i] @ prec_chol[i] for i in range(k)]).astype(dtype)
        blocks = np.kron(np.eye(k), np.ones((d, 1))).astype(dtype)
    elif covariance_type == "tied":
        log_det = np.full(k, np.sum(np.log(np.diag(prec_chol))))
        P = prec_chol.astype(dtype)
        ym = (means @ prec_chol).astype(dtype)
        ym2 = (ym * ym).sum(1)
    elif covariance_type == "diag":
        log_det = np.sum(np.log(prec_chol), axis=1)
        prec = (prec_chol**2).astype(dtype)
        mp = (means * prec_chol**2).astype(dtype)
        m2 = np.sum(means**2 * prec_chol**2, axis=1).astype(dtype)
    else:
        log_det = d * np.log(prec_chol)
        prec = (prec_chol**2).astype(dtype)
        mT = means.T.astype(dtype)
        m2 = (means**2).sum(1).astype(dtype)
    for lo in range(0, n, _BLOCK):
        Xb = X[lo : lo + _BLOCK]
        if covariance_type == "full":
            Y = Xb @ P
            Y -= shift
            Y *= Y
            maha = Y @ blocks
        elif covariance_type == "tied":
            y = Xb @ P
            maha = (y * y).sum(1)[:, None] - 2 * y @ ym.T + ym2[None, :]
        elif covariance_type == "diag":
            maha = (Xb * Xb) @ prec.T - 2 * Xb @ mp.T + m2[None, :]
        else:
            maha = ((Xb * Xb).sum(1)[:, None] - 2 * Xb @ mT + m2[None, :]) * prec[None, :]
        out[:, lo : lo + _BLOCK] = maha.T
    np.maximum(out, 0, out=out)
    out *= -0.5
    out += (log_det - 0.5 * d * np.log(2 * np.pi)).astype(dtype)[:, None]
    return out


class SpatialGMMSegmenter(ClusterMixin, BaseEstimator):
    """Gaussian mixture segmentation with a spatial (Potts) prior.

    Each row of ``X`` is one pixel's feature vector (for example its latent
    code from :class:`AEDEncoder`), in row-major order of an image of shape
    ``image_shape``. Clusters are Gaussians in feature space; with an image
    shape and ``spatial_weight > 0`` the assignments are also encouraged to
    agree with their 8 neighbours, which gives spatially coherent segments.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of segments.
    image_shape : tuple (H, W) or None, default=None
        Shape of the image whose pixels are the rows of ``X``, in row-major
        order. ``None`` clusters without space (a plain Gaussian mixture).
    spatial_weight : float, default=1.0
        Strength of the Potts coupling (``beta``): each neighbour that is in
        segment ``k`` adds ``spatial_weight`` times its probability of
        ``k`` to a pixel's log-odds of ``k``. ``0`` is purely spectral;
        larger values give larger, smoother segments. Used only when
        ``image_shape`` is given.
    covariance_type : {"full", "tied", "diag", "spherical", "shaded"}, default="full"
        Form of the clusters' covariances, as in
        :class:`sklearn.mixture.GaussianMixture`, or ``"shaded"``: one
        shared covariance plus, for each cluster, one extra variance along
        the line from the *shade point* (the features of a black spectrum,
        given to :meth:`fit`) to the cluster's mean. Shading scales a
        spectrum towards black, so a material under uneven light spreads
        along that line; a shared covariance alone cuts such a cluster and
        hands its dark pixels to a darker material. EM starts
        from the tied mixture's fit. The covariances are stored in full
        form, ``(n_clusters, n_features, n_features)``.
    spatial_fit : bool, default=True
        Whether the spatial prior takes part in fitting the mixture
        (neighbourhood EM) or only in labelling. ``False`` fits the mixture
        to the features alone and applies the Potts sweeps to the labels
        (``labels_``, :meth:`predict`, :meth:`predict_proba`): the maps are as
        smooth, but the prior cannot steer the clusters themselves, neither
        towards a better partition nor, from a poor start, towards a worse
        one.
    equal_weights : bool, default=False
        Keep every cluster's mixing weight at ``1 / n_clusters`` instead of
        estimating it. Estimated weights move the boundary between two
        clusters into the smaller one (by ``log(w_a / w_b)`` in log-odds), so
        where one material grades into another the larger cluster takes the
        mixed pixels; with equal weights the boundary lies where the two
        densities meet, and a small class keeps more of its pixels. The
        recommended pipeline uses it.
    spatial_iter : int, default=5
        Mean-field sweeps of the spatial prior in each E-step and in
        :meth:`predict`. A pixel's label depends on pixels at most
        ``spatial_iter`` steps away.
    n_init : int, default=1
        Restarts from different k-means initialisations; the best objective
        is kept. Within each, a start that leaves a cluster with fewer than
        ``max(n_features + 1, 0.1 % of the pixels)`` pixels (k-means++ likes to
        seed clusters on outliers, and with a tied covariance such a cluster
        survives) is drawn again without those pixels.
    max_iter : int, default=100
        EM iterations per restart.
    tol : float, default=1e-3
        Convergence threshold on the change of the per-pixel objective.
    reg_covar : float, default=1e-6
        Added to the covariance diagonals, for numerical stability.
    subsample : int or None, default=100_000
        Largest number of pixels the mixture is fitted on. A larger image is
        fitted on a regular sub-grid (every 2nd, 3rd, ... row and column,
        the smallest step that fits), which keeps a neighbourhood for the
        spatial prior; without ``image_shape``, on a random sample. Either
        way ``labels_`` and :meth:`predict` cover every pixel; a 550 x 400
        image, for instance, is fitted on 275 x 200 pixels. ``None`` fits on
        all pixels.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means initialisations (and the random sample).
    verbose : int, default=0
        Print the objective per iteration when positive.

    Attributes
    ----------
    labels_ : ndarray of shape (n_pixels,)
        Segment (0 .. n_clusters - 1) of each training pixel, equal to
        ``predict(X)`` on the training data when no ``sample_weight`` was
        given (with weights, pixels of weight 0 do not vote for their
        neighbours here, while ``predict`` has no weights and counts them).
    weights_ : ndarray of shape (n_clusters,)
    means_ : ndarray of shape (n_clusters, n_features_in_)
        Cluster centres in feature space, ready for
        ``AEDEncoder.inverse_transform``.
    covariances_ : ndarray
        Shape depends on ``covariance_type``, as in scikit-learn
        (``"shaded"``: as ``"full"``).
    precisions_cholesky_ : ndarray
    converged_ : bool
    n_iter_ : int
    shade_point_ : ndarray of shape (n_features_in_,)
        With ``covariance_type="shaded"``: the shade point the mixture was
        fitted with.
    lower_bound_ : float
        Best per-pixel objective reached (the log-likelihood for a plain
        mixture; the mean-field free energy with the spatial prior).
    n_features_in_ : int

    See Also
    --------
    sklearn.mixture.GaussianMixture : The same mixture without space.

    Notes
    -----
    Why not add the pixel coordinates as features, as the original AED
    pipeline describes? A full-, tied- or diagonal-covariance mixture is
    invariant to rescaling of any feature: multiplying the coordinate columns
    by a weight rescales the fitted covariances and gives the same partition
    from the same start, so such a weight has no real effect. (And Gaussian
    blobs in (x, y) favour round segments of similar size, which fields and
    crops are not.) Instead, the spatial prior here is a Potts Markov random
    field on the segment labels, fitted with the neighbourhood EM algorithm
    (Ambroise & Govaert, 1998) and a mean-field approximation: the E-step
    computes ``r_ik ~ pi_k N(x_i | k) exp(beta * sum_{j~i} r_jk)`` by a few
    sweeps, and the M-step is the usual weighted update. The coupling acts on
    probabilities, so ``spatial_weight`` means the same whatever the
    features' scale and dimension. Prediction runs the same fixed number of
    sweeps from the purely spectral posterior, so it is deterministic and
    local: each label depends on a ``(2 * spatial_iter + 1)`` pixel window.

    Each start is a k-means++ draw. On distinct pixels of weight 1 (an
    image's codes, with or without holes of weight 0) it draws from the
    pixels in their order. When a pixel is repeated or weighs other than 0
    or 1, it draws from the distinct pixels in sorted order, each weighted by
    the total weight of its copies: k-means++ seeds by cumulative weight
    along the rows, so a pixel of weight 3 and three copies of it elsewhere
    would otherwise draw different seeds, and integer weights would not act
    as repeated pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae import SpatialGMMSegmenter
    >>> rng = np.random.default_rng(0)
    >>> truth = np.repeat([0, 1], 50 * 25).reshape(50, 50)  # left / right halves
    >>> X = truth.reshape(-1, 1) + rng.normal(scale=0.8, size=(2500, 2))
    >>> seg = SpatialGMMSegmenter(2, image_shape=(50, 50), spatial_weight=1.5, random_state=0)
    >>> labels = seg.fit_predict(X)
    >>> labels.shape
    (2500,)
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
        "spatial_weight": [Interval(Real, 0, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical", "shaded"})],
        "spatial_fit": ["boolean"],
        "equal_weights": ["boolean"],
        "spatial_iter": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
        "subsample": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        image_shape=None,
        spatial_weight=1.0,
        covariance_type="full",
        spatial_fit=True,
        equal_weights=False,
        spatial_iter=5,
        n_init=1,
        max_iter=100,
        tol=1e-3,
        reg_covar=1e-6,
        subsample=100_000,
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.image_shape = image_shape
        self.spatial_weight = spatial_weight
        self.covariance_type = covariance_type
        self.spatial_fit = spatial_fit
        self.equal_weights = equal_weights
        self.spatial_iter = spatial_iter
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.subsample = subsample
        self.random_state = random_state
        self.verbose = verbose

    # -- helpers ----------------------------------------------------------------

    def _grid(self, n_rows, *, fitting=False):
        """``(H, W)`` when the spatial prior applies to X with ``n_rows`` rows, else None.

        ``fit`` always checks ``image_shape``; prediction needs the whole image
        only when the spatial prior is on.
        """
        if self.image_shape is None or (self.spatial_weight == 0 and not fitting):
            return None
        shape = check_image_shape(self.image_shape, n_rows)
        return shape if self.spatial_weight > 0 else None

    def _fit_rows(self, n, grid, random_state):
        """Rows the mixture is fitted on and their image shape: (None, grid) for all pixels.

        Beyond ``subsample`` pixels, an image is fitted on the regular sub-grid of every s-th row
        and column (the smallest s that fits), which keeps a neighbourhood structure for the
        spatial prior; pixels without an image are drawn at random.
        """
        if self.subsample is None or n <= self.subsample:
            return None, grid
        if grid is None:
            return np.sort(random_state.choice(n, self.subsample, replace=False)), None
        H, W = grid
        step = max(2, int(np.ceil(np.sqrt(n / self.subsample))))
        while -(-H // step) * -(-W // step) > self.subsample:
            step += 1
        r, c = np.arange(0, H, step), np.arange(0, W, step)
        if self.verbose:
            print(f"Fitting on every {step}th row and column: {len(r)} x {len(c)} of {H} x {W} pixels")
        return (r[:, None] * W + c[None, :]).ravel(), (len(r), len(c))

    def _weighted_log_prob(self, X, weights, means, prec_chol, covariance_type=None):
        """Log of weight times density, shape (k, n), in X's precision."""
        log_p = _log_gaussian(X, means, prec_chol, covariance_type or self.covariance_type)
        log_p += np.log(weights).astype(log_p.dtype)[:, None]
        return log_p

    def _smooth(self, log_p, grid, sample_weight=None):
        """Mean-field posterior, shape (k, n): spectral log-probabilities plus the Potts prior.

        A neighbour's vote counts with its ``sample_weight``: pixels of weight
        0 (no data) do not pull their neighbours.
        """
        resp = _softmax_columns(log_p.copy())
        if grid is None:
            return resp
        w = None if sample_weight is None else sample_weight.astype(log_p.dtype)
        for _ in range(self.spatial_iter):
            field = _grid_neighbour_sum(resp if w is None else resp * w, grid)
            field *= self.spatial_weight
            field += log_p
            resp = _softmax_columns(field)
        return resp

    def _objective(self, log_p, resp, grid, sample_weight):
        """Per-pixel objective: the log-likelihood, or the mean-field free energy."""
        w = sample_weight
        if grid is None:
            return float(np.dot(logsumexp(log_p, axis=0), w) / w.sum())
        plogp = np.sum(resp * np.log(np.maximum(resp, np.finfo(resp.dtype).tiny)), axis=0, dtype=np.float64)
        wr = resp * w.astype(resp.dtype)
        field = _grid_neighbour_sum(wr, grid)
        field *= 0.5 * self.spatial_weight
        field += log_p
        return float((np.sum(wr * field, dtype=np.float64) - np.dot(plogp, w)) / w.sum())

    def _m_step(self, X, resp, covariance_type, shade_point, warm=None):
        weights, means, cov = _estimate_parameters(X, resp, self.reg_covar, covariance_type, shade_point, warm)
        if self.equal_weights:
            weights = np.full_like(weights, 1.0 / len(weights))
        return weights, means, cov

    def _em(self, X, Xe, grid, w, resp, covariance_type, shade_point):
        """EM from the responsibilities ``resp`` (k, n): (objective, converged, n_iter, params, resp)."""
        warm = {}  # a shaded M-step starts from the previous one's shared covariance and variances
        weights, means, cov = self._m_step(X, resp * w, covariance_type, shade_point, warm)
        prec = _compute_precision_cholesky(cov, covariance_type)
        obj, converged, n_iter = -np.inf, False, 0
        for n_iter in range(1, self.max_iter + 1):
            log_p = self._weighted_log_prob(Xe, weights, means, prec, covariance_type)
            resp = self._smooth(log_p, grid, w)
            prev, obj = obj, self._objective(log_p, resp, grid, w)
            if self.verbose:
                print(f"  iteration {n_iter} ({covariance_type}): objective {obj:.6f}")
            weights, means, cov = self._m_step(X, resp * w, covariance_type, shade_point, warm)
            prec = _compute_precision_cholesky(cov, covariance_type)
            if abs(obj - prev) < self.tol:
                converged = True
                break
        return obj, converged, n_iter, (weights, means, cov, prec), resp

    def _fit_once(self, X, Xe, grid, seed, sample_weight, shade_point, distinct_start):
        """One EM run from a k-means start; ``Xe`` is X in the E-step's precision.

        A run that ends with a cluster holding fewer pixels than a small floor (a few outlying
        pixels that k-means++ picked as a seed) starts again from another k-means draw that leaves
        those pixels out; at most ``n_clusters`` times. ``distinct_start`` draws every start
        from the distinct pixels (:func:`_kmeans_start`).
        """
        k = self.n_clusters
        w = sample_weight
        labels = _kmeans_start(X, w, k, seed, distinct=distinct_start)
        floor = max(X.shape[1] + 1, _MIN_CLUSTER_FRACTION * float(w.sum()))
        excluded = np.zeros(len(X), dtype=bool)
        for attempt in range(k + 1):
            resp = np.zeros((k, len(X)))
            resp[labels, np.arange(len(X))] = 1.0
            if self.covariance_type == "shaded":
                # The shading lines need clusters to run along: a tied mixture finds them first.
                resp = self._em(X, Xe, grid, w, resp, "tied", shade_point)[-1]
            obj, converged, n_iter, params, resp = self._em(X, Xe, grid, w, resp, self.covariance_type, shade_point)
            sizes = (resp * w).sum(axis=1)
            small = int(np.argmin(sizes))
            if sizes[small] >= floor or attempt == k or k == 1:
                break
            if self.verbose:
                print(
                    f"  cluster {small} holds {sizes[small]:.1f} pixels (fewer than {floor:.0f}): "
                    f"starting again from another k-means draw"
                )
            # The next start leaves that cluster's pixels out of the k-means draw (they still join
            # the nearest cluster), so a far outlier cannot seed a cluster again.
            excluded |= resp.argmax(axis=0) == small
            kept = np.where(excluded, 0.0, w)
            if kept.sum() < 2 * k:  # the pixels' total weight: a weight-3 pixel counts as 3
                break  # too few pixels left to draw from: keep this run
            labels = _kmeans_start(X, kept, k, seed + attempt + 1, distinct=distinct_start, predict=True)
        return obj, converged, n_iter, params

    # -- public API ---------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None, shade_point=None):
        """Fit the mixture (and its spatial prior) to the pixels ``X``.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features)
            One feature vector per pixel, in row-major order of
            ``image_shape`` when it is given.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_pixels,), default=None
            Non-negative weight of each pixel in the mixture's estimates and
            in its neighbours' spatial term; ``None`` weighs every pixel 1.
            Weight 0 marks a pixel without data (a hole in the image): its row
            holds the image's place but takes no part in the fit, and its
            neighbours are segmented as if it were not there.
            :func:`hsiae.segment_cube` passes the no-data mask this way.
            Without ``image_shape``, an integer weight ``w`` acts as ``w``
            copies of the pixel, wherever they stand among the rows: the fit
            is the one on the repeated pixels (k-means then starts from the
            distinct pixels with their total weights, see the class's Notes). With
            ``image_shape`` the rows are the image and a pixel cannot be
            repeated; its weight scales its share of the estimates and its
            vote for its neighbours. A random ``subsample`` draws rows, not
            weight, so beyond ``subsample`` rows the equivalence holds only
            on average.
        shade_point : array-like of shape (n_features,), default=None
            With ``covariance_type="shaded"``: the features of a black
            (all-zero) spectrum, towards which shading moves a pixel. For
            codes, compute it with :func:`hsiae.shade_point` from the fitted
            resampler and encoder (the pipeline of
            :func:`hsiae.make_segmentation_pipeline` does this itself).
            ``None`` takes the origin, which is right for features that are
            raw spectra. Ignored by the other covariance types.

        Returns
        -------
        self : SpatialGMMSegmenter
        """
        refuse_cube(X, type(self).__name__)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=1)
        _check_magnitude(X)
        n = X.shape[0]
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        shade_point = self._check_shade_point(shade_point, X.shape[1])
        n_used = int(np.count_nonzero(sample_weight))
        if self.n_clusters > n_used:
            what = f"{n}" if n_used == n else f"{n_used} pixels of non-zero sample_weight"
            raise ParameterError(
                "{n_clusters} must be <= the number of pixels, got {what}; pass more pixels or fewer clusters.",
                n_clusters=Param("n_clusters", self.n_clusters),
                what=what,
            )
        grid = self._grid(n, fitting=True)
        random_state = check_random_state(self.random_state)
        rows, fit_grid = self._fit_rows(n, grid, random_state)
        if not self.spatial_fit:
            fit_grid = None  # the prior applies to the labels only
        Xf, wf = (X, sample_weight) if rows is None else (X[rows], sample_weight[rows])
        if rows is not None and np.count_nonzero(wf) < self.n_clusters:
            raise ParameterError(
                "{n_clusters} must be <= the number of usable pixels in the subsample of {n} pixels "
                "the mixture is fitted on; raise subsample or set it to None.",
                n_clusters=Param("n_clusters", self.n_clusters),
                n=len(rows),
            )
        Xe = _estep_precision(Xf)
        distinct_start = _needs_distinct_start(Xf, wf)
        best = None
        with _blas_single_threaded():
            for init in range(self.n_init):
                seed = random_state.randint(np.iinfo(np.int32).max)
                if self.verbose:
                    print(f"Initialisation {init + 1} of {self.n_init}")
                result = self._fit_once(Xf, Xe, fit_grid, seed, wf, shade_point, distinct_start)
                if best is None or result[0] > best[0]:
                    best = result
        obj, converged, n_iter, (weights, means, cov, prec) = best
        if not converged:
            warnings.warn(
                f"The mixture did not converge in max_iter={self.max_iter} iterations "
                f"(tol={self.tol}); increase max_iter or tol, or try n_init > 1.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = weights, means, cov, prec
        self.converged_, self.n_iter_, self.lower_bound_ = converged, n_iter, obj
        if self.covariance_type == "shaded":
            self.shade_point_ = shade_point
        self.labels_ = self._predict_proba(X, grid, sample_weight).argmax(axis=1)
        return self

    def _check_shade_point(self, shade_point, n_features):
        """The shade point as float64 of shape (n_features,); zeros for None; None when unused."""
        if self.covariance_type != "shaded":
            return None
        if shade_point is None:
            return np.zeros(n_features)
        point = np.asarray(shade_point, dtype=np.float64)
        if point.ndim == 2 and point.shape[0] == 1:
            point = point[0]
        if point.shape != (n_features,) or not np.all(np.isfinite(point)):
            found = f"shape {point.shape}" if point.shape != (n_features,) else "non-finite values"
            raise ValueError(
                f"shade_point must be {n_features} finite numbers (the features of a black "
                f"spectrum, one per column of X), got {found}; compute it with "
                f"hsiae.shade_point(pipe[:-1]) from the fitted resampler and encoder."
            )
        return point

    def _validated(self, X):
        check_is_fitted(self)
        refuse_cube(X, type(self).__name__)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        _check_magnitude(X)
        return X

    def _predict_proba(self, X, grid, sample_weight=None):
        """Posterior of each cluster, shape (n, k)."""
        with _blas_single_threaded():
            log_p = self._weighted_log_prob(_estep_precision(X), self.weights_, self.means_, self.precisions_cholesky_)
            proba = self._smooth(log_p, grid, sample_weight).T.astype(np.float64)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict_proba(self, X, sample_weight=None):
        """Posterior probability of each segment for each pixel.

        With ``image_shape`` and ``spatial_weight > 0`` this includes the
        spatial prior, so ``X`` must hold the whole image.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features_in_)
        sample_weight : array-like of shape (n_pixels,), default=None
            As in :meth:`fit`: pixels of weight 0 (no data) get posteriors of
            their own but do not vote for their neighbours in the spatial
            prior. None weighs every pixel 1.

        Returns
        -------
        proba : ndarray of shape (n_pixels, n_clusters)
        """
        X = self._validated(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        return self._predict_proba(X, self._grid(X.shape[0]), sample_weight)

    def predict(self, X):
        """Segment of each pixel.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features_in_)

        Returns
        -------
        labels : ndarray of shape (n_pixels,)
            Integers in ``0 .. n_clusters - 1``.
        """
        return self.predict_proba(X).argmax(axis=1)

    def score_samples(self, X):
        """Log-likelihood of each pixel's features under the mixture (no spatial term).

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features_in_)

        Returns
        -------
        log_likelihood : ndarray of shape (n_pixels,)
        """
        X = self._validated(X)
        return logsumexp(self._weighted_log_prob(X, self.weights_, self.means_, self.precisions_cholesky_), axis=0)

    def score(self, X, y=None):
        """Mean log-likelihood of the features under the mixture (higher is better).

        The spatial prior is left out, so this is the same quantity as
        :meth:`sklearn.mixture.GaussianMixture.score`. It compares models on
        the same features only: a log-density in a 16-dimensional latent
        space and one in an 8-dimensional space are in different units, so it
        cannot choose between encoders with different ``zdims`` (use
        :func:`hsiae.silhouette_scorer` for that).

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features_in_)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def _n_parameters(self):
        k, d = self.means_.shape
        cov_params = {
            "full": k * d * (d + 1) / 2,
            "tied": d * (d + 1) / 2,
            "diag": k * d,
            "spherical": k,
            "shaded": d * (d + 1) / 2 + k,
        }[self.covariance_type]
        return int(cov_params + k * d + k - 1)

    def bic(self, X):
        """Bayesian information criterion of the mixture on ``X`` (lower is better).

        Like :meth:`score`, it ignores the spatial prior and compares models
        on the same features only (e.g. several ``n_clusters``).

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features_in_)

        Returns
        -------
        bic : float
        """
        X = self._validated(X)
        return -2 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

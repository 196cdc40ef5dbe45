"""Classic linear unmixing: endmember extraction by VCA, abundances by fully constrained least squares.

The linear mixing model writes each pixel's spectrum as a mixture of a few
pure spectra, the endmembers: ``x = a @ E + noise`` with ``E`` of shape
``(n_endmembers, n_bands)`` and abundances ``a`` that are non-negative and sum
to one. :func:`vca` finds endmembers among the pixels (Nascimento and
Bioucas-Dias' vertex component analysis); :func:`fcls` finds the abundances
of every pixel for given endmembers, whether from VCA, from the ground truth
or from :class:`hsiae.AEUnmixer` (``fcls(X, unmixer.endmembers_)``).

Endmembers are rows here, as scikit-learn stores components
(``components_``): ``X_hat = A @ E``. Ground truth loaded with
:func:`hsiae.load_scene` holds them as columns ``(n_bands, k)``; pass
``scene.endmembers.T``.
"""

import itertools
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from hsiae._checks import refuse_cube
from hsiae.exceptions import Param, ParameterError

__all__ = ["vca", "fcls", "estimate_snr", "simplex_volume"]

# Pixels solved at a time by fcls: bounds its temporaries (a few floats per pixel and subset).
_FCLS_BLOCK = 65_536
# Up to this many endmembers fcls enumerates the supports exactly (2**k - 1 of them).
_MAX_EXACT_ENDMEMBERS = 8


def _check_spectra(X, who, what="X"):
    """X as a float array, refused with a clear message if it is a cube or any value is NaN or infinite."""
    refuse_cube(X, who)
    X = check_array(X, dtype=[np.float64, np.float32], ensure_all_finite=False, input_name=what)
    for start in range(0, X.shape[0], _FCLS_BLOCK):  # in blocks: no full-size boolean temporary
        finite = np.isfinite(X[start : start + _FCLS_BLOCK]).all(axis=1)
        if not finite.all():
            raise ValueError(
                f"{what} has NaN or infinite values (row {start + int(np.argmin(finite))} is the "
                f"first); leave the no-data pixels out first (hsiae.pixel_spectra gives the mask "
                f"of usable pixels)."
            )
    return X


def _check_n_endmembers(n_endmembers, n_samples, n_features):
    if isinstance(n_endmembers, bool) or not isinstance(n_endmembers, Integral) or n_endmembers < 1:
        raise ParameterError(
            "{name} must be a positive integer, got {value!r}.", name=Param("n_endmembers"), value=n_endmembers
        )
    if n_endmembers > min(n_samples, n_features):
        raise ParameterError(
            "{k} needs at least that many pixels and bands, but X has {n} pixels and {b} bands; ask "
            "for fewer endmembers or pass more data.",
            k=Param("n_endmembers", int(n_endmembers)),
            n=n_samples,
            b=n_features,
        )


def estimate_snr(X, n_endmembers):
    """Signal-to-noise ratio (dB) of spectra under a linear mixture of ``n_endmembers``, as VCA estimates it.

    The signal is the projection of the data onto their ``n_endmembers``
    leading principal axes (plus the mean); the noise is what is left.

    Parameters
    ----------
    X : array-like of shape (n_pixels, n_bands)
    n_endmembers : int

    Returns
    -------
    snr : float
        In dB; ``inf`` for noise-free data of rank ``n_endmembers`` or less.
    """
    X = _check_spectra(X, "estimate_snr").astype(np.float64, copy=False)
    n, L = X.shape
    _check_n_endmembers(n_endmembers, n, L)
    mean = X.mean(axis=0)
    U = _principal_axes(X - mean, n_endmembers, centred=True)
    power_x = float(np.einsum("ij,ij->", X, X)) / n
    proj = (X - mean) @ U
    power_signal = float(np.einsum("ij,ij->", proj, proj)) / n + float(mean @ mean)
    noise = power_x - power_signal
    if noise <= 1e-12 * power_x:
        return float("inf")
    # Nascimento and Bioucas-Dias (2005), eq. 13: remove the noise's share in the signal subspace
    return float(10 * np.log10(max(power_signal - n_endmembers / L * power_x, 1e-12 * power_x) / noise))


def _principal_axes(X, d, centred):
    """The ``d`` leading eigenvectors, as columns, of ``X.T @ X / n`` (centred or not)."""
    cov = X.T @ X / len(X)
    values, vectors = np.linalg.eigh(cov)
    return vectors[:, np.argsort(values)[::-1][:d]]


def vca(X, n_endmembers, *, snr=None, random_state=None):
    """Vertex component analysis: ``n_endmembers`` endmembers found among the pixels.

    VCA projects the data onto the subspace of the mixture and repeatedly
    picks the pixel that lies furthest along a random direction orthogonal to
    the endmembers found so far: the vertices of the simplex the pixels fill.
    It assumes that each endmember has (nearly) pure pixels in the image.

    Parameters
    ----------
    X : array-like of shape (n_pixels, n_bands)
        Spectra, one per row, in any units.
    n_endmembers : int
        Endmembers to find; at most the number of pixels and of bands.
    snr : float or None, default=None
        Signal-to-noise ratio of ``X`` in dB; None estimates it
        (:func:`estimate_snr`). Below ``15 + 10 log10(n_endmembers)`` dB
        the data are projected onto ``n_endmembers - 1`` principal axes
        around their mean, above it onto ``n_endmembers`` axes through the
        origin followed by a projective projection, as in the paper.
    random_state : int, RandomState instance or None, default=None
        Seeds the random directions.

    Returns
    -------
    endmembers : ndarray of shape (n_endmembers, n_bands)
        The chosen pixels' spectra projected onto the signal subspace (which
        removes part of their noise), in the units and dtype of ``X``.
    indices : ndarray of int64 of shape (n_endmembers,)
        The rows of ``X`` that were chosen.

    See Also
    --------
    fcls : Abundances for given endmembers.

    References
    ----------
    J. M. P. Nascimento and J. M. Bioucas-Dias, "Vertex component analysis:
    a fast algorithm to unmix hyperspectral data", IEEE Trans. Geosci.
    Remote Sens. 43(4):898-910, 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae.unmixing import vca
    >>> E = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> A = np.random.default_rng(0).dirichlet([1, 1, 1], size=200)
    >>> X = np.vstack([E, A @ E])
    >>> endmembers, rows = vca(X, 3, random_state=0)
    >>> sorted(rows.tolist())
    [0, 1, 2]
    """
    X = _check_spectra(X, "vca")
    dtype = X.dtype
    Y = X.astype(np.float64, copy=False)
    n, L = Y.shape
    _check_n_endmembers(n_endmembers, n, L)
    rng = check_random_state(random_state)
    k = int(n_endmembers)
    if snr is None:
        snr = estimate_snr(Y, k)
    threshold = 15 + 10 * np.log10(k)
    if snr < threshold and k > 1:
        mean = Y.mean(axis=0)
        U = _principal_axes(Y - mean, k - 1, centred=True)
        coords = (Y - mean) @ U  # (n, k - 1)
        projected = coords @ U.T + mean
        scale = np.sqrt(np.max(np.einsum("ij,ij->i", coords, coords)))
        points = np.hstack([coords, np.full((n, 1), scale)])
    else:
        U = _principal_axes(Y, k, centred=False)
        coords = Y @ U  # (n, k)
        projected = coords @ U.T
        u = coords.mean(axis=0)
        denom = coords @ u
        # a pixel orthogonal to the mean spectrum has no projective image; it is never a vertex
        denom = np.where(np.abs(denom) > 1e-12 * np.abs(denom).max(), denom, np.inf)
        points = coords / denom[:, None]
    found = np.zeros((k, k))
    found[-1, 0] = 1.0
    indices = np.zeros(k, dtype=np.int64)
    for i in range(k):
        w = rng.random_sample(k)
        f = w - found @ (np.linalg.pinv(found) @ w)
        f /= max(np.linalg.norm(f), np.finfo(float).tiny)
        indices[i] = int(np.argmax(np.abs(points @ f)))
        found[:, i] = points[indices[i]]
    return projected[indices].astype(dtype), indices


def simplex_volume(endmembers, X):
    """Volume of the simplex of ``n_endmembers`` endmembers in the data's ``n_endmembers - 1`` principal axes.

    Under the linear mixing model the pixels fill the simplex of the
    endmembers, and the true endmembers span the smallest simplex that holds
    them (Winter's N-FINDR criterion reads it the other way: among pixels,
    the largest simplex). Comparing the volumes of candidate endmember sets,
    e.g. of several :func:`vca` runs, picks the one that reaches furthest
    into the corners of the data.

    Parameters
    ----------
    endmembers : array-like of shape (n_endmembers, n_bands)
    X : array-like of shape (n_pixels, n_bands)
        The spectra whose principal axes (around their mean) are used.

    Returns
    -------
    volume : float
        ``|det|`` of the edges from the first endmember, without the
        ``1 / (k - 1)!`` factor (a constant for a given ``k``); 0 for one
        endmember.
    """
    X = _check_spectra(X, "simplex_volume").astype(np.float64, copy=False)
    E = _check_endmembers(endmembers, X.shape[1])
    k = E.shape[0]
    if k < 2:
        return 0.0
    mean = X.mean(axis=0)
    U = _principal_axes(X - mean, k - 1, centred=True)
    P = (E - mean) @ U
    return float(abs(np.linalg.det(P[1:] - P[0])))


def _check_endmembers(endmembers, n_features):
    E = check_array(endmembers, dtype=np.float64, ensure_all_finite=False, input_name="endmembers")
    if E.shape[1] != n_features:
        hint = " (load_scene gives them as columns: pass scene.endmembers.T)" if E.shape[0] == n_features else ""
        raise ValueError(
            f"endmembers must have shape (n_endmembers, {n_features}) to match X's {n_features} "
            f"bands, got {E.shape}{hint}."
        )
    return E


def _simplex_candidates(gram):
    """For each support S (non-empty subset of endmembers): (S, P, c) with a_S = P @ (E_S x) + c.

    ``a_S`` minimises ``|x - a_S E_S|^2`` subject to ``sum(a_S) = 1``: the
    KKT system of the equality-constrained problem, solved once per support
    for all pixels (it is linear in ``E_S x``). Singular supports (repeated
    endmembers) use the pseudo-inverse.
    """
    k = gram.shape[0]
    out = []
    for size in range(1, k + 1):
        for S in itertools.combinations(range(k), size):
            S = list(S)
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = gram[np.ix_(S, S)]
            kkt[:size, size] = 1.0
            kkt[size, :size] = 1.0
            inv = np.linalg.pinv(kkt)
            # [a; mu] = inv @ [E_S x; 1]
            out.append((S, inv[:size, :size], inv[:size, size]))
    return out


def _fcls_exact(B, gram, candidates):
    """Exact FCLS of a block: the best feasible equality-constrained solution over all supports.

    ``B = X @ E.T`` of shape (n, k). The optimum over the simplex is the
    equality-constrained optimum on its own support, which is feasible; any
    other feasible candidate is a point of the simplex, so its objective is no
    lower. The objective ``a G a / 2 - a b`` differs from the squared error by a
    constant per pixel.
    """
    n, k = B.shape
    best = np.full(n, np.inf)
    A = np.zeros((n, k))
    for S, P, c in candidates:
        a = B[:, S] @ P.T + c  # (n, |S|)
        feasible = np.all(a >= -1e-10, axis=1)
        if not feasible.any():
            continue
        a = np.maximum(a, 0.0)
        gs = gram[np.ix_(S, S)]
        objective = 0.5 * np.einsum("ij,jk,ik->i", a, gs, a) - np.einsum("ij,ij->i", a, B[:, S])
        better = feasible & (objective < best)
        if better.any():
            best[better] = objective[better]
            A[better] = 0.0
            A[np.ix_(np.flatnonzero(better), S)] = a[better]
    return A


def _project_simplex(V):
    """Euclidean projection of each row of V onto the probability simplex (Duchi et al., 2008)."""
    n, k = V.shape
    U = -np.sort(-V, axis=1)
    css = np.cumsum(U, axis=1) - 1.0
    ind = np.arange(1, k + 1)
    rho = np.count_nonzero(U - css / ind > 0, axis=1)
    theta = css[np.arange(n), rho - 1] / rho
    return np.maximum(V - theta[:, None], 0.0)


def _fcls_projected_gradient(B, gram, max_iter, tol):
    """FCLS of a block by accelerated projected gradient (FISTA) on the simplex."""
    n, k = B.shape
    step = 1.0 / max(np.linalg.eigvalsh(gram).max(), np.finfo(float).tiny)
    A = np.full((n, k), 1.0 / k)
    Y, t = A.copy(), 1.0
    for _ in range(max_iter):
        A_next = _project_simplex(Y - step * (Y @ gram - B))
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        Y = A_next + ((t - 1) / t_next) * (A_next - A)
        change = np.max(np.abs(A_next - A))
        A, t = A_next, t_next
        if change < tol:
            break
    return A


def fcls(X, endmembers, *, method="auto", max_iter=2000, tol=1e-7):
    """Fully constrained least squares abundances: non-negative, summing to one, per pixel.

    For each pixel ``x`` it solves ``min |x - a @ E|^2`` subject to
    ``a >= 0`` and ``sum(a) = 1``. All pixels are solved together, in blocks
    of 65,536, with numpy arithmetic on ``(n_pixels, n_endmembers)`` arrays
    (the data enter only through ``X @ E.T``), so a million pixels take
    seconds.

    Parameters
    ----------
    X : array-like of shape (n_pixels, n_bands)
        Spectra, one per row.
    endmembers : array-like of shape (n_endmembers, n_bands)
        Endmember spectra as rows, in the units of ``X``: from :func:`vca`,
        ``AEUnmixer.endmembers_`` or ``scene.endmembers.T``.
    method : {"auto", "exact", "projected_gradient"}, default="auto"
        "exact" solves the equality-constrained problem on every support
        (every non-empty subset of endmembers, ``2**k - 1`` of them) and keeps
        the best feasible solution, which is the exact optimum; its cost grows
        as ``2**k``. "projected_gradient" runs accelerated projected gradient
        (FISTA) on the simplex until no abundance moves by more than ``tol``.
        "auto" is "exact" up to 8 endmembers.
    max_iter : int, default=2000
        "projected_gradient": iterations at most.
    tol : float, default=1e-7
        "projected_gradient": the largest change of an abundance between
        iterations at which it stops.

    Returns
    -------
    abundances : ndarray of shape (n_pixels, n_endmembers)
        Non-negative rows summing to one, in X's float dtype.

    References
    ----------
    D. C. Heinz and C.-I Chang, "Fully constrained least squares linear
    spectral mixture analysis method for material quantification in
    hyperspectral imagery", IEEE Trans. Geosci. Remote Sens. 39(3):529-545,
    2001.

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae.unmixing import fcls
    >>> E = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> fcls([[0.3, 0.7], [2.0, 0.0]], E)
    array([[0.3, 0.7],
           [1. , 0. ]])
    """
    X = _check_spectra(X, "fcls")
    E = _check_endmembers(endmembers, X.shape[1])
    if method not in ("auto", "exact", "projected_gradient"):
        raise ParameterError(
            "{name} must be 'auto', 'exact' or 'projected_gradient', got {value!r}.", name=Param("method"), value=method
        )
    if not np.all(np.isfinite(E)):
        raise ValueError("endmembers have NaN or infinite values; pass finite endmember spectra.")
    k = E.shape[0]
    if method == "auto":
        method = "exact" if k <= _MAX_EXACT_ENDMEMBERS else "projected_gradient"
    gram = E @ E.T
    candidates = _simplex_candidates(gram) if method == "exact" else None
    out = np.empty((X.shape[0], k), dtype=X.dtype)
    for start in range(0, X.shape[0], _FCLS_BLOCK):
        block = X[start : start + _FCLS_BLOCK].astype(np.float64)
        B = block @ E.T
        if method == "exact":
            A = _fcls_exact(B, gram, candidates)
        else:
            A = _fcls_projected_gradient(B, gram, max_iter, tol)
        out[start : start + len(block)] = A
    return out

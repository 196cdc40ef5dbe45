"""Noise of a cube estimated from the cube alone: per band, and the dimension of the signal it hides.

Hyperspectral bands are strongly correlated: a band's signal is predicted
well by the other bands, its noise (independent from band to band) is not.
Regressing each band on all the others therefore leaves the noise as the
residual (Roger and Arnold's multiple-regression estimate, the one HySime
uses). From that estimate follow each band's signal-to-noise ratio, which
picks out the water-absorption and detector-edge bands a user usually
drops, and HySime's estimate of the dimension of the signal subspace: the
number of endmembers of a linear mixture.

Everything here needs the ``(n_bands, n_bands)`` correlation matrix of the
spectra only, accumulated block by block, so it runs on millions of pixels
in little memory.

References
----------
R. E. Roger and J. F. Arnold, "Reliably estimating the noise in AVIRIS
hyperspectral images", Int. J. Remote Sens. 17(10):1951-1962, 1996.

J. M. Bioucas-Dias and J. M. P. Nascimento, "Hyperspectral subspace
identification", IEEE Trans. Geosci. Remote Sens. 46(8):2435-2445, 2008.
"""

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_array

from hsiae._checks import refuse_cube

__all__ = ["estimate_noise", "band_snr", "hysime", "noise_statistics"]

# Pixels taken at a time into the correlation matrix: bounds the float64 copy of a block.
_BLOCK = 65_536
# Ridge on the correlation matrix, relative to its mean diagonal: keeps the regression defined when
# bands are (nearly) linear combinations of one another, far below any real noise level.
_RIDGE = 1e-9


def _correlation(X, who):
    """``(X.T @ X / n, n)`` in float64, accumulated block by block, after checking the spectra."""
    refuse_cube(X, who)
    # integer cubes (uint16 counts, say) stay as they are: each block is converted on its own
    X = check_array(X, dtype="numeric", ensure_all_finite=False, input_name="X")
    n, L = X.shape
    if L < 2:
        raise ValueError(
            f"X has {L} band; the noise is estimated by regressing each band on the others, which "
            f"needs at least 2 bands."
        )
    if n <= L:
        raise ValueError(
            f"X has {n} pixels for {L} bands; regressing each band on the {L - 1} others needs more "
            f"pixels than bands (many more for a good estimate); pass more pixels."
        )
    R = np.zeros((L, L))
    for start in range(0, n, _BLOCK):
        block = X[start : start + _BLOCK].astype(np.float64, copy=False)
        if not np.isfinite(block).all():
            row = start + int(np.argmin(np.isfinite(block).all(axis=1)))
            raise ValueError(
                f"X has NaN or infinite values (row {row} is the first); leave the no-data pixels "
                f"out first (hsiae.pixel_spectra gives the mask of usable pixels)."
            )
        R += block.T @ block
    return R / n, n


def _regression(R):
    """The matrix ``M`` whose product ``X @ M`` is each band's residual after regressing it on the others.

    With ``P = inv(R)``, the least-squares coefficients of band ``i`` on the
    others are ``-P[j, i] / P[i, i]``, so the residual is ``X @ P[:, i] / P[i, i]``.
    """
    L = len(R)
    ridge = _RIDGE * max(np.trace(R) / L, np.finfo(float).tiny)
    P = np.linalg.inv(R + ridge * np.eye(L))
    return P / np.diag(P)


def _noise_variance(R, M, n):
    """Each band's noise variance: the mean square of its residual (``diag(M.T @ R @ M)``) over ``n`` pixels.

    A least-squares fit of a band on the ``L - 1`` others leaves its residual
    with ``n - L + 1`` degrees of freedom, not ``n``: without the correction
    the noise comes out low by half when there are 1.25 times as many pixels
    as bands, and by 4 % with ten times as many.
    """
    L = len(R)
    return np.maximum(_quadratic_diagonal(R, M), 0.0) * (n / (n - L + 1))


def _quadratic_diagonal(R, V):
    """``diag(V.T @ R @ V)`` without forming the product."""
    return np.sum(V * (R @ V), axis=0)


def _snr(R, noise):
    """Each band's SNR in dB from the correlation matrix and the noise variances."""
    signal = np.maximum(np.diag(R) - noise, 0.0)
    snr = np.full(len(R), -np.inf)
    has_signal = signal > 0
    with np.errstate(divide="ignore"):
        snr[has_signal] = 10 * np.log10(signal[has_signal]) - 10 * np.log10(noise[has_signal])
    return snr


def _subspace_dimension(R, M, noise):
    """HySime's count: the eigenvectors of the signal's correlation along which the data exceed twice the noise."""
    S = np.eye(len(R)) - M  # the signal's estimate is X @ S
    signal_correlation = S.T @ R @ S
    _, vectors = np.linalg.eigh((signal_correlation + signal_correlation.T) / 2)
    power = _quadratic_diagonal(R, vectors)
    noise_power = (vectors**2).T @ noise
    return int(np.count_nonzero(2 * noise_power - power < 0))


def estimate_noise(X):
    """Standard deviation of each band's noise, estimated by regressing the band on all the others.

    The residual of the regression is the part of a band that the other
    bands cannot predict: its noise, if the noise is independent from band
    to band and the signal is not. Works in the units of ``X`` and on any
    number of pixels (only the bands' correlation matrix is kept).

    Parameters
    ----------
    X : array-like of shape (n_pixels, n_bands)
        Spectra, one per row, without no-data pixels; more pixels than
        bands (the estimate improves with many more).

    Returns
    -------
    noise_std : ndarray of shape (n_bands,)
        In the units of ``X``.

    See Also
    --------
    band_snr : The same estimate as a signal-to-noise ratio per band.

    Notes
    -----
    Noise that is correlated between neighbouring bands (striping shared by
    bands, or spectra resampled or smoothed before) is partly predicted by
    the other bands and so underestimated. The other bands' noise enters the
    prediction of a band, so a band much quieter than the rest is
    overestimated, the more so the fewer the bands: with noise rising
    fourfold across the bands of a rank-4 signal, the quietest band comes
    out 3 % high with 200 bands and 20 % high with 40. Spectra of a cube's
    pixels, read with :func:`hsiae.pixel_spectra`, are the usual input.

    The residual's mean square is divided by its degrees of freedom,
    ``n_pixels - n_bands + 1``, rather than by ``n_pixels``: the fit on the
    ``n_bands - 1`` other bands takes the rest. Without this, spectral maps
    with few pixels for their channels would come out far too quiet (half
    the noise with 1.25 pixels per band).

    References
    ----------
    R. E. Roger and J. F. Arnold, "Reliably estimating the noise in AVIRIS
    hyperspectral images", Int. J. Remote Sens. 17(10):1951-1962, 1996.

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae.noise import estimate_noise
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.random((5000, 3)) @ rng.random((3, 100))  # 100 bands of rank 3
    >>> X = signal + rng.normal(0, 0.01, signal.shape)
    >>> print(f"{estimate_noise(X).mean():.4f}")
    0.0102
    """
    R, n = _correlation(X, "estimate_noise")
    return np.sqrt(_noise_variance(R, _regression(R), n))


def band_snr(X):
    """Signal-to-noise ratio of each band in dB: the power of its signal over that of its noise.

    The noise is :func:`estimate_noise`'s; the signal's power is the band's
    mean square less the noise's. Bands of water absorption and at the
    detectors' edges stand out tens of dB below their neighbours; they are
    the bands to check before training (and often to leave out).

    Parameters
    ----------
    X : array-like of shape (n_pixels, n_bands)
        Spectra, one per row, without no-data pixels; more pixels than bands.

    Returns
    -------
    snr : ndarray of shape (n_bands,)
        ``10 log10(signal power / noise power)`` per band; ``inf`` for a band
        without noise, ``-inf`` for one without signal (a constant zero band).

    See Also
    --------
    estimate_noise : The noise's standard deviation per band.
    hsiae.plotting.plot_band_snr : The ratio against wavelength.

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae.noise import band_snr
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.random((5000, 3)) @ rng.random((3, 20))
    >>> X = signal + rng.normal(0, 0.01 * signal.std(), signal.shape)
    >>> X[:, 7] += rng.normal(0, 0.3 * signal.std(), len(X))  # one noisy band
    >>> int(np.argmin(band_snr(X)))
    7
    """
    R, n = _correlation(X, "band_snr")
    return _snr(R, _noise_variance(R, _regression(R), n))


def hysime(X):
    """Dimension of the signal subspace by HySime: for a linear mixture, its number of endmembers.

    HySime estimates the noise by regression (:func:`estimate_noise`),
    takes the eigenvectors of the signal's correlation matrix and keeps
    those along which the data's power exceeds twice the noise's: the
    subspace that minimises the mean squared error of projecting the
    signal with its noise. For data that follow a linear mixture of ``p``
    endmembers with noise independent between bands, the dimension is
    ``p``: a choice of ``n_endmembers`` for :func:`hsiae.unmixing.vca` and
    :class:`hsiae.AEUnmixer`.

    Parameters
    ----------
    X : array-like of shape (n_pixels, n_bands)
        Spectra, one per row, without no-data pixels; more pixels than
        bands. Not centred: the mean spectrum is part of the signal.

    Returns
    -------
    n_components : int
        Between 0 (noise only) and ``n_bands``.

    Notes
    -----
    On real scenes the signal subspace is larger than the number of
    materials a ground truth names: endmember variability, illumination and
    nonlinear mixing each add dimensions, and noise correlated between
    bands is counted as signal. Read the number as an upper bound there,
    and compare the scores of a few values below it.

    References
    ----------
    J. M. Bioucas-Dias and J. M. P. Nascimento, "Hyperspectral subspace
    identification", IEEE Trans. Geosci. Remote Sens. 46(8):2435-2445, 2008.

    Examples
    --------
    >>> from hsiae import make_unmixing_scene
    >>> from hsiae.noise import hysime
    >>> scene = make_unmixing_scene(4, snr=30, random_state=0)
    >>> hysime(scene.cube.reshape(-1, scene.cube.shape[-1]))
    4
    """
    R, n = _correlation(X, "hysime")
    M = _regression(R)
    return _subspace_dimension(R, M, _noise_variance(R, M, n))


def noise_statistics(X):
    """:func:`estimate_noise`, :func:`band_snr` and :func:`hysime` at once, from one pass over the pixels.

    Parameters
    ----------
    X : array-like of shape (n_pixels, n_bands)
        Spectra, one per row, without no-data pixels; more pixels than bands.

    Returns
    -------
    statistics : :class:`sklearn.utils.Bunch`
        ``noise_std`` (n_bands,), ``snr`` (n_bands,, in dB) and
        ``n_components`` (int), as the three functions return them.

    Examples
    --------
    >>> from hsiae import make_unmixing_scene
    >>> from hsiae.noise import noise_statistics
    >>> scene = make_unmixing_scene(3, snr=30, random_state=0)
    >>> stats = noise_statistics(scene.cube.reshape(-1, scene.cube.shape[-1]))
    >>> stats.n_components, stats.noise_std.shape
    (3, (128,))
    """
    R, n = _correlation(X, "noise_statistics")
    M = _regression(R)
    noise = _noise_variance(R, M, n)
    return Bunch(noise_std=np.sqrt(noise), snr=_snr(R, noise), n_components=_subspace_dimension(R, M, noise))

"""A synthetic linear-mixing scene with known endmembers and abundances, so unmixing is testable without files.

:func:`make_unmixing_scene` (also in :mod:`hsiae.datasets`) draws smooth
reflectance-like endmember spectra, Dirichlet abundances with a spatial
structure (regions of one Dirichlet draw each, blurred so that their borders
mix), mixes them linearly (optionally with a bilinear term) and adds white
Gaussian noise at a chosen signal-to-noise ratio.
"""

import numbers

import numpy as np
from scipy.ndimage import gaussian_filter
from sklearn.utils import Bunch, check_random_state

from hsiae.exceptions import Param, ParameterError

__all__ = ["make_unmixing_scene", "make_endmembers"]

# Smallest spectral angle (radians) between two drawn endmembers; closer draws are redrawn.
_MIN_ANGLE = 0.15


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ParameterError(
            "{name} must be an integer >= {minimum}, got {value!r}.", name=Param(name), minimum=minimum, value=value
        )
    return int(value)


def _check_real(value, name, minimum, *, allow_none=False, closed=True):
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < minimum or (not closed and value == minimum):
        bound = ">=" if closed else ">"
        raise ParameterError(
            "{name} must be a finite number {bound} {minimum}{none}, got {value!r}.",
            name=Param(name),
            bound=bound,
            minimum=minimum,
            none=" or None" if allow_none else "",
            value=value,
        )
    return float(value)


def _smooth_spectrum(t, rng):
    """One reflectance-like spectrum over band positions t in [0, 1]: a level, an edge and a few bumps."""
    s = np.full_like(t, rng.uniform(0.15, 0.45))
    centre, width = rng.uniform(0.2, 0.8), rng.uniform(0.02, 0.08)
    s += rng.uniform(-0.25, 0.35) / (1 + np.exp(-(t - centre) / width))  # an edge, like vegetation's red edge
    for _ in range(3):
        c, w, h = rng.uniform(0, 1), rng.uniform(0.03, 0.15), rng.uniform(-0.15, 0.15)
        s += h * np.exp(-0.5 * ((t - c) / w) ** 2)  # absorption (h < 0) or reflection features
    return np.clip(s, 0.02, 0.98)


def make_endmembers(n_endmembers, n_bands, *, random_state=None):
    """Smooth, distinct reflectance-like spectra in [0.02, 0.98].

    Each is a constant level, a logistic edge and three Gaussian features at
    random positions; draws closer than 0.15 rad to an earlier one are drawn
    again.

    Parameters
    ----------
    n_endmembers : int
    n_bands : int
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    endmembers : ndarray of shape (n_bands, n_endmembers)
        As columns, like the ground truth of :func:`hsiae.load_scene`.
    """
    k = _check_int(n_endmembers, "n_endmembers", 1)
    n_bands = _check_int(n_bands, "n_bands", 2)
    rng = check_random_state(random_state)
    t = np.linspace(0.0, 1.0, n_bands)
    spectra, units = [], []
    for _ in range(1000 * k):
        s = _smooth_spectrum(t, rng)
        unit = s / np.linalg.norm(s)
        if all(np.arccos(np.clip(unit @ u, -1.0, 1.0)) >= _MIN_ANGLE for u in units):
            spectra.append(s)
            units.append(unit)
            if len(spectra) == k:
                break
    if len(spectra) < k:
        raise ValueError(
            f"could not draw {k} endmembers at least {_MIN_ANGLE} rad apart over {n_bands} bands; "
            f"ask for fewer endmembers or more bands."
        )
    return np.stack(spectra, axis=1)


def _regions(shape, n_regions, rng):
    """Labels 0..n_regions-1 of a Voronoi partition of the image around random seed pixels."""
    H, W = shape
    seeds = np.column_stack([rng.uniform(0, H, n_regions), rng.uniform(0, W, n_regions)])
    rows, cols = np.mgrid[0:H, 0:W]
    d = (rows[..., None] - seeds[:, 0]) ** 2 + (cols[..., None] - seeds[:, 1]) ** 2
    return np.argmin(d, axis=-1)


def make_unmixing_scene(
    n_endmembers=4,
    *,
    n_bands=128,
    shape=(64, 64),
    snr=30.0,
    concentration=0.3,
    n_regions=None,
    smoothness=2.0,
    pure_regions=True,
    bilinear=0.0,
    wavelengths=(400.0, 2500.0),
    random_state=None,
):
    r"""Make a hyperspectral scene by linear mixing, with known endmembers and abundances.

    Parameters
    ----------
    n_endmembers : int, default=4
        Number of endmembers (materials), at least 2.
    n_bands : int, default=128
        Number of bands, at least 2.
    shape : tuple of (int, int), default=(64, 64)
        ``(n_rows, n_cols)`` of the image, each at least 2.
    snr : float or None, default=30.0
        Signal-to-noise ratio in dB: white Gaussian noise of variance
        ``mean(clean ** 2) / 10 ** (snr / 10)`` is added. None adds none.
    concentration : float, default=0.3
        Parameter of the symmetric Dirichlet distribution that draws each
        region's abundances. Below 1 most regions are dominated by one
        endmember (the scene has nearly pure pixels); above 1 they are
        evenly mixed.
    n_regions : int or None, default=None
        Regions of the Voronoi partition of the image, each with one
        Dirichlet draw; None uses ``4 * n_endmembers``.
    smoothness : float, default=2.0
        Standard deviation (pixels) of the Gaussian blur of the abundance
        maps: region borders become mixtures. A blur of abundance vectors
        keeps them non-negative and summing to one. 0 keeps sharp regions.
    pure_regions : bool, default=True
        Make the first ``n_endmembers`` regions pure, one per endmember, so
        that every endmember has pure pixels (the regions' cores, away from
        the blurred borders), as VCA and N-FINDR assume. False leaves every
        region to the Dirichlet draw; with few regions an endmember may then
        never dominate anywhere.
    bilinear : float, default=0.0
        Weight ``gamma`` of the Fan bilinear term
        ``gamma * sum_{i<j} a_i a_j (m_i * m_j)`` added to the linear mixture
        (a nonlinear effect of light scattered between two materials).
    wavelengths : tuple of (float, float), default=(400.0, 2500.0)
        First and last band centres in nm.
    random_state : int, RandomState instance or None, default=None
        Seeds the endmembers, the regions, the abundances and the noise.

    Returns
    -------
    scene : :class:`~sklearn.utils.Bunch`
        With the fields of :func:`hsiae.load_scene`'s unmixing scenes:

        cube : ndarray of shape (n_rows, n_cols, n_bands), float32
            The noisy spectra (not clipped).
        clean : ndarray of shape (n_rows, n_cols, n_bands), float32
            The mixtures before noise.
        abundances : ndarray of shape (n_rows, n_cols, n_endmembers)
            Non-negative, summing to one per pixel, in the pixel order of
            ``cube``.
        endmembers : ndarray of shape (n_bands, n_endmembers)
            The endmember spectra as columns (pass ``.T`` to
            :func:`hsiae.unmixing.fcls` and :mod:`hsiae.metrics`).
        labels : ndarray of shape (n_rows, n_cols), int64
            The dominant endmember ``1..n_endmembers`` (argmax + 1).
        wavelengths : ndarray of shape (n_bands,)
            Band centres in nm.
        snr : float or None
            The ``snr`` asked for (None: no noise was added).
        name : str
            ``"linear_mixing"``.
        description : str
            What was generated, with which settings.

    Examples
    --------
    >>> from hsiae.datasets import make_unmixing_scene
    >>> scene = make_unmixing_scene(3, n_bands=50, shape=(16, 16), random_state=0)
    >>> scene.cube.shape, scene.abundances.shape, scene.endmembers.shape
    ((16, 16, 50), (16, 16, 3), (50, 3))
    """
    k = _check_int(n_endmembers, "n_endmembers", 2)
    n_bands = _check_int(n_bands, "n_bands", 2)
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 2 for s in shape)
    ):
        raise ParameterError(
            "{name} must be a pair of integers (n_rows, n_cols), each >= 2, got {value!r}.",
            name=Param("shape"),
            value=shape,
        )
    snr = _check_real(snr, "snr", -np.inf, allow_none=True)
    concentration = _check_real(concentration, "concentration", 0.0, closed=False)
    n_regions = 4 * k if n_regions is None else _check_int(n_regions, "n_regions", 1)
    if not isinstance(pure_regions, (bool, np.bool_)):
        raise ParameterError(
            "{name} must be True or False, got {value!r}.", name=Param("pure_regions"), value=pure_regions
        )
    smoothness = _check_real(smoothness, "smoothness", 0.0)
    bilinear = _check_real(bilinear, "bilinear", 0.0)
    w = np.asarray(wavelengths, dtype=np.float64)
    if w.shape != (2,) or not np.all(np.isfinite(w)) or w[0] >= w[1]:
        raise ParameterError(
            "{name} must be a (first, last) pair with first < last, got {value!r}.",
            name=Param("wavelengths"),
            value=wavelengths,
        )
    rng = check_random_state(random_state)
    H, W = int(shape[0]), int(shape[1])

    M = make_endmembers(k, n_bands, random_state=rng)  # (n_bands, k)
    region = _regions((H, W), n_regions, rng)
    draws = rng.dirichlet(np.full(k, concentration), size=n_regions)
    if pure_regions:
        n_pure = min(k, n_regions)
        draws[:n_pure] = np.eye(k)[:n_pure]
    A = draws[region]  # (H, W, k)
    if smoothness > 0:
        A = np.stack([gaussian_filter(A[..., j], smoothness, mode="nearest") for j in range(k)], axis=-1)
        A /= A.sum(axis=-1, keepdims=True)  # exact sum to one after rounding
    clean = A @ M.T
    if bilinear:
        for i in range(k):
            for j in range(i + 1, k):
                clean += bilinear * (A[..., i] * A[..., j])[..., None] * (M[:, i] * M[:, j])
    if snr is not None:
        sigma = np.sqrt(np.mean(clean**2) / 10 ** (snr / 10))
        cube = clean + rng.normal(0.0, sigma, size=clean.shape)
    else:
        cube = clean
    pure = f" (the first {min(k, n_regions)} pure)" if pure_regions else ""
    mixing = f"a bilinear term of weight {bilinear:g}, " if bilinear else ""
    description = (
        f"Synthetic linear mixture, {H} x {W} pixels x {n_bands} bands over {w[0]:g}-{w[1]:g} nm: "
        f"{k} smooth endmember spectra, abundances from a symmetric Dirichlet({concentration:g}) per "
        f"region of a {n_regions}-region Voronoi partition{pure} blurred by a Gaussian of "
        f"{smoothness:g} pixels, {mixing}"
        f"{'no noise' if snr is None else f'white Gaussian noise at {snr:g} dB SNR'}."
    )
    return Bunch(
        cube=cube.astype(np.float32),
        clean=clean.astype(np.float32),
        abundances=A,
        endmembers=M,
        labels=np.argmax(A, axis=-1).astype(np.int64) + 1,
        wavelengths=np.linspace(w[0], w[1], n_bands),
        snr=snr,
        name="linear_mixing",
        description=description,
    )

"""Tests for hsiae.noise: noise, signal-to-noise ratio and signal subspace estimated from the data alone."""

import numpy as np
import pytest

from hsiae import load_scene, make_unmixing_scene
from hsiae.noise import band_snr, estimate_noise, hysime, noise_statistics


def low_rank_spectra(n_pixels=6000, n_bands=40, rank=4, seed=0):
    """Smooth, positive, correlated spectra of a given rank (as real bands are), without noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_bands)
    basis = np.array([1 + 0.5 * np.sin(2 * np.pi * (j + 1) * t + j) for j in range(rank)])
    return rng.dirichlet(np.ones(rank), n_pixels) @ basis


def pixels(scene):
    return scene.cube.reshape(-1, scene.cube.shape[-1])


def test_the_noise_of_each_band_is_recovered_even_when_it_differs_between_bands():
    signal = low_rank_spectra(n_pixels=10_000, n_bands=200)
    sigma = np.linspace(0.005, 0.02, signal.shape[1])  # four times noisier at the end
    X = signal + np.random.default_rng(1).normal(size=signal.shape) * sigma
    np.testing.assert_allclose(estimate_noise(X), sigma, rtol=0.05)


@pytest.mark.parametrize("n_pixels", [250, 400, 2000])
def test_the_noise_is_found_with_few_pixels_for_the_bands(n_pixels):
    # a spectral map of few pixels for many channels: the regression's degrees of freedom count
    # (without them the estimate was 53 %, 28 % and 4 % low)
    signal = low_rank_spectra(n_pixels=n_pixels, n_bands=200)
    X = signal + np.random.default_rng(1).normal(0, 0.01, signal.shape)
    assert np.median(np.abs(estimate_noise(X) / 0.01 - 1)) < 0.07


def test_band_snr_agrees_with_the_scene_noise_and_finds_a_noisy_band():
    scene = make_unmixing_scene(4, snr=30, random_state=0)
    X, clean = pixels(scene), scene.clean.reshape(-1, scene.cube.shape[-1])
    true = 10 * np.log10((clean**2).mean(axis=0) / (X - clean).var(axis=0))
    np.testing.assert_allclose(band_snr(X), true, atol=0.5)

    X = X.copy()
    X[:, 50] += np.random.default_rng(0).normal(0, 10 * X.std(), len(X))
    snr = band_snr(X)
    assert np.argmin(snr) == 50
    assert snr[50] < np.median(snr) - 20


def test_a_band_of_pure_noise_or_of_zeros_gets_a_ratio_below_zero():
    rng = np.random.default_rng(0)
    X = low_rank_spectra(n_bands=30) + rng.normal(0, 0.01, (6000, 30))
    X = np.column_stack([X, rng.normal(0, 1, len(X)), np.zeros(len(X))])
    snr = band_snr(X)
    assert np.all((snr[:30] > 30) & (snr[:30] < 50))
    assert snr[30] < 0  # pure noise
    assert snr[31] == -np.inf  # nothing at all: no signal (and no NaN)


@pytest.mark.parametrize("n_endmembers", [3, 4, 5, 6])
@pytest.mark.parametrize("seed", [0, 1])
def test_hysime_finds_the_number_of_endmembers_of_a_linear_mixture(n_endmembers, seed):
    scene = make_unmixing_scene(n_endmembers, snr=30, random_state=seed)
    assert hysime(pixels(scene)) == n_endmembers


def test_hysime_finds_no_signal_in_pure_noise_and_the_rank_without_noise():
    assert hysime(np.random.default_rng(0).normal(size=(5000, 30))) == 0
    assert hysime(low_rank_spectra(rank=3) + np.random.default_rng(2).normal(0, 1e-3, (6000, 40))) == 3


def test_estimates_do_not_depend_on_the_dtype_or_on_how_many_pixels_are_taken_at_a_time():
    # more than one block of pixels (65,536) is accumulated
    signal = low_rank_spectra(n_pixels=70_000, n_bands=16)
    X = signal + np.random.default_rng(3).normal(0, 0.01, signal.shape)
    expected = estimate_noise(X)
    np.testing.assert_allclose(estimate_noise(X[:35_000]), expected, rtol=0.03)
    np.testing.assert_allclose(estimate_noise(X.astype(np.float32)), expected, rtol=1e-3)
    assert hysime(X) == hysime(X.astype(np.float32)) == 4
    # integer counts, as many sensors store them, are read block by block without a float copy of the whole
    counts = np.round(X * 1000).astype(np.uint16)
    np.testing.assert_allclose(estimate_noise(counts), estimate_noise(counts.astype(np.float64)), rtol=1e-12)


@pytest.mark.parametrize("function", [estimate_noise, band_snr, hysime, noise_statistics])
def test_bad_input_is_refused_before_any_work(function):
    X = low_rank_spectra(n_pixels=100, n_bands=10)
    with pytest.raises(ValueError, match=r"X has 10 pixels for 10 bands; .* needs more pixels than bands"):
        function(X[:10])
    with pytest.raises(ValueError, match=r"X has 1 band; .* at least 2 bands"):
        function(X[:, :1])
    X[70_000 % 100, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values \(row 0 is the first\); leave the no-data"):
        function(X)
    with pytest.raises(ValueError, match="Expected 2D array"):
        function(X[0])


def test_the_water_absorption_bands_of_salinas_a_have_the_lowest_ratios(data_home):
    # the 224-band cube: the corrected one leaves out bands 108-112, 154-167 and 224 (1-based)
    scene = load_scene("salinas_a", data_home=data_home, corrected=False)
    snr = band_snr(pixels(scene))
    water = np.r_[107:112]
    assert snr[water].max() < np.median(snr) - 20
    assert np.argmin(snr[:200]) in water


def test_noise_statistics_are_the_three_estimates_at_once():
    X = pixels(make_unmixing_scene(5, snr=25, random_state=4))
    stats = noise_statistics(X)
    np.testing.assert_array_equal(stats.noise_std, estimate_noise(X))
    np.testing.assert_array_equal(stats.snr, band_snr(X))
    assert stats.n_components == hysime(X) == 5

import numpy as np
import pytest

from hsiae import SpectralResampler


def _smooth_spectra(n=40, n_bands=204, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0.1, 1, n_bands)
    a, b = rng.random((2, n, 1))
    return 1000 * (a * np.sin(3 * t) + b * t + 0.5)


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_round_trip_recovers_original_bands_and_units(method):
    X = _smooth_spectra()
    res = SpectralResampler(n_bands=512, method=method).fit(X)
    Z = res.transform(X)
    assert Z.shape == (40, 512)
    back = res.inverse_transform(Z)
    assert back.shape == X.shape
    # smooth spectra, denser grid: interpolation error far below the signal
    assert np.max(np.abs(back - X)) < 1e-3 * np.ptp(X)


def test_linear_resampling_matches_numpy_interp_on_uneven_wavelengths():
    rng = np.random.default_rng(1)
    wl = np.cumsum(rng.uniform(1, 20, size=50)) + 400
    X = rng.random((5, 50))
    res = SpectralResampler(n_bands=77, scaling=None, wavelengths=wl).fit(X)
    target = np.linspace(wl[0], wl[-1], 77)
    expected = np.stack([np.interp(target, wl, row) for row in X])
    np.testing.assert_allclose(res.transform(X), expected, rtol=1e-12)
    np.testing.assert_allclose(res.target_positions_, target)


def test_target_wavelengths_are_used_and_outside_is_an_error():
    X = _smooth_spectra(n_bands=100)
    wl = np.linspace(400, 1000, 100)
    res = SpectralResampler(wavelengths=wl, target_wavelengths=[500, 600, 700], scaling=None).fit(X)
    np.testing.assert_allclose(res.transform(X)[:, 1], np.array([np.interp(600, wl, r) for r in X]))
    with pytest.raises(ValueError, match=r"inside the source range \[400, 1000\].*1200"):
        SpectralResampler(wavelengths=wl, target_wavelengths=[500, 1200]).fit(X)


def test_inverse_transform_needs_targets_that_cover_the_source_range():
    X = _smooth_spectra(n_bands=100)
    res = SpectralResampler(target_wavelengths=np.linspace(10, 90, 30)).fit(X)
    with pytest.raises(ValueError, match="do not cover the source range"):
        res.inverse_transform(res.transform(X))


@pytest.mark.parametrize(
    "wavelengths, match",
    [
        (np.linspace(400, 1000, 99), "has 99 values but X has 100 bands"),
        (np.linspace(1000, 400, 100), "strictly increasing"),
        (np.r_[np.full(1, np.nan), np.linspace(400, 1000, 99)], "finite"),
    ],
)
def test_bad_wavelengths_are_rejected(wavelengths, match):
    with pytest.raises(ValueError, match=match):
        SpectralResampler(wavelengths=wavelengths).fit(_smooth_spectra(n_bands=100))


def test_range_scaling_is_learned_once_and_stored():
    X = _smooth_spectra()
    res = SpectralResampler(n_bands=64).fit(X)
    R = res.transform(X)
    assert R.max() - R.min() == pytest.approx(1.0)
    assert R.mean() == pytest.approx(0.0, abs=1e-12)
    # statistics are not recomputed on new data: a brighter batch stays brighter
    R2 = res.transform(2 * X)
    assert R2.mean() > 0.4


def test_standard_scaling_is_per_band_and_constant_bands_are_safe():
    X = _smooth_spectra(n_bands=30)
    X[:, 5] = 7.0
    res = SpectralResampler(n_bands=30, scaling="standard").fit(X)
    R = res.transform(X)
    np.testing.assert_allclose(R.mean(axis=0), 0, atol=1e-9)
    stds = R.std(axis=0)
    assert stds[5] == 0 and np.all(np.isfinite(R))
    np.testing.assert_allclose(np.delete(stds, 5), 1, rtol=1e-9)


def test_no_scaling_keeps_units():
    X = _smooth_spectra(n_bands=30)
    res = SpectralResampler(n_bands=30, scaling=None).fit(X)
    np.testing.assert_allclose(res.transform(X), X, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    X = _smooth_spectra().astype(dtype)
    res = SpectralResampler(n_bands=32).fit(X)
    assert res.transform(X).dtype == dtype
    assert res.inverse_transform(res.transform(X)).dtype == dtype


def test_integer_input_is_accepted():
    X = np.round(_smooth_spectra()).astype(np.int16)
    res = SpectralResampler(n_bands=32).fit(X)
    assert np.issubdtype(res.transform(X).dtype, np.floating)


def test_wrong_band_counts_name_both_numbers():
    X = _smooth_spectra()
    res = SpectralResampler(n_bands=32).fit(X)
    with pytest.raises(ValueError, match="204"):
        res.transform(X[:, :100])
    with pytest.raises(ValueError, match="X has 31 features.*expects 32"):
        res.inverse_transform(np.zeros((2, 31)))


def test_feature_names():
    res = SpectralResampler(n_bands=3).fit(_smooth_spectra())
    assert list(res.get_feature_names_out()) == [f"spectralresampler{i}" for i in range(3)]


@pytest.mark.parametrize("n_bands", [37, 64, 256])
def test_upsampling_round_trip_is_exact(n_bands):
    # More output bands than input bands: going back is the exact (least-squares) inverse,
    # so a reconstruction's error is the model's own, not the resampler's.
    rng = np.random.default_rng(0)
    X = rng.random((20, 37))
    rs = SpectralResampler(n_bands, scaling=None).fit(X)
    np.testing.assert_allclose(rs.inverse_transform(rs.transform(X)), X, rtol=0, atol=1e-10)


def test_downsampling_goes_back_by_interpolation():
    x = np.linspace(0, 1, 101)[None, :] ** 2  # smooth: interpolation back is close
    rs = SpectralResampler(51, scaling=None).fit(x)
    back = rs.inverse_transform(rs.transform(x))
    assert np.max(np.abs(back - x)) < 1e-3


def test_upsample_false_keeps_fewer_bands_and_only_scales():
    X = _smooth_spectra(n_bands=40)
    res = SpectralResampler(n_bands=64, upsample=False).fit(X)
    assert res.n_bands_out_ == 40
    np.testing.assert_allclose(res.transform(X), (X - res.offset_) / res.scale_, rtol=1e-12)
    np.testing.assert_allclose(res.inverse_transform(res.transform(X)), X, rtol=1e-12, atol=1e-12)
    # more bands than n_bands are still resampled down
    assert SpectralResampler(n_bands=16, upsample=False).fit(X).n_bands_out_ == 16
    assert SpectralResampler(n_bands=64).fit(X).n_bands_out_ == 64


@pytest.mark.parametrize("scaling", ["standard", "range"])
def test_scaling_statistics_over_many_row_blocks_match_numpy(scaling):
    # more rows than one block of the streamed statistics, on a large offset (where a naive
    # sum of squares would lose the variance)
    import hsiae._stats

    rng = np.random.default_rng(0)
    n = 2 * hsiae._stats.ROW_BLOCK + 123
    X = 1e4 + rng.normal(size=(n, 9)) * np.linspace(0.01, 3, 9)
    res = SpectralResampler(n_bands=7, scaling=scaling).fit(X)
    R = X @ res.forward_matrix_
    if scaling == "standard":
        np.testing.assert_allclose(res.offset_, R.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(res.scale_, R.std(axis=0), rtol=1e-9)
        out = res.transform(X)
        np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-9)
    else:
        assert res.offset_ == pytest.approx(R.mean(), rel=1e-12)
        assert res.scale_ == pytest.approx(R.max() - R.min(), rel=1e-12)


# --------------------------------------------------------------------------- labelled arrays (xarray)


def _pixels_by_band(rioxarray, tmp_path, wavelengths):
    """An ENVI cube opened by rioxarray, stacked to a (pixel, band) DataArray with its wavelength coordinate."""
    from hsiae.io import Georeference, write_cube

    X = _smooth_spectra(n=12, n_bands=len(wavelengths)).astype(np.float32)
    place = Georeference("EPSG:32633", (30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0))
    write_cube(
        tmp_path / "scene.hdr", X.reshape(3, 4, -1), wavelengths=wavelengths, wavelength_units="nm", georeference=place
    )
    data = rioxarray.open_rasterio(tmp_path / "scene.img")  # dims (band, y, x), a 'wavelength' coordinate
    return X, data.stack(pixel=("y", "x")).transpose("pixel", "band")


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")  # rioxarray with affine 3
def test_a_dataarray_from_rioxarray_gives_the_resampler_its_wavelengths(tmp_path):
    rioxarray = pytest.importorskip("rioxarray")
    wavelengths = np.cumsum(np.random.default_rng(0).uniform(5, 15, size=30)) + 400  # uneven bands
    X, data = _pixels_by_band(rioxarray, tmp_path, wavelengths)
    assert data.dims == ("pixel", "band") and "wavelength" in data.coords
    res = SpectralResampler(n_bands=16).fit(data)
    np.testing.assert_array_equal(res.source_positions_, wavelengths)
    np.testing.assert_allclose(res.target_positions_, np.linspace(wavelengths[0], wavelengths[-1], 16))
    expected = SpectralResampler(n_bands=16, wavelengths=wavelengths).fit(X)
    np.testing.assert_allclose(res.transform(data), expected.transform(X), rtol=1e-6)
    # a plain array is taken as before: its columns are the bands fitted
    np.testing.assert_allclose(res.transform(X), expected.transform(X), rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")  # rioxarray with affine 3
def test_a_dataarray_whose_wavelengths_disagree_is_refused(tmp_path):
    rioxarray = pytest.importorskip("rioxarray")
    wavelengths = np.linspace(400.0, 1000.0, 30)
    X, data = _pixels_by_band(rioxarray, tmp_path, wavelengths)
    with pytest.raises(
        ValueError, match=r"wavelengths= \(405-1005\) differ from X's 'wavelength' coordinate \(400-1000\)"
    ):
        SpectralResampler(wavelengths=wavelengths + 5).fit(data)
    res = SpectralResampler(n_bands=8).fit(data)
    shifted = data.assign_coords(wavelength=("band", wavelengths + 2.0))
    with pytest.raises(ValueError, match=r"'wavelength' coordinate of X \(402-1002\) differs from the 30 bands fitted"):
        res.transform(shifted)
    with pytest.raises(ValueError, match=r"runs along its first dimension 'band'.*transpose"):
        SpectralResampler().fit(data.transpose("band", "pixel"))

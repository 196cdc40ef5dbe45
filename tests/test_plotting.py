"""Tests for hsiae.plotting: each plot draws what it was given, and bad input is refused."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from hsiae.plotting import (  # noqa: E402
    NODATA_COLOR,
    color_difference,
    plot_band_image,
    plot_band_snr,
    plot_cluster_spectra,
    plot_latent_maps,
    plot_latent_traversal,
    plot_loss_curves,
    plot_reconstruction_error,
    plot_segment_map,
    plot_spectrum,
    segment_colors,
)

H, W, B = 6, 7, 12


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def cube():
    rng = np.random.default_rng(0)
    return rng.uniform(0.0, 1.0, size=(H, W, B))


@pytest.fixture
def wavelengths():
    return np.linspace(400.0, 950.0, B)


def _panels(fig):
    """Axes of a figure that are not colour bars and not hidden."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.axison]


def _colorbar_labels(fig):
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


# --------------------------------------------------------------------------- segment_colors


def test_segment_colors_are_a_fixed_distinct_sequence():
    colors = segment_colors(60)
    assert colors.shape == (60, 4)
    # Cluster k keeps its colour whatever the number of clusters.
    np.testing.assert_array_equal(segment_colors(3), colors[:3])
    np.testing.assert_array_equal(segment_colors(12), colors[:12])
    assert len({tuple(c) for c in colors}) == 60
    assert tuple(to_rgba(NODATA_COLOR)) not in {tuple(c) for c in colors}
    assert segment_colors(0).shape == (0, 4)


def _delta_e(rgb1, rgb2):
    """CIEDE2000 difference of sRGB colours: about 2 is just noticeable, above 10 plainly different."""
    return color_difference(rgb1, rgb2)


def _delta_e_lab(lab1, lab2):
    return color_difference(lab1, lab2, space="lab")


def _min_difference(colors):
    d = _delta_e(colors[:, None], colors[None, :])
    return d[~np.eye(len(colors), dtype=bool)].min()


@pytest.mark.parametrize("n_clusters", [8, 10, 12, 20, 30, 55])
def test_segment_colors_stay_distinct_from_each_other_and_from_no_data(n_clusters):
    colors = segment_colors(n_clusters)
    nodata = np.array(to_rgba(NODATA_COLOR))
    # no cluster colour reads as no data (before: cluster 8 was a mid grey beside a light-grey
    # no-data, and the light shades after cluster 10 came within 15.5 of it)
    assert _delta_e(colors, nodata).min() > 19
    assert np.all(np.ptp(colors[:, :3], axis=1) > 0.1)  # no greys at all
    # beyond the 10 categorical colours, still plainly different (before: 8.1 at 30 clusters,
    # 3.7 at 55)
    assert _min_difference(colors) > 13


def test_delta_e_agrees_with_the_published_example():
    # Sharma, Wu and Dalal (2005), the CIEDE2000 test data: pairs 1 and 17
    assert _delta_e_lab([50, 2.6772, -79.7751], [50, 0.0, -82.7485]) == pytest.approx(2.0425, abs=1e-4)
    assert _delta_e_lab([50, 2.5, 0.0], [73, 25, -18]) == pytest.approx(27.1492, abs=1e-4)


def test_segment_colors_rejects_negative():
    with pytest.raises(ValueError, match="n_clusters must be an int >= 0, but got -1"):
        segment_colors(-1)


# --------------------------------------------------------------------------- loss curves


def test_loss_curves_dict_with_best_epoch():
    epoch = np.arange(1, 6)
    history = {
        "epoch": epoch,
        "train_loss": [5.0, 4.0, 3.0, 2.0, 1.0],
        "valid_loss": [5.5, 4.5, 3.5, 3.6, 3.7],
        "best_epoch": 3,
    }
    ax = plot_loss_curves(history)
    lines = ax.get_lines()
    assert len(lines) == 3
    np.testing.assert_array_equal(lines[0].get_ydata(), history["train_loss"])
    np.testing.assert_array_equal(lines[1].get_ydata(), history["valid_loss"])
    np.testing.assert_array_equal(lines[2].get_xdata(), [3, 3])
    assert lines[2].get_linestyle() == "--"
    assert ax.get_yscale() == "linear"
    assert ax.get_xlabel() == "Epoch" and ax.get_ylabel() == "Loss"
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["Training", "Validation"]


def test_loss_curves_skorch_style_list_log_scale():
    history = [{"epoch": e, "train_loss": 1.0 / e, "batches": []} for e in range(1, 5)]
    _, ax = plt.subplots()
    returned = plot_loss_curves(history, log=True, best_epoch=2, ax=ax)
    assert returned is ax
    assert ax.get_yscale() == "log"
    assert "log" in ax.get_ylabel()
    lines = ax.get_lines()
    assert len(lines) == 2  # training + best epoch, no validation
    np.testing.assert_allclose(lines[0].get_ydata(), [1.0, 0.5, 1 / 3, 0.25])


_FLAT = {  # a run whose loss changed by under 1 %: 0.00517 -> 0.00516 and 0.00705 -> 0.00707
    "epoch": np.arange(1, 7),
    "train_loss": [0.0051744, 0.0051739, 0.0051729, 0.0051724, 0.0051696, 0.005167],
    "valid_loss": [0.0070508, 0.0070516, 0.0070553, 0.0070594, 0.0070636, 0.0070696],
    "best_epoch": 1,
}


@pytest.mark.parametrize("log", [False, True])
def test_loss_curves_do_not_magnify_a_change_under_one_percent(log):
    ax = plot_loss_curves(_FLAT, log=log)
    low, high = ax.get_ylim()
    if log:
        assert high / low >= 10  # at least a decade: 1 % is under half a percent of the height
    else:
        assert low <= 0  # from zero: 1 % is about 1 % of the height
    assert high >= 0.0070696 and high <= 0.0070696 * 1.2  # and the data are not lost at the bottom
    # the change is said in numbers
    assert "validation loss 0.00705 at epoch 1 \u2192 0.00705 at best epoch 1 (+0.0 %)" in ax.get_title()


def test_loss_curves_say_the_relative_change_to_the_best_epoch():
    history = {"epoch": np.arange(1, 5), "train_loss": [1.0, 0.6, 0.5, 0.45], "valid_loss": [1.2, 0.8, 0.6, 0.7]}
    ax = plot_loss_curves(history, best_epoch=3, log=True)
    assert "validation loss 1.2 at epoch 1 \u2192 0.6 at best epoch 3 (\u221250.0 %)" in ax.get_title()
    # the best epoch is marked on the validation curve, besides the dashed line
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[3, 0.6]])
    no_valid = plot_loss_curves({"epoch": [1, 2], "train_loss": [2.0, 1.5]})
    assert "training loss 2 at epoch 1 \u2192 1.5 at epoch 2 (\u221225.0 %)" in no_valid.get_title()


def test_loss_curves_log_ticks_are_plain_numbers():
    ax = plot_loss_curves(_FLAT, log=True)
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    labels = [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    assert labels == ["0.001", "0.002", "0.005"]  # not 10^-3 written as a power
    # before, the curves filled the axes and the only labels were 7x10^-3 and 6x10^-3


def test_loss_curves_name_the_loss():
    ax = plot_loss_curves(_FLAT, loss_label="loss = MSE + 0.1 SAM")
    assert ax.get_ylabel() == "loss = MSE + 0.1 SAM"
    ax = plot_loss_curves(_FLAT, loss_label="loss = MSE + 0.1 SAM", log=True)
    assert ax.get_ylabel() == "loss = MSE + 0.1 SAM (log scale)"


@pytest.mark.parametrize(
    "history, kwargs, match",
    [
        ({"train_loss": [1.0]}, {}, "lacks the key"),
        ({"epoch": [1, 2], "train_loss": [1.0]}, {}, "has 1 values but history\\['epoch'\\] has 2"),
        ({"epoch": [], "train_loss": []}, {}, "empty"),
        ({"epoch": [1, 2], "train_loss": [1.0, -0.5]}, {"log": True}, "log=True needs positive"),
        ({"epoch": [1, 2], "train_loss": [1.0, 0.5]}, {"best_epoch": 7}, "outside the epochs"),
        ([1.0, 2.0], {}, "or a list with one such dict per epoch"),
    ],
)
def test_loss_curves_validation(history, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_loss_curves(history, **kwargs)


# --------------------------------------------------------------------------- band image


def test_band_image_with_reconstruction(cube, wavelengths):
    recon = cube + 0.05
    fig = plot_band_image(cube, recon, wavelength=612.0, wavelengths=wavelengths)
    band = int(np.argmin(np.abs(wavelengths - 612.0)))
    panels = _panels(fig)
    assert len(panels) == 3
    images = [ax.images[0] for ax in panels]
    np.testing.assert_allclose(images[0].get_array(), cube[:, :, band])
    np.testing.assert_allclose(images[1].get_array(), recon[:, :, band])
    np.testing.assert_allclose(images[2].get_array(), recon[:, :, band] - cube[:, :, band])
    # Input and reconstruction share robust limits; the difference is centred at 0.
    assert images[0].get_clim() == images[1].get_clim()
    assert images[0].get_clim() == pytest.approx(tuple(np.percentile(cube[:, :, band], [2, 98])))
    low, high = images[2].get_clim()
    assert low == pytest.approx(-high) and high > 0
    assert images[2].get_cmap().name == "RdBu_r"
    assert panels[0].get_title() == f"Input, band {band} ({wavelengths[band]:.4g} nm)"
    assert all("nm" in ax.get_title() for ax in panels)
    assert len(_colorbar_labels(fig)) == 2


def test_band_image_defaults_to_middle_band_without_wavelengths(cube):
    fig = plot_band_image(cube)
    (panel,) = _panels(fig)
    np.testing.assert_allclose(panel.images[0].get_array(), cube[:, :, B // 2])
    assert panel.get_title() == f"Input, band {B // 2}"
    assert "nm" not in panel.get_title()


def test_band_image_draws_on_given_axes(cube):
    fig, axes = plt.subplots(1, 3)
    assert plot_band_image(cube, cube, band=0, axes=axes) is fig


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"band": B}, f"band={B} is out of range; the cube has {B} bands"),
        ({"band": 1.5}, "band must be an integer"),
        ({"wavelength": 500.0}, "wavelength= needs the band centres"),
        ({"band": 1, "wavelength": 500.0, "wavelengths": np.arange(B)}, "either band= or"),
        ({"wavelengths": np.arange(B - 1)}, f"one value per band \\({B}\\)"),
        ({"reconstruction": np.zeros((H, W, B + 1))}, "reconstruction has shape"),
        ({"axes": [None, None]}, "axes has 2 Axes but this plot needs 1"),
    ],
)
def test_band_image_validation(cube, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_band_image(cube, **kwargs)


def test_band_image_rejects_2d_input(cube):
    with pytest.raises(ValueError, match="must be an array of shape \\(H, W, n_bands\\)"):
        plot_band_image(cube.reshape(H * W, B))


# --------------------------------------------------------------------------- spectrum


def test_spectrum_draws_every_cube(cube, wavelengths):
    recon = cube * 0.9
    noisy = cube + 0.1
    ax = plot_spectrum(cube, recon, pixel=(2, 3), wavelengths=wavelengths, others={"Noisy input": noisy})
    lines = ax.get_lines()
    assert len(lines) == 3
    by_label = {line.get_label(): line for line in lines}
    np.testing.assert_allclose(by_label["Input"].get_ydata(), cube[2, 3])
    np.testing.assert_allclose(by_label["Reconstruction"].get_ydata(), recon[2, 3])
    np.testing.assert_allclose(by_label["Noisy input"].get_ydata(), noisy[2, 3])
    np.testing.assert_allclose(lines[0].get_xdata(), wavelengths)
    assert ax.get_xlabel() == "Wavelength (nm)"
    assert "row 2, col 3" in ax.get_title()


def test_spectrum_band_index_axis(cube):
    ax = plot_spectrum(cube, pixel=(0, 0), wavelengths=None)
    assert len(ax.get_lines()) == 1
    assert "Band" in ax.get_xlabel()
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), np.arange(B))


def test_spectrum_custom_units(cube):
    ax = plot_spectrum(cube, pixel=(0, 0), wavelengths=np.linspace(0.4, 2.5, B), wavelength_units="\u00b5m")
    assert ax.get_xlabel() == "Wavelength (\u00b5m)"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pixel": (H, 0)}, f"outside the image, which has {H} rows and {W} columns"),
        ({"pixel": (0, -1)}, "outside the image"),
        ({"pixel": 3}, "pixel must be a \\(row, col\\) pair"),
        ({"pixel": (0.5, 1)}, "pixel must be a \\(row, col\\) pair"),
        ({"pixel": (0, 0), "others": {"noisy": np.zeros((H, W, 2))}}, "others\\['noisy'\\] has"),
        ({"pixel": (0, 0), "others": [np.zeros((H, W, B))]}, "others must be a mapping"),
    ],
)
def test_spectrum_validation(cube, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_spectrum(cube, **kwargs)


# --------------------------------------------------------------------------- signal-to-noise ratio


def test_band_snr_draws_the_ratios_and_the_marked_bands(wavelengths):
    snr = np.linspace(20.0, 40.0, B)
    snr[3], snr[4] = np.inf, -np.inf
    ax = plot_band_snr(snr, wavelengths=wavelengths, marked=[0, 5, -1], marked_label="Dropped")
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, wavelengths)
    np.testing.assert_array_equal(np.isnan(y), np.isin(np.arange(B), [3, 4]))  # no infinite point
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.c_[wavelengths, snr][[0, 5, B - 1]])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Estimated SNR", "Dropped (3)"]
    assert ax.get_ylabel() == "Signal-to-noise ratio (dB)"
    mask = np.zeros(B, dtype=bool)
    mask[[0, 5]] = True
    assert len(plot_band_snr(snr, marked=mask).collections[0].get_offsets()) == 2
    assert plot_band_snr(snr).get_legend() is None


@pytest.mark.parametrize(
    "snr, kwargs, match",
    [
        (np.zeros((2, 3)), {}, r"snr must be a 1-D array .* shape \(2, 3\)"),
        (np.array([1.0, np.nan]), {}, "without NaN .* with NaN"),
        (np.zeros(B), {"marked": [B]}, f"marked holds band {B}, but snr has {B} bands"),
        (np.zeros(B), {"marked": [0.5]}, "marked must be band indices"),
        (np.zeros(B), {"wavelengths": np.arange(3)}, "one value per band"),
    ],
)
def test_band_snr_validation(snr, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_band_snr(snr, **kwargs)


# --------------------------------------------------------------------------- segments


@pytest.fixture
def labels():
    lab = np.arange(H * W).reshape(H, W) % 4
    lab[0, :3] = -1
    return lab


def test_segment_map_image_is_the_labels_with_nodata_masked(labels):
    ax = plot_segment_map(labels)
    data = ax.images[0].get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(data), labels < 0)
    np.testing.assert_array_equal(data.compressed(), labels[labels >= 0])
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["Cluster 1", "Cluster 2", "Cluster 3", "Cluster 4", "no data"]
    # No-data pixels are drawn in the no-data colour.
    image = ax.images[0]
    assert image.cmap(np.ma.masked_array([0], mask=[True]))[0] == pytest.approx(to_rgba(NODATA_COLOR))


def test_segment_map_names_and_no_nodata_entry_when_absent(labels):
    labels = np.abs(labels)
    ax = plot_segment_map(labels, names=["soil", "tree", "water", "road", "roof"])
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["soil", "tree", "water", "road", "roof"]
    assert not np.ma.getmaskarray(ax.images[0].get_array()).any()


def test_segment_map_without_legend(labels):
    assert plot_segment_map(labels, legend=False).get_legend() is None


def test_segment_map_accepts_float_labels_with_nan(labels):
    floats = labels.astype(float)
    floats[labels < 0] = np.nan
    ax = plot_segment_map(floats)
    np.testing.assert_array_equal(np.ma.getmaskarray(ax.images[0].get_array()), labels < 0)


def test_same_colour_for_cluster_k_in_map_and_spectra(labels):
    n_clusters = 4
    ax_map = plot_segment_map(labels)
    ax_spec = plot_cluster_spectra(np.random.default_rng(1).random((n_clusters, B)))
    image = ax_map.images[0]
    legend_colors = [h.get_facecolor() for h in ax_map.get_legend().legend_handles]
    for k, line in enumerate(ax_spec.get_lines()):
        expected = to_rgba(line.get_color())
        assert image.cmap(image.norm(k)) == pytest.approx(expected)
        assert legend_colors[k] == pytest.approx(expected)
        assert expected == pytest.approx(tuple(segment_colors(n_clusters)[k]))


@pytest.mark.parametrize(
    "labels, kwargs, match",
    [
        (np.zeros((2, 2, 2), dtype=int), {}, "labels must be an array of shape \\(H, W\\)"),
        (np.full((2, 2), 0.5), {}, "non-integer values"),
        (np.array([[0, 1], [2, 2]]), {"names": ["a", "b"]}, "names has 2 entries, but labels has 3"),
        (np.array([["a", "b"]]), {}, "labels must hold integers"),
    ],
)
def test_segment_map_validation(labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_segment_map(labels, **kwargs)


def test_cluster_spectra_lines_spread_and_labels(wavelengths):
    rng = np.random.default_rng(2)
    spectra = rng.random((3, B))
    spread = 0.1 * rng.random((3, B))
    ax = plot_cluster_spectra(spectra, wavelengths=wavelengths, spread=spread, names=["soil", "tree", "water"])
    lines = ax.get_lines()
    assert len(lines) == 3
    for k, line in enumerate(lines):
        np.testing.assert_allclose(line.get_ydata(), spectra[k])
    assert len(ax.collections) == 3  # one shaded band per cluster
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["soil", "tree", "water"]
    assert ax.get_xlabel() == "Wavelength (nm)"


def test_cluster_spectra_default_names_band_axis():
    ax = plot_cluster_spectra(np.ones((2, B)))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Cluster 1", "Cluster 2"]
    assert "Band" in ax.get_xlabel()
    assert len(ax.collections) == 0


@pytest.mark.parametrize(
    "spectra, kwargs, match",
    [
        (np.ones(B), {}, "spectra must have shape \\(n_clusters, n_bands\\)"),
        (np.ones((2, B)), {"spread": np.ones((2, B - 1))}, "spread has shape"),
        (np.ones((2, B)), {"spread": -np.ones((2, B))}, "spread must be non-negative"),
        (np.ones((2, B)), {"names": ["a"]}, "names has 1 entries, but spectra has 2"),
        (np.ones((2, B)), {"wavelengths": np.ones(3)}, "one value per band"),
    ],
)
def test_cluster_spectra_validation(spectra, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_cluster_spectra(spectra, **kwargs)


# --------------------------------------------------------------------------- errors


def test_reconstruction_error_rmse_map(cube):
    recon = cube + np.linspace(0, 1, H * W).reshape(H, W, 1)
    ax = plot_reconstruction_error(cube, recon)
    expected = np.sqrt(np.mean((recon - cube) ** 2, axis=-1))
    np.testing.assert_allclose(ax.images[0].get_array(), expected)
    assert "RMSE" in _colorbar_labels(ax.figure)[0]
    assert "RMSE" in ax.get_title()


def test_reconstruction_error_sam_is_finite_in_degrees(cube):
    recon = 3.0 * cube  # same shape of spectrum: angle 0
    cube = cube.copy()
    cube[0, 0] = 0.0
    recon[0, 0] = 0.0  # both zero: 0 degrees
    cube[0, 1] = 0.0  # zero against non-zero: 90 degrees
    recon[1, 1] = -cube[1, 1]  # opposite: 180 degrees
    ax = plot_reconstruction_error(cube, recon, metric="sam")
    angles = np.asarray(ax.images[0].get_array())
    assert np.all(np.isfinite(angles))
    assert angles[0, 0] == pytest.approx(0.0)
    assert angles[0, 1] == pytest.approx(90.0)
    assert angles[1, 1] == pytest.approx(180.0)
    assert angles[2, 2] == pytest.approx(0.0, abs=1e-6)
    assert "degrees" in _colorbar_labels(ax.figure)[0]


@pytest.mark.parametrize(
    "recon, kwargs, match",
    [
        (np.zeros((H, W, B)), {"metric": "mae"}, "metric must be 'rmse' or 'sam'"),
        (np.zeros((H, W + 1, B)), {}, "reconstruction has shape"),
    ],
)
def test_reconstruction_error_validation(cube, recon, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_reconstruction_error(cube, recon, **kwargs)


# --------------------------------------------------------------------------- latent space


@pytest.mark.parametrize("n_latent", [1, 5, 32])
def test_latent_maps_one_titled_image_per_dimension(n_latent):
    latent = np.random.default_rng(3).normal(size=(H, W, n_latent))
    fig = plot_latent_maps(latent)
    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == [f"z{d}" for d in range(n_latent)]
    for d, ax in enumerate(panels):
        np.testing.assert_allclose(ax.images[0].get_array(), latent[:, :, d])
    assert len(_colorbar_labels(fig)) == n_latent


def test_latent_maps_ncols_and_constant_dimension():
    latent = np.random.default_rng(4).normal(size=(H, W, 3))
    latent[:, :, 1] = 2.0
    fig = plot_latent_maps(latent, ncols=1)
    panels = _panels(fig)
    assert [ax.get_subplotspec().colspan.start for ax in panels] == [0, 0, 0]
    assert panels[1].get_title() == "z1 (constant)"


def _rendered(image, row, col):
    """The RGBA colour an AxesImage paints at one pixel of its data."""
    return image.to_rgba(image.get_array())[row, col]


def test_latent_maps_paint_no_data_pixels_in_the_no_data_colour():
    latent = np.random.default_rng(4).normal(size=(H, W, 3))
    latent[0, 0] = np.nan  # a no-data pixel
    fig = plot_latent_maps(latent)
    nodata = np.array(to_rgba(NODATA_COLOR))
    for ax in _panels(fig):
        image = ax.images[0]
        np.testing.assert_allclose(_rendered(image, 0, 0), nodata)
        # and no data pixel of the map has that colour
        rgba = image.to_rgba(image.get_array()).reshape(-1, 4)[1:]
        assert _delta_e(rgba, nodata).min() > 15
    assert "1 no-data pixel in white" in fig.get_suptitle()


def test_segment_map_paints_no_data_apart_from_every_cluster():
    labels = np.arange(H * W).reshape(H, W) % 12
    labels[0, 0] = -1
    ax = plot_segment_map(labels)
    image = ax.images[0]
    nodata = np.array(to_rgba(NODATA_COLOR))
    np.testing.assert_allclose(_rendered(image, 0, 0), nodata)
    assert _delta_e(segment_colors(12), nodata).min() > 19
    handles = ax.get_legend().legend_handles
    assert handles[-1].get_label() == "no data"
    np.testing.assert_allclose(handles[-1].get_facecolor(), nodata)


def test_image_plots_paint_no_data_pixels_in_the_no_data_colour(cube):
    holed = cube.copy()
    holed[1, 2] = np.nan
    nodata = np.array(to_rgba(NODATA_COLOR))
    fig = plot_band_image(holed, holed)
    for ax in _panels(fig):
        np.testing.assert_allclose(_rendered(ax.images[0], 1, 2), nodata)
    ax = plot_reconstruction_error(holed, cube)
    np.testing.assert_allclose(_rendered(ax.images[0], 1, 2), nodata)


def test_latent_maps_validation():
    with pytest.raises(ValueError, match="latent must have shape \\(H, W, n_latent\\)"):
        plot_latent_maps(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="ncols must be an int >= 1, but got 0"):
        plot_latent_maps(np.zeros((2, 2, 2)), ncols=0)


class _LinearDecoder:
    """decode(Z) = Z @ M, recording every call."""

    def __init__(self, n_latent, n_bands):
        self.matrix = np.random.default_rng(5).normal(size=(n_latent, n_bands))
        self.calls = []

    def __call__(self, codes):
        self.calls.append(np.array(codes))
        return codes @ self.matrix


def test_latent_traversal_calls_decode_and_draws_n_steps_lines(wavelengths):
    n_latent, n_steps = 3, 5
    latent = np.random.default_rng(6).normal(size=(200, n_latent)).astype(np.float32)
    decode = _LinearDecoder(n_latent, B)
    fig = plot_latent_traversal(decode, latent, n_steps=n_steps, wavelengths=wavelengths)

    assert len(decode.calls) == n_latent
    median = np.median(latent, axis=0)
    low, high = np.quantile(latent, [0.02, 0.98], axis=0)
    for d, codes in enumerate(decode.calls):
        assert codes.shape == (n_steps, n_latent)
        assert codes.dtype == np.float32
        np.testing.assert_allclose(codes[:, d], np.linspace(low[d], high[d], n_steps), rtol=1e-5)
        others = np.delete(codes, d, axis=1)
        np.testing.assert_allclose(others, np.tile(np.delete(median, d), (n_steps, 1)))

    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == ["z0", "z1", "z2"]
    for d, ax in enumerate(panels):
        lines = ax.get_lines()
        assert len(lines) == n_steps
        np.testing.assert_allclose(lines[0].get_ydata(), decode.calls[d][0] @ decode.matrix, rtol=1e-5)
        # Colours follow the z value: first and last step differ.
        assert lines[0].get_color() != lines[-1].get_color()
    assert any("Wavelength (nm)" == ax.get_xlabel() for ax in panels)
    titles = [ax.get_title() for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert titles == ["z0", "z1", "z2"]


def test_latent_traversal_dims_and_cap():
    latent = np.random.default_rng(7).normal(size=(50, 20))
    decode = _LinearDecoder(20, B)
    fig = plot_latent_traversal(decode, latent, dims=[4, 7], n_steps=3)
    assert [ax.get_title() for ax in _panels(fig)] == ["z4", "z7"]
    assert "Band" in _panels(fig)[-1].get_xlabel()
    with pytest.warns(UserWarning, match="showing the first 16"):
        fig = plot_latent_traversal(decode, latent, n_steps=2)
    assert len(_panels(fig)) == 16


def test_latent_traversal_accepts_image_shaped_latent():
    latent = np.random.default_rng(8).normal(size=(H, W, 2))
    decode = _LinearDecoder(2, B)
    plot_latent_traversal(decode, latent, n_steps=4)
    assert [c.shape for c in decode.calls] == [(4, 2), (4, 2)]


@pytest.mark.parametrize(
    "decode, match",
    [
        (lambda z: z[:1] @ np.ones((2, B)), "decode returned shape \\(1, 12\\) for codes of shape \\(7, 2\\)"),
        (lambda z: np.ones(len(z)), "one spectrum per code"),
        ("not callable", "decode must be a callable"),
    ],
)
def test_latent_traversal_rejects_bad_decode(decode, match):
    latent = np.random.default_rng(9).normal(size=(30, 2))
    with pytest.raises(ValueError, match=match):
        plot_latent_traversal(decode, latent)


@pytest.mark.parametrize(
    "latent, kwargs, match",
    [
        (np.zeros((30, 2)), {"dims": [2]}, "dims contains 2, but latent has 2 dimensions"),
        (np.zeros((30, 2)), {"dims": [0, 0]}, "repeated"),
        (np.zeros((30, 2)), {"dims": []}, "dims is empty"),
        (np.zeros((30, 2)), {"n_steps": 1}, "n_steps must be an int >= 2"),
        (np.zeros((30, 2)), {"quantiles": (0.9, 0.1)}, "0 <= low < high <= 1"),
        (np.zeros((30, 2)), {"quantiles": 0.5}, "quantiles must satisfy"),
        (np.zeros((30, 2)), {"wavelengths": np.ones(2)}, "one value per band"),
        (np.zeros(30), {}, "latent must have shape \\(n_samples, n_latent\\)"),
    ],
)
def test_latent_traversal_validation(latent, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_latent_traversal(_LinearDecoder(2, B), latent, **kwargs)


# --------------------------------------------------------------------------- global state


def test_plots_leave_rcparams_alone(cube, labels):
    before = dict(matplotlib.rcParams)
    plot_band_image(cube, cube)
    plot_segment_map(labels)
    plot_latent_maps(cube[:, :, :4])
    plot_loss_curves({"epoch": [1, 2], "train_loss": [2.0, 1.0]}, log=True)
    after = dict(matplotlib.rcParams)
    assert before == after


def test_latent_plots_draw_in_a_given_figure():
    latent = np.random.default_rng(10).normal(size=(H, W, 2))
    fig = plt.figure()
    assert plot_latent_maps(latent, fig=fig) is fig
    fig = plt.figure()
    assert plot_latent_traversal(_LinearDecoder(2, B), latent, fig=fig) is fig
    assert len(_panels(fig)) == 2


def test_lines_break_across_removed_bands():
    from hsiae.plotting import plot_cluster_spectra

    wavelengths = np.r_[np.linspace(400, 1300, 10), np.linspace(1700, 2600, 10)]
    ax = plot_cluster_spectra(np.ones((2, 20)), wavelengths=wavelengths)
    x = ax.lines[0].get_xdata()
    assert np.isnan(x).sum() == 1 and len(x) == 21
    ax2 = plot_cluster_spectra(np.ones((2, 20)), wavelengths=np.linspace(400, 2400, 20))
    assert not np.isnan(ax2.lines[0].get_xdata()).any()

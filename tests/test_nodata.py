"""Tests for hsiae.workflow.usable and fitting: no-data pixels are found, left out of training and labelled 0."""

import re
import warnings

import numpy as np
import pytest

from hsiae import make_segmentation_pipeline, pixel_spectra, segment_cube

H, W, B = 8, 9, 12


def _cube():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, B)
    centre = np.where(np.arange(W) < 4, 0.3, 0.7)[None, :, None] * np.ones((H, 1, 1))
    return (np.exp(-((t - centre) ** 2) / 0.05) + 0.01 * rng.normal(size=(H, W, B))).astype(np.float32)


def _damaged():
    cube = _cube()
    cube[0, 0, 3] = np.nan  # one NaN band is enough
    cube[1, 1] = -9999.0  # the fill value in every band
    cube[2, 2, 0] = -9999.0  # not a fill pixel: only one band has the value
    return cube


def test_pixel_spectra_finds_nan_fill_and_masked_pixels():
    cube = _damaged()
    mask = np.ones((H, W), bool)
    mask[7, 8] = False
    X, valid, filled = pixel_spectra(cube, nodata=-9999.0, mask=mask)
    assert X.shape == filled.shape == (H * W, B) and X.dtype == np.float32
    bad = {0 * W + 0, 1 * W + 1, 7 * W + 8}
    assert set(np.flatnonzero(~valid)) == bad
    np.testing.assert_allclose(filled[list(bad)], np.tile(X[valid].mean(axis=0), (3, 1)))
    np.testing.assert_array_equal(filled[valid], X[valid])
    assert np.all(np.isfinite(filled))


def test_pixel_spectra_without_no_data_returns_the_spectra_themselves():
    X, valid, filled = pixel_spectra(_cube(), nodata=np.nan)
    assert valid.all() and filled is X


def test_pixel_spectra_finds_no_data_in_every_block_of_a_large_cube():
    # more pixels than one block of the validity check, with bad pixels on and around its edges
    import hsiae._stats

    rng = np.random.default_rng(1)
    cube = rng.random((150, 250, 3)).astype(np.float32)
    flat = cube.reshape(-1, 3)
    block = hsiae._stats.ROW_BLOCK
    bad_nan = [0, block - 1, block, 2 * block + 5, len(flat) - 1]
    bad_fill = [1, block + 1, len(flat) - 2]
    flat[bad_nan, 1] = np.nan
    flat[bad_fill] = -9999.0
    flat[7, 0] = -9999.0  # one band at the fill value is data
    X, valid, filled = pixel_spectra(cube, nodata=-9999.0)
    assert sorted(np.flatnonzero(~valid)) == sorted(bad_nan + bad_fill)
    assert np.all(np.isfinite(filled))


def test_pixel_spectra_integer_cube_with_a_fill_value():
    cube = (1000 * _cube()).astype(np.uint16)
    cube[3, 3] = 0
    _, valid, _ = pixel_spectra(cube, nodata=0)
    assert np.flatnonzero(~valid).tolist() == [3 * W + 3]


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(cube=np.ones((H * W, B))), "shape \\(n_rows, n_cols, n_bands\\)"),
        (dict(cube=np.full((H, W, B), np.nan)), "every pixel of the cube is no-data"),
        (dict(mask=np.ones((W, H), bool)), "mask must be a boolean array of shape \\(8, 9\\)"),
        (dict(mask=np.ones((H, W))), "mask must be a boolean array"),
    ],
)
def test_pixel_spectra_refuses_what_it_cannot_use(bad, message):
    args = {"cube": _cube(), "mask": None, **bad}
    with pytest.raises(ValueError, match=message):
        pixel_spectra(args["cube"], mask=args["mask"])


def _pipe(seed=0):
    return make_segmentation_pipeline(
        2,
        image_shape=(H, W),
        random_state=seed,
        spectralresampler__n_bands=8,
        aedencoder__zdims=2,
        aedencoder__channels=(2, 4),
        aedencoder__max_epochs=2,
    )


def _segment(pipe, cube, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 2 epochs
        return segment_cube(pipe, cube, **kwargs)


def test_segment_cube_labels_no_data_0_and_trains_on_valid_pixels_only():
    cube = _damaged()
    cube[2, 2, 0] = cube[2, 3, 0]  # no lone outlier here: it would take a cluster of its own
    pipe = _pipe()
    labels = _segment(pipe, cube, nodata=-9999.0)
    assert labels.shape == (H, W)
    assert labels[0, 0] == 0 and labels[1, 1] == 0
    others = np.delete(labels.ravel(), [0, W + 1])
    assert others.min() >= 1 and others.max() <= 2
    # the resampler's scaling saw only the usable pixels: the fill value did not stretch it
    X, valid, _ = pixel_spectra(cube, nodata=-9999.0)
    reference = _pipe()[0].fit(X[valid])
    np.testing.assert_array_equal(pipe[0].offset_, reference.offset_)
    np.testing.assert_array_equal(pipe[0].scale_, reference.scale_)
    # and the two halves of the image are two segments
    halves = labels[2:, :4], labels[2:, 5:]
    assert len(np.unique(halves[0])) == 1 and len(np.unique(halves[1])) == 1
    assert halves[0][0, 0] != halves[1][0, 0]


def test_segment_cube_is_reproducible_and_uses_a_fitted_head():
    cube = _damaged()
    first = _segment(_pipe(), cube, nodata=-9999.0)
    pipe = _pipe()
    np.testing.assert_array_equal(_segment(pipe, cube, nodata=-9999.0), first)
    mask = np.ones((H, W), bool)
    mask[4, 4] = False
    relabelled = _segment(pipe, cube, nodata=-9999.0, mask=mask, fit=False)
    assert relabelled[4, 4] == 0


def test_segment_cube_needs_a_segmenting_pipeline():
    with pytest.raises(TypeError, match="Pipeline ending in a SpatialGMMSegmenter"):
        segment_cube(_pipe()[:-1], _cube())


def _noisy_quadrants(noise=0.4):
    """A 16 x 20 cube of four quadrants whose spectra only the spatial prior tells apart well."""
    h, w = 16, 20
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, B)
    truth = (np.arange(w)[None, :] >= w // 2) * 1 + (np.arange(h)[:, None] >= h // 2) * 2
    centres = np.array([0.2, 0.4, 0.6, 0.8])[truth]
    cube = np.exp(-((t - centres[..., None]) ** 2) / 0.05) + noise * rng.normal(size=(h, w, B))
    return cube.astype(np.float32), truth


def _quadrant_pipe(image_shape):
    return make_segmentation_pipeline(
        4,
        image_shape=image_shape,
        random_state=0,
        spectralresampler__n_bands=8,
        aedencoder__zdims=2,
        aedencoder__channels=(2, 4),
        aedencoder__max_epochs=3,
    )


def test_segment_cube_gives_a_segmenter_without_image_shape_the_cubes():
    from sklearn.metrics import adjusted_rand_score

    cube, truth = _noisy_quadrants()
    pipe = _quadrant_pipe(None)
    labels = _segment(pipe, cube)
    # the spatial prior ran on the cube's image: the same labels as with image_shape given
    np.testing.assert_array_equal(labels, _segment(_quadrant_pipe(cube.shape[:2]), cube))
    assert adjusted_rand_score(truth.ravel(), labels.ravel()) > 0.9
    # and the fitted pipeline keeps it, so that predicting the cube again applies the same prior
    assert pipe[-1].image_shape == (16, 20)
    np.testing.assert_array_equal(pipe.predict(cube.reshape(-1, B)) + 1, labels.ravel())


@pytest.mark.parametrize("image_shape", [(20, 16), (10, 32)])
def test_segment_cube_refuses_a_segmenter_shaped_for_another_image(image_shape):
    # the same pixel count, so the segmenter alone cannot tell: its prior would join pixels that
    # are not neighbours in the cube
    cube, _ = _noisy_quadrants()
    pipe = _quadrant_pipe(image_shape)
    message = (
        re.escape(f"image_shape={image_shape} does not match the cube's 16 x 20 image")
        + ".*"
        + re.escape("image_shape=None or (16, 20)")
    )
    with pytest.raises(ValueError, match=message):
        segment_cube(pipe, cube)
    assert not hasattr(pipe[1], "net_")  # refused before any training


def test_what_no_data_pixels_hold_does_not_change_the_other_labels():
    # A hole across the boundary of the two halves: its filled rows only hold the image's place,
    # so the usable pixels get the same segments whatever stands in for the hole.
    from hsiae.workflow.fitting import segment_pixels

    cube = _cube()
    mask = np.ones((H, W), bool)
    mask[3:6, 2:7] = False
    X, valid, filled = pixel_spectra(cube, mask=mask)
    garbage = filled.copy()
    garbage[~valid] = 50.0
    pipe = _pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe[:-1].fit(X[valid])
        _, _, first = segment_pixels(pipe[:-1], pipe[-1], X, valid, filled, fit_head=False)
        _, _, second = segment_pixels(pipe[:-1], pipe[-1], X, valid, garbage, fit_head=False)
    np.testing.assert_array_equal(first, second)
    assert np.all(first[~valid] == -1) and np.all(first[valid] >= 0)

"""Tests for hsiae.workflow.unmixing: fit on a sample, abundances for every pixel chunk by chunk, no-data honoured."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.pipeline import make_pipeline

from hsiae import AEUnmixer, SpectralResampler, unmix_blocks, unmix_cube
from hsiae.datasets import make_unmixing_scene


@pytest.fixture(scope="module")
def scene():
    return make_unmixing_scene(3, n_bands=30, shape=(40, 36), snr=35, random_state=0)


def test_chunks_give_the_same_abundances_as_one_transform(scene):
    unmixer = AEUnmixer(3, max_epochs=3, random_state=0)
    A = unmix_cube(unmixer, scene.cube, n_samples=600, chunks=(7, 10), random_state=0)
    assert A.shape == (40, 36, 3) and A.dtype == np.float32
    assert_allclose(A.reshape(-1, 3), unmixer.transform(scene.cube.reshape(-1, 30)), atol=1e-6)


def test_no_data_pixels_are_never_fitted_on_and_get_nan(scene):
    cube = scene.cube.copy()
    cube[:3] = -9999.0  # three rows of fill value, a whole chunk with chunks=(3, 36)
    cube[10, 5, 4] = np.nan
    mask = np.ones((40, 36), dtype=bool)
    mask[20, 20] = False
    unmixer = AEUnmixer(3, max_epochs=2, random_state=0)
    A = unmix_cube(unmixer, cube, n_samples=5000, nodata=-9999, mask=mask, chunks=(3, 36), random_state=0)
    bad = np.zeros((40, 36), dtype=bool)
    bad[:3] = True
    bad[10, 5] = bad[20, 20] = True
    assert_array_equal(np.isnan(A).all(axis=-1), bad)
    assert not np.isnan(A[~bad]).any()
    assert_allclose(A[~bad].sum(axis=-1), 1.0, atol=1e-5)
    # fitted on usable pixels only: the fill value would have made the start absurd
    assert unmixer.init_endmembers_.min() >= 0 and unmixer.init_endmembers_.max() < 10


def test_a_fitted_pipeline_can_be_reused_and_written_into_out(scene):
    pipe = make_pipeline(SpectralResampler(n_bands=20, scaling=None), AEUnmixer(3, max_epochs=2, random_state=0))
    first = unmix_cube(pipe, scene.cube, n_samples=500, random_state=0)
    out = np.zeros((40, 36, 3), dtype=np.float64)
    again = unmix_cube(pipe, scene.cube, fit=False, out=out)
    assert again is out
    assert_allclose(out, first, atol=1e-6)


def test_fcls_solver_gives_abundances_on_the_simplex(scene):
    unmixer = AEUnmixer(3, max_epochs=2, solver="fcls", random_state=0)
    A = unmix_cube(unmixer, scene.cube, n_samples=500, random_state=0)
    assert A.min() >= 0 and np.allclose(A.sum(axis=-1), 1.0, atol=1e-5)
    assert not np.allclose(
        A, unmixer.set_params(solver="encoder").transform(scene.cube.reshape(-1, 30)).reshape(40, 36, 3), atol=1e-3
    )


def test_unmix_blocks_is_lazy_and_equals_transform(scene):
    unmixer = AEUnmixer(3, max_epochs=2, random_state=0).fit(scene.cube.reshape(-1, 30))
    cube = scene.cube.copy()
    cube[5, 6] = np.nan
    lazy = unmix_blocks(unmixer, cube, chunks=(16, 16))
    assert lazy.shape == (40, 36, 3) and lazy.dtype == np.float32 and lazy.chunks[0] == (16, 16, 8)
    A = lazy.compute()
    assert np.isnan(A[5, 6]).all() and np.isnan(A).sum() == 3
    expected = unmixer.transform(scene.cube.reshape(-1, 30)).reshape(40, 36, 3)
    expected[5, 6] = np.nan
    assert_allclose(A, expected, atol=1e-6)


def test_unmix_blocks_refuses_another_band_count_and_an_unfitted_unmixer(scene):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        unmix_blocks(AEUnmixer(3), scene.cube)
    unmixer = AEUnmixer(3, max_epochs=1, random_state=0).fit(scene.cube.reshape(-1, 30))
    with pytest.raises(ValueError, match="fitted on spectra of 30 bands but the cube has 29"):
        unmix_blocks(unmixer, scene.cube[..., :29])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"cube": np.ones((4, 4))},
            ValueError,
            r"Expected a non-empty numeric cube of shape \(n_rows, n_cols, n_bands\)",
        ),
        ({"n_samples": 1}, ValueError, "n_samples must be an integer >= 2"),
        ({"mask": np.ones((3, 3), dtype=bool)}, ValueError, r"mask must be a boolean array of shape \(40, 36\)"),
        ({"out": np.zeros((40, 36, 2))}, ValueError, r"out must be an array of shape \(40, 36, 3\)"),
        ({"unmixer": SpectralResampler()}, TypeError, "Expected an AEUnmixer or a Pipeline ending in one"),
        ({"nodata": 0.0, "cube": np.zeros((40, 36, 30))}, ValueError, "sampled pixels are no data"),
    ],
)
def test_bad_input_is_refused_before_fitting(scene, kwargs, error, match):
    unmixer = kwargs.pop("unmixer", AEUnmixer(3, max_epochs=1))
    cube = kwargs.pop("cube", scene.cube)
    with pytest.raises(error, match=match):
        unmix_cube(unmixer, cube, **kwargs)
    if isinstance(unmixer, AEUnmixer):
        assert not hasattr(unmixer, "endmembers_")

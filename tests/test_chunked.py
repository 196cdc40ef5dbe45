"""Tests for out-of-core cubes: hsiae.open_cube, store_labels/store_cube and hsiae.workflow.blocks and fitting."""

import os
import pickle
import signal
import warnings

import numpy as np
import pytest
import tifffile

da = pytest.importorskip("dask.array")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

from hsiae import (  # noqa: E402
    SpatialGMMSegmenter,
    WholeImageSplit,
    denoise,
    denoise_blocks,
    fit_on_sample,
    make_segmentation_pipeline,
    make_synthetic_scene,
    open_cube,
    pixel_spectra,
    predict_blocks,
    predict_proba_blocks,
    read_cube,
    sample_pixels,
    shade_point,
    silhouette_scorer,
    store_cube,
    store_labels,
    transform_blocks,
    write_cube,
)

H, W, B = 36, 41, 24
TINY = {  # a small, fast pipeline: every test that trains uses it
    "spectralresampler__n_bands": 16,
    "aedencoder__zdims": 4,
    "aedencoder__max_epochs": 2,
}


@pytest.fixture(scope="module")
def scene():
    return make_synthetic_scene(B, shape=(H, W), random_state=0)


@pytest.fixture(scope="module")
def fitted(scene):
    """A pipeline fitted on the whole image, with the spatial prior."""
    pipe = make_segmentation_pipeline(4, image_shape=(H, W), random_state=0, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipe.fit(scene.cube.reshape(-1, B))


def boom(block):
    raise AssertionError("a chunk was computed before the input was checked")


def exploding(shape=(H, W, B), chunks=(16, 16, -1)):
    """A lazy cube whose every chunk fails: errors raised with it come before any work."""
    return da.zeros(shape, chunks=chunks, dtype=np.float32).map_blocks(boom, dtype=np.float32)


# -- blockwise application equals the whole-image run -----------------------------------------


@pytest.mark.parametrize("chunks", [(13, 17), 25, (36, 9), 3])
def test_predict_blocks_labels_equal_whole_image(fitted, scene, chunks, monkeypatch):
    import hsiae.workflow.blocks

    monkeypatch.setattr(hsiae.workflow.blocks, "_SLAB_PIXELS", 50)  # blocks are encoded a few rows at a time
    X = scene.cube.reshape(-1, B)
    expected = fitted.predict(X).reshape(H, W)
    labels = predict_blocks(fitted, scene.cube, chunks=chunks)
    assert labels.shape == (H, W) and labels.dtype == np.int8
    np.testing.assert_array_equal(labels.compute(), expected)


@pytest.mark.parametrize("spatial_iter, spatial_weight", [(5, 1.0), (2, 3.0), (3, 0.0)])
@pytest.mark.parametrize("chunks", [(7, 11), 4, (36, 2)])
def test_halo_reproduces_the_mean_field_exactly(scene, spatial_iter, spatial_weight, chunks):
    """With an identity head, chunked posteriors are bit-identical to the whole image's."""
    Z = scene.cube.reshape(-1, B)[:, ::6].astype(np.float32)
    seg = SpatialGMMSegmenter(
        3, image_shape=(H, W), spatial_iter=spatial_iter, spatial_weight=spatial_weight, random_state=0
    ).fit(Z)
    pipe = Pipeline([("identity", FunctionTransformer().fit(Z)), ("seg", seg)])
    cube = Z.reshape(H, W, -1)
    proba = predict_proba_blocks(pipe, cube, chunks=chunks, fill=Z.mean(0)).compute()
    np.testing.assert_array_equal(proba, seg.predict_proba(Z).reshape(H, W, -1))
    labels = predict_blocks(pipe, cube, chunks=chunks, fill=Z.mean(0)).compute()
    np.testing.assert_array_equal(labels, seg.predict(Z).reshape(H, W))


def test_nodata_pixels_are_labelled_minus_one_and_filled_like_pixel_spectra(fitted, scene, monkeypatch):
    import hsiae.workflow.blocks

    monkeypatch.setattr(hsiae.workflow.blocks, "_SLAB_PIXELS", 30)
    cube = scene.cube.copy()
    cube[3:6, 10:30] = -9999.0
    cube[20, 5, 7] = np.nan
    X, valid, filled = pixel_spectra(cube, nodata=-9999.0)
    # the whole image with the holes at weight 0: they do not vote for their neighbours
    seg = fitted[-1]
    Z = fitted[:-1].transform(filled).astype(np.float64)
    expected = seg._predict_proba(Z, (H, W), valid.astype(np.float64)).argmax(axis=1)
    expected[~valid] = -1
    labels = predict_blocks(fitted, cube, nodata=-9999.0, chunks=10).compute()
    np.testing.assert_array_equal(labels, expected.reshape(H, W))
    assert (labels == -1).sum() == 3 * 20 + 1


def test_a_mask_leaves_pixels_out_of_every_block_function_as_no_data_does(fitted, scene, monkeypatch):
    import hsiae.workflow.blocks
    from hsiae import unmix_blocks
    from hsiae.unmixer import AEUnmixer

    monkeypatch.setattr(hsiae.workflow.blocks, "_SLAB_PIXELS", 30)
    holes = np.zeros((H, W), bool)
    holes[3:6, 10:30] = True
    holes[20, 5] = True
    filled_in = scene.cube.copy()
    filled_in[holes] = -9999.0
    # the mask (True = usable) gives what the fill value gives, whatever the hidden pixels hold
    expected = predict_blocks(fitted, filled_in, nodata=-9999.0, chunks=10).compute()
    labels = predict_blocks(fitted, scene.cube, mask=~holes, chunks=10).compute()
    np.testing.assert_array_equal(labels, expected)
    assert (labels == -1).sum() == holes.sum()
    proba = predict_proba_blocks(fitted, scene.cube, mask=~holes, chunks=(7, 9)).compute()
    np.testing.assert_allclose(proba, predict_proba_blocks(fitted, filled_in, nodata=-9999.0, chunks=(7, 9)).compute())
    codes = transform_blocks(fitted, scene.cube, mask=~holes, chunks=8).compute()
    np.testing.assert_allclose(codes, transform_blocks(fitted, filled_in, nodata=-9999.0, chunks=8).compute())
    den = denoise_blocks(fitted, scene.cube, mask=~holes, chunks=9).compute()
    np.testing.assert_array_equal(den[holes], scene.cube[holes])  # kept as they are
    np.testing.assert_allclose(den[~holes], denoise(fitted, scene.cube[~holes]), atol=1e-5)
    X, index = sample_pixels(scene.cube, H * W, mask=~holes, random_state=0)
    np.testing.assert_array_equal(index, np.flatnonzero(~holes.ravel()))
    unmixer = AEUnmixer(3, max_epochs=1, random_state=0).fit(X)
    A = unmix_blocks(unmixer, scene.cube, mask=~holes, chunks=11).compute()
    assert np.isnan(A[holes]).all() and np.isfinite(A[~holes]).all()
    with pytest.raises(ValueError, match=r"mask must be a boolean array of shape \(36, 41\)"):
        predict_blocks(fitted, exploding(), mask=np.ones((W, H), bool))
    with pytest.raises(ValueError, match=r"mask must be a boolean array .* dtype int64"):
        sample_pixels(exploding(), 5, mask=np.ones((H, W), np.int64))


@pytest.mark.parametrize("slab_pixels", [50, 1 << 16])
def test_transform_and_denoise_blocks_equal_whole_image(fitted, scene, slab_pixels, monkeypatch):
    import hsiae.workflow.blocks

    monkeypatch.setattr(hsiae.workflow.blocks, "_SLAB_PIXELS", slab_pixels)
    X = scene.cube.reshape(-1, B)
    codes = transform_blocks(fitted, scene.cube, chunks=(11, 40)).compute()
    np.testing.assert_allclose(codes, fitted[:-1].transform(X).reshape(H, W, -1), rtol=0, atol=1e-5)
    cube = scene.cube.copy()
    cube[0, :5] = np.nan
    den = denoise_blocks(fitted, cube, chunks=9).compute()
    assert den.dtype == np.float32
    np.testing.assert_allclose(den[1:], denoise(fitted, X[W:]).reshape(H - 1, W, B), rtol=0, atol=1e-5)
    assert np.isnan(den[0, :5]).all()  # no-data pixels keep their values
    np.testing.assert_allclose(den[0, 5:], denoise(fitted, X[5:W]), rtol=0, atol=1e-5)


# -- fitting on a sample ---------------------------------------------------------------------


def test_sample_is_drawn_across_the_image_whatever_the_chunks(scene):
    X1, idx1 = sample_pixels(da.from_array(scene.cube, chunks=(5, 7, -1)), 300, random_state=1)
    X2, idx2 = sample_pixels(scene.cube, 300, random_state=1)
    np.testing.assert_array_equal(idx1, idx2)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(X1, scene.cube.reshape(-1, B)[idx1])
    rows = idx1 // W
    assert len(idx1) == 300 and rows.min() < 4 and rows.max() > H - 5
    assert sample_pixels(scene.cube, 300, random_state=2)[1].tolist() != idx1.tolist()


def test_sample_leaves_out_nodata(scene):
    cube = scene.cube.copy()
    cube[: H // 2] = 0.0
    X, idx = sample_pixels(cube, H * W, nodata=0.0, random_state=0)
    assert len(idx) == (H - H // 2) * W and idx.min() == (H // 2) * W


def test_fit_on_sample_then_predict_blocks_equals_whole_image_predict(scene):
    pipe = make_segmentation_pipeline(3, random_state=0, spatialgmmsegmenter__covariance_type="shaded", **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit_on_sample(pipe, open_like(scene.cube), n_samples=500, random_state=0)
    seg = pipe[-1]
    assert seg.image_shape == (H, W) and seg.labels_.shape == (500,)
    np.testing.assert_array_equal(seg.shade_point_, shade_point(pipe[:-1]))
    X = scene.cube.reshape(-1, B)
    labels = predict_blocks(pipe, scene.cube, chunks=12).compute()
    np.testing.assert_array_equal(labels, pipe.predict(X).reshape(H, W))
    assert len(np.unique(labels)) == 3


def open_like(cube, chunks=(10, 10, -1)):
    return da.from_array(cube, chunks=chunks)


# -- reading and writing ---------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["pages", "interleaved", "zlib", "npy", "zarr"])
def test_open_cube_reads_lazily_what_read_cube_reads(tmp_path, scene, layout):
    cube = scene.cube
    if layout == "pages":
        path = tmp_path / "c.tif"
        write_cube(path, cube, wavelengths=scene.wavelengths)
    elif layout == "interleaved":
        path = tmp_path / "c.tif"
        write_cube(path, cube, band_axis=2)
    elif layout == "zlib":
        path = tmp_path / "c.tif"
        tifffile.imwrite(
            path,
            np.moveaxis(cube, 2, 0),
            compression="zlib",
            rowsperstrip=8,
            photometric="minisblack",
            metadata={"axes": "ZYX"},
        )
    elif layout == "npy":
        path = tmp_path / "c.npy"
        np.save(path, cube.astype(">f8"))
    else:
        path = tmp_path / "c.zarr"
        store_cube(path, cube, wavelengths=scene.wavelengths)
    lazy, info = open_cube(path, chunks=(10, 15), band_axis=2 if layout == "npy" else None)
    assert lazy.shape == (H, W, B) and lazy.chunks[2] == (B,) and lazy.chunks[0][0] == 10
    blob = pickle.dumps(lazy)
    assert len(blob) < cube.nbytes / 4  # a file name and a layout, not the pixels
    np.testing.assert_array_equal(pickle.loads(blob).compute(), cube)
    np.testing.assert_array_equal(lazy[5:17, ::3, 2].compute(), cube[5:17, ::3, 2])
    if layout in ("pages", "zarr"):
        np.testing.assert_array_equal(info.wavelengths, scene.wavelengths)


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_store_labels_writes_labels_plus_one_and_zero_for_nodata(tmp_path, suffix):
    labels = np.arange(H * W).reshape(H, W) % 5 - 1  # -1 .. 3
    path = tmp_path / f"labels{suffix}"
    store_labels(path, da.from_array(labels.astype(np.int8), chunks=8))
    if suffix == ".tif":
        back = tifffile.imread(path)
    else:
        import zarr

        back = zarr.open_array(str(path), mode="r")[:]
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, labels + 1)
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.parametrize("band_axis", [0, 2])
def test_store_cube_round_trips_through_read_cube(tmp_path, scene, band_axis):
    path = tmp_path / "den.tif"
    store_cube(path, open_like(scene.cube), band_axis=band_axis, wavelengths=scene.wavelengths, nodata=-1.0)
    back, info = read_cube(path)
    np.testing.assert_array_equal(back, scene.cube)
    assert info.band_axis == band_axis and info.nodata == -1.0
    np.testing.assert_array_equal(info.wavelengths, scene.wavelengths)


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_a_failed_store_leaves_nothing_and_keeps_the_old_file(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    store_labels(path, np.zeros((H, W), np.int8))
    with pytest.raises(AssertionError, match="a chunk was computed"):
        store_labels(path, exploding()[..., 0].astype(np.int8), force=True)
    assert os.listdir(tmp_path) == [path.name]
    with pytest.raises(FileExistsError, match="force=True"):
        store_labels(path, exploding()[..., 0].astype(np.int8))
    with pytest.raises(AssertionError, match="a chunk was computed"):
        store_cube(tmp_path / f"cube{suffix}", exploding())
    assert os.listdir(tmp_path) == [path.name]


# -- bad input: clear errors before any chunk is computed ------------------------------------


BAD_INPUT = [
    (lambda p, c: predict_blocks(p, c, chunks=0), ValueError, "chunks must be a positive"),
    (lambda p, c: predict_blocks(p, c, chunks=(8, "x")), ValueError, "chunks must be"),
    (lambda p, c: predict_blocks(p, c, fill=np.zeros(3)), ValueError, r"fill must be .* \(24,\)"),
    (lambda p, c: predict_blocks(p, c, nodata="none"), ValueError, "nodata must be a number"),
    (lambda p, c: predict_blocks(p, c[:, :, :20]), ValueError, "fitted on spectra of 24 bands"),
    (lambda p, c: predict_blocks(p, c[:30]), ValueError, r"image_shape=\(36, 41\) does not match"),
    (lambda p, c: predict_blocks(p, c[..., 0]), ValueError, "shape \\(n_rows, n_cols, n_bands\\)"),
    (lambda p, c: predict_blocks(p[:-1], c), TypeError, "ending in a SpatialGMMSegmenter"),
    (lambda p, c: predict_blocks(make_segmentation_pipeline(3), c), Exception, "not fitted"),
    (lambda p, c: transform_blocks("model", c), TypeError, "Expected a fitted sklearn Pipeline"),
    (lambda p, c: denoise_blocks(p, c[:, :, :5]), ValueError, "fitted on spectra of 24 bands"),
    (lambda p, c: sample_pixels(c, 0), ValueError, "n_samples must be a positive integer"),
    (
        lambda p, c: fit_on_sample(make_segmentation_pipeline(3), c, n_samples=1.5),
        ValueError,
        "n_samples must be an integer",
    ),
    (
        lambda p, c: fit_on_sample(make_segmentation_pipeline(30), c, n_samples=20),
        ValueError,
        "n_clusters=30 must be <= the pixels sampled",
    ),
    (lambda p, c: fit_on_sample(p[:-1], c), TypeError, "Expected a Pipeline ending in a SpatialGMMSegmenter"),
    (lambda p, c: store_labels("labels.png", c[..., 0]), Exception, "suffix '.png'"),
    (lambda p, c: store_labels("labels.tif", c[..., 0]), ValueError, "integer labels"),
    (lambda p, c: store_cube("cube.tif", c, band_axis=1), ValueError, "band_axis must be 0"),
    (lambda p, c: store_cube("cube.tif", c, wavelengths=[1, 2]), ValueError, "one wavelength"),
    (lambda p, c: store_cube("missing/cube.tif", c), FileNotFoundError, "does not exist"),
    (lambda p, c: open_cube("cube.tif", chunks=-4), ValueError, "chunks must be a positive"),
]


@pytest.mark.parametrize("call, error, match", BAD_INPUT)
def test_bad_input_fails_before_any_chunk_is_computed(fitted, tmp_path, monkeypatch, call, error, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=match):
        call(fitted, exploding())


# -- distributed model selection -------------------------------------------------------------


@pytest.fixture
def time_limit():
    """Fail (rather than hang) a test that talks to worker processes."""

    def expire(signum, frame):
        raise TimeoutError("the distributed test took longer than 150 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(150)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_grid_search_on_a_dask_cluster_equals_the_local_run(time_limit):
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_backend

    scene = make_synthetic_scene(16, shape=(14, 15), random_state=0)
    X = scene.cube.reshape(-1, 16)
    pipe = make_segmentation_pipeline(
        3, image_shape=(14, 15), random_state=0, spectralresampler__n_bands=16, aedencoder__max_epochs=2
    )
    grid = {"aedencoder__zdims": [2, 4], "spatialgmmsegmenter__n_clusters": [2, 3]}

    def search():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GridSearchCV(pipe, grid, cv=WholeImageSplit(), scoring=silhouette_scorer, n_jobs=-1).fit(X)

    with parallel_backend("sequential"):
        local = search()
    # Worker processes, not threads: each fit seeds torch's global generator.
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
        parallel_backend("dask"),
        distributed.get_task_stream(client) as tasks,
    ):
        remote = search()
    assert len({task["worker"] for task in tasks.data}) == 2  # the fits ran on both workers
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))


def test_the_in_memory_and_chunked_paths_share_one_no_data_rule():
    # an int32 cube whose fill value float32 cannot tell from its neighbour: 2**24 + 1 and 2**24
    from hsiae import pixel_spectra, sample_pixels

    fill = 2**24 + 1
    cube = np.arange(3 * 4 * 5, dtype=np.int32).reshape(3, 4, 5)
    cube[0, 0] = fill
    cube[1, 2] = fill - 1
    _, valid, _ = pixel_spectra(cube, nodata=fill)
    X, index = sample_pixels(cube, 12, nodata=fill, random_state=0)
    assert valid.sum() == 11 and not valid[0] and valid[1 * 4 + 2]
    np.testing.assert_array_equal(np.sort(index), np.flatnonzero(valid))

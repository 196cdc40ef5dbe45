"""Tests for hsiae.datasets: the synthetic scene generator and the real-scene loaders."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LinearRegression

from hsiae.datasets import get_data_home, load_scene, make_synthetic_scene

# --------------------------------------------------------------------------- #
# make_synthetic_scene
# --------------------------------------------------------------------------- #


def _quadrant_image(size=8):
    """uint8 image with four flat quadrants: black, red, green and white."""
    image = np.zeros((size, size, 3), dtype=np.uint8)
    h = size // 2
    image[:h, h:] = (255, 0, 0)
    image[h:, :h] = (0, 255, 0)
    image[h:, h:] = (255, 255, 255)
    return image


def test_synthetic_default_shapes_dtypes_and_ranges():
    scene = make_synthetic_scene(random_state=0)

    assert scene.cube.shape == scene.clean.shape == (64, 64, 128)
    assert scene.cube.dtype == scene.clean.dtype == np.float32
    assert scene.factors.shape == (64, 64, 3)
    assert scene.factors.dtype == np.float64
    assert scene.labels.shape == (64, 64)
    assert np.issubdtype(scene.labels.dtype, np.integer)
    assert_array_equal(np.unique(scene.labels), np.arange(1, 7))
    assert_allclose(scene.wavelengths, np.linspace(400.0, 1000.0, 128))
    assert scene.function == "gaussian_peaks"
    assert scene.name == "synthetic"
    assert "64 x 64 pixels x 128 bands" in scene.description

    # Factors are colours in [0, 1] and the default photograph is not flat.
    assert scene.factors.min() >= 0.0 and scene.factors.max() <= 1.0
    assert np.all(scene.factors.reshape(-1, 3).std(axis=0) > 0.1)
    # The logistic output is reflectance-like, and the noise is small.
    assert 0.0 < scene.clean.min() and scene.clean.max() < 1.0
    assert -0.1 < scene.cube.min() and scene.cube.max() < 1.1


def test_synthetic_reproducible_with_random_state():
    a = make_synthetic_scene(32, shape=(16, 16), random_state=0)
    b = make_synthetic_scene(32, shape=(16, 16), random_state=0)
    c = make_synthetic_scene(32, shape=(16, 16), random_state=1)

    assert_array_equal(a.cube, b.cube)
    assert not np.array_equal(a.cube, c.cube)
    # Only the noise depends on the seed.
    assert_array_equal(a.clean, c.clean)
    assert_array_equal(a.factors, c.factors)
    assert_array_equal(a.labels, c.labels)


def test_synthetic_accepts_numpy_generator():
    a = make_synthetic_scene(16, shape=(8, 8), random_state=np.random.default_rng(3))
    b = make_synthetic_scene(16, shape=(8, 8), random_state=np.random.default_rng(3))
    assert_array_equal(a.cube, b.cube)
    assert not np.array_equal(a.cube, a.clean)


def test_synthetic_noise_zero_gives_clean_cube():
    scene = make_synthetic_scene(16, shape=(8, 8), noise=0.0, random_state=0)
    assert_array_equal(scene.cube, scene.clean)
    # cube and clean are separate arrays: editing one must not change the other.
    scene.cube[0, 0, 0] += 1.0
    assert scene.cube[0, 0, 0] != scene.clean[0, 0, 0]


@pytest.mark.parametrize("noise", [0.01, 0.1])
def test_synthetic_noise_std_matches_request(noise):
    scene = make_synthetic_scene(64, shape=(48, 48), noise=noise, random_state=0)
    clean = scene.clean.astype(np.float64)
    residual = scene.cube.astype(np.float64) - clean
    expected = noise * (clean.max() - clean.min())

    # 147,456 draws: the sample std is within 1 % of the true one.
    assert residual.std() == pytest.approx(expected, rel=0.02)
    assert abs(residual.mean()) < 0.01 * expected


def test_synthetic_spectra_are_nonlinear_in_the_factors():
    scene = make_synthetic_scene(noise=0.0)
    factors = scene.factors.reshape(-1, 3)
    clean = scene.clean.reshape(-1, scene.clean.shape[-1]).astype(np.float64)

    r2 = LinearRegression().fit(factors, clean).score(factors, clean)
    # A clearly non-zero part of the variance is beyond any linear map.
    assert r2 < 0.97

    # The same check passes a linear generator, so it does detect nonlinearity.
    endmembers = np.random.default_rng(0).random((3, clean.shape[1]))
    linear = make_synthetic_scene(function=lambda f, w: f @ endmembers, noise=0.0)
    clean_linear = linear.clean.reshape(-1, clean.shape[1])
    assert LinearRegression().fit(factors, clean_linear).score(factors, clean_linear) > 0.9999


def test_synthetic_custom_callable_function():
    calls = []

    def ramp(factors, wavelengths):
        calls.append((factors.shape, wavelengths.copy()))
        return factors[:, :1] * (wavelengths / wavelengths.max())[None, :]

    scene = make_synthetic_scene(10, shape=(6, 5), function=ramp, wavelengths=(500.0, 900.0), noise=0.0)

    assert scene.function == "ramp"
    assert calls[0][0] == (30, 3)
    assert_allclose(calls[0][1], np.linspace(500.0, 900.0, 10))
    expected = scene.factors[:, :, :1] * (np.linspace(500.0, 900.0, 10) / 900.0)
    assert_allclose(scene.clean, expected, rtol=1e-6)
    assert "'ramp'" in scene.description


def test_synthetic_custom_image_array_block_average_and_segments():
    image = _quadrant_image(8)
    scene = make_synthetic_scene(16, image=image, shape=(4, 4), n_segments=4, noise=0.0)

    # 2 x 2 block averages of flat quadrants are the quadrant colours.
    assert_allclose(scene.factors[0, 0], (0.0, 0.0, 0.0))
    assert_allclose(scene.factors[0, 3], (1.0, 0.0, 0.0))
    assert_allclose(scene.factors[3, 0], (0.0, 1.0, 0.0))
    assert_allclose(scene.factors[3, 3], (1.0, 1.0, 1.0))
    # One segment per quadrant, numbered by brightness: black 1 ... white 4.
    assert scene.labels[0, 0] == 1 and scene.labels[3, 3] == 4
    assert_array_equal(np.bincount(scene.labels.ravel()), [0, 4, 4, 4, 4])
    assert {scene.labels[0, 3], scene.labels[3, 0]} == {2, 3}


def test_synthetic_image_area_averaging_and_upsampling():
    image = np.zeros((4, 4, 3))
    image[:, :, 0] = np.arange(16).reshape(4, 4) / 15.0
    down = make_synthetic_scene(4, image=image, shape=(2, 2), n_segments=2, noise=0.0)
    blocks = image[:, :, 0].reshape(2, 2, 2, 2).mean(axis=(1, 3))
    assert_allclose(down.factors[:, :, 0], blocks)

    up = make_synthetic_scene(4, image=image, shape=(8, 8), n_segments=2, noise=0.0)
    assert_allclose(up.factors[:, :, 0], np.kron(image[:, :, 0], np.ones((2, 2))))

    same = make_synthetic_scene(4, image=image, shape=None, n_segments=2, noise=0.0)
    assert_allclose(same.factors, image)


def test_synthetic_image_dtypes_and_path_agree(tmp_path):
    import matplotlib.image as mimage

    image = _quadrant_image(8)
    image[:4, :4] = (10, 120, 200)
    from_uint8 = make_synthetic_scene(8, image=image, shape=(4, 4), n_segments=4, noise=0.0)
    from_float = make_synthetic_scene(8, image=image / 255.0, shape=(4, 4), n_segments=4, noise=0.0)
    rgba = np.concatenate([image, np.full((8, 8, 1), 255, np.uint8)], axis=-1)
    from_rgba = make_synthetic_scene(8, image=rgba, shape=(4, 4), n_segments=4, noise=0.0)
    path = tmp_path / "quadrants.png"
    mimage.imsave(path, image)
    from_path = make_synthetic_scene(8, image=str(path), shape=(4, 4), n_segments=4, noise=0.0)

    for other in (from_float, from_rgba, from_path):
        assert_allclose(other.factors, from_uint8.factors, atol=1e-6)
        assert_array_equal(other.labels, from_uint8.labels)
    assert_allclose(from_uint8.factors[0, 0], np.array([10, 120, 200]) / 255.0)


def test_synthetic_explicit_wavelengths():
    centres = np.geomspace(450.0, 950.0, 12)
    scene = make_synthetic_scene(12, shape=(4, 4), wavelengths=centres, noise=0.0)
    assert_allclose(scene.wavelengths, centres)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_bands": 1}, r"n_bands must be an integer >= 2, got 1"),
        ({"n_bands": 8.0}, r"n_bands must be an integer >= 2, got 8\.0"),
        ({"n_segments": 1}, r"n_segments must be an integer >= 2, got 1"),
        ({"noise": -0.1}, r"noise must be a finite number >= 0.*got -0\.1"),
        ({"noise": float("nan")}, r"noise must be a finite number >= 0.*got nan"),
        ({"shape": (1, 64)}, r"shape must be a pair of integers.*each >= 2, got \(1, 64\)"),
        ({"shape": (64,)}, r"shape must be a pair of integers.*got \(64,\)"),
        ({"shape": (8.5, 8)}, r"shape must be a pair of integers"),
        ({"function": "linear"}, r"Unknown function 'linear'; use one of \['gaussian_peaks', 'tutorial'\]"),
        ({"function": 3}, r"function must be 'gaussian_peaks', 'tutorial' or a callable"),
        (
            {"function": lambda f, w: f},
            r"must return finite spectra of shape.*\(64, 8\), got shape \(64, 3\)",
        ),
        ({"function": lambda f, w: np.full((f.shape[0], w.size), np.nan)}, r"non-finite values"),
        ({"wavelengths": (1000.0, 400.0)}, r"wavelengths must be a \(first, last\) pair"),
        ({"wavelengths": np.arange(5.0)}, r"or 8 increasing band centres"),
        (
            {"image": np.zeros((8, 8))},
            r"image must be an RGB array of shape \(H, W, 3\).*got shape \(8, 8\)",
        ),
        ({"image": np.zeros((8, 8, 2))}, r"got shape \(8, 8, 2\)"),
        (
            {"image": np.full((8, 8, 3), 2.0)},
            r"float image must have finite values in \[0, 1\], got range \[2, 2\]",
        ),
        ({"image": np.zeros((8, 8, 3), dtype=np.int16)}, r"unsigned integers.*got dtype int16"),
        (
            {"image": np.zeros((8, 8, 3), dtype=np.uint8)},
            r"n_segments=6 needs at least 6 distinct colours.*has 1",
        ),
    ],
)
def test_synthetic_invalid_arguments(kwargs, match):
    grey_rows = np.repeat(np.arange(0, 240, 30, dtype=np.uint8)[:, None, None], 8, axis=1)
    params = {"n_bands": 8, "shape": (8, 8), "image": np.repeat(grey_rows, 3, axis=2)}
    params.update(kwargs)
    n_bands = params.pop("n_bands")
    with pytest.raises(ValueError, match=match):
        make_synthetic_scene(n_bands, **params)


def test_synthetic_missing_image_path(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        make_synthetic_scene(8, image=missing)


# --------------------------------------------------------------------------- #
# get_data_home and the errors of load_scene (no data needed)
# --------------------------------------------------------------------------- #


def test_get_data_home_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HSIAE_DATA", str(tmp_path / "from_env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home() == tmp_path / "from_env"

    # Without the variable, ../shared/data relative to the working directory, whether or not
    # it exists (never a folder found relative to where the package is installed)
    monkeypatch.delenv("HSIAE_DATA")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    assert get_data_home() == (tmp_path / "shared" / "data").resolve()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    assert get_data_home() == (tmp_path / "deep" / "shared" / "data").resolve()


def test_get_data_home_ignores_empty_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("HSIAE_DATA", "")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    assert get_data_home() == (tmp_path / "shared" / "data").resolve()


@pytest.mark.parametrize("name", ["salinas_a", "samson", "jasper_ridge"])
def test_load_scene_missing_folder_names_env_variable(name, tmp_path, monkeypatch):
    missing = tmp_path / "no_data_here"
    monkeypatch.setenv("HSIAE_DATA", str(missing))
    with pytest.raises(FileNotFoundError) as info:
        load_scene(name)
    message = str(info.value)
    assert str(missing) in message
    assert "HSIAE_DATA environment variable" in message
    assert "does not exist" in message and "data_home=" in message


def test_load_scene_missing_file_names_it(tmp_path):
    (tmp_path / "samson").mkdir()
    expected = re.escape(str(tmp_path / "samson" / "samson_1.mat"))
    with pytest.raises(FileNotFoundError, match=expected):
        load_scene("samson", data_home=tmp_path)
    expected = r"\(passed as data_home\) has no sub-folder jasper_ridge/"
    with pytest.raises(FileNotFoundError, match=expected):
        load_scene("jasper", data_home=tmp_path)


@pytest.mark.parametrize("name", ["indian_pines", "", 3])
def test_load_scene_unknown_name_lists_known_names(name):
    expected = r"known scenes are \['salinas_a', 'samson', 'jasper_ridge'\]"
    with pytest.raises(ValueError, match=expected):
        load_scene(name)


# --------------------------------------------------------------------------- #
# Real scenes (skipped when the data folder is absent)
# --------------------------------------------------------------------------- #


def _require(data_home, *relative):
    for rel in relative:
        if not (data_home / rel).is_file():
            pytest.skip(f"{data_home / rel} not found; set HSIAE_DATA to a complete data folder")


@pytest.fixture(scope="module")
def salinas_a(data_home):
    _require(data_home, "salinas_a/SalinasA_corrected.mat", "salinas_a/SalinasA_gt.mat")
    return load_scene("salinas_a", data_home=data_home)


@pytest.fixture(scope="module")
def samson(data_home):
    _require(data_home, "samson/samson_1.mat", "samson/Samson.mat")
    return load_scene("samson", data_home=data_home)


@pytest.fixture(scope="module")
def jasper(data_home):
    _require(data_home, "jasper_ridge/jasperRidge2_R198.mat", "jasper_ridge/JasperRidge2_end4.mat")
    return load_scene("jasper_ridge", data_home=data_home)


def _high_abundance_correlations(scene, threshold=0.9):
    """Correlation of each endmember with the mean spectrum of its purest pixels."""
    out = []
    for j in range(scene.abundances.shape[2]):
        pure = scene.abundances[:, :, j] > threshold
        assert pure.sum() > 50
        out.append(np.corrcoef(scene.cube[pure].mean(axis=0), scene.endmembers[:, j])[0, 1])
    return np.array(out)


def test_salinas_a(salinas_a):
    s = salinas_a
    assert s.name == "salinas_a"
    assert s.cube.shape == (83, 86, 204) and s.cube.dtype == np.float32
    # int16 / 10000: reflectance with a few tiny negative values.
    assert -0.001 <= s.cube.min() < 0.0 and 0.8 < s.cube.max() < 0.85
    assert s.labels.shape == (83, 86) and np.issubdtype(s.labels.dtype, np.integer)
    assert_array_equal(np.bincount(s.labels.ravel()), [1790, 391, 1343, 616, 1525, 674, 799])
    assert_array_equal(s.label_ids, [1, 10, 11, 12, 13, 14])
    assert s.target_names[0] == "Brocoli_green_weeds_1" and len(s.target_names) == 6
    assert s.abundances is None and s.endmembers is None
    bad = np.r_[108:113, 154:168, 224] - 1
    assert_allclose(s.wavelengths, np.delete(np.linspace(400.0, 2500.0, 224), bad))
    assert "nominal" in s.description and "GIC" in s.description


def test_salinas_a_uncorrected_and_aliases(salinas_a, data_home):
    _require(data_home, "salinas_a/SalinasA.mat")
    full = load_scene("SalinasA", data_home=data_home, corrected=False)
    assert full.cube.shape == (83, 86, 224)
    assert_allclose(full.wavelengths, np.linspace(400.0, 2500.0, 224))
    # The corrected cube is the full one without the documented bands.
    kept = np.isin(full.wavelengths, salinas_a.wavelengths)
    assert kept.sum() == 204
    assert_array_equal(full.cube[:, :, kept], salinas_a.cube)
    assert_array_equal(full.labels, salinas_a.labels)
    assert_array_equal(load_scene("salinas-a", data_home=data_home).cube, salinas_a.cube)


def test_samson(samson):
    s = samson
    assert s.name == "samson"
    assert s.cube.shape == (95, 95, 156) and s.cube.dtype == np.float32
    assert s.cube.min() == 0.0 and s.cube.max() == 1.0
    assert_allclose(s.wavelengths, np.linspace(401.0, 889.0, 156))
    assert_array_equal(np.bincount(s.labels.ravel()), [0, 3015, 3666, 2344])
    assert_array_equal(s.label_ids, [1, 2, 3])
    assert s.target_names == ["rock", "tree", "water"]
    assert s.abundances.shape == (95, 95, 3) and s.endmembers.shape == (156, 3)
    assert_allclose(s.abundances.sum(axis=-1), 1.0, atol=1e-10)
    # Max-normalised (water peaks at 0.999): only the shape is meaningful.
    assert_allclose(s.endmembers.max(axis=0), 1.0, atol=2e-3)
    assert "spectral angle" in s.description


def test_samson_pixel_order(samson, data_home):
    from scipy.io import loadmat

    # The column-major reshape of samson_1.mat's V equals the cube stored as an image.
    reference = loadmat(data_home / "samson" / "Samson.mat")["SamSon"]
    assert_array_equal(samson.cube, reference.astype(np.float32))
    V = loadmat(data_home / "samson" / "samson_1.mat")["V"]
    assert_array_equal(samson.cube[7, 60], V[:, 60 * 95 + 7].astype(np.float32))
    # And the abundances are aligned with it.
    assert np.all(_high_abundance_correlations(samson) > 0.95)


def test_jasper_ridge(jasper, data_home):
    s = jasper
    assert s.name == "jasper_ridge"
    assert s.cube.shape == (100, 100, 198) and s.cube.dtype == np.float32
    # Y / 5000: reflectance-like, slightly above 1 at most.
    assert s.cube.min() >= 0.0 and 1.0 < s.cube.max() < 1.1
    assert_array_equal(np.bincount(s.labels.ravel()), [0, 3493, 3326, 2428, 753])
    assert s.target_names == ["tree", "water", "dirt", "road"]
    assert s.abundances.shape == (100, 100, 4) and s.endmembers.shape == (198, 4)
    assert_allclose(s.abundances.sum(axis=-1), 1.0, atol=1e-6)
    assert s.wavelengths.shape == (198,)
    assert s.wavelengths[0] == pytest.approx(380.0 + 3 * 2120.0 / 223)  # band 4
    assert np.all(np.diff(s.wavelengths) > 0) and s.wavelengths[-1] < 2500.0
    # The cube is on the endmembers' scale: M @ A reconstructs it roughly.
    recon = s.abundances @ s.endmembers.T
    assert np.linalg.norm(recon - s.cube) / np.linalg.norm(s.cube) < 0.25
    assert_array_equal(load_scene("Jasper-Ridge", data_home=data_home).labels, s.labels)


def test_jasper_ridge_pixel_order(jasper, data_home):
    from scipy.io import loadmat

    Y = loadmat(data_home / "jasper_ridge" / "jasperRidge2_R198.mat")["Y"]
    assert_allclose(jasper.cube[3, 70], Y[:, 70 * 100 + 3] / 5000.0, rtol=1e-6)
    # With the other pixel order the water endmember gives r < 0, so this fails.
    assert np.all(_high_abundance_correlations(jasper) > 0.95)


def test_jasper_ridge_uncorrected_is_not_available(data_home):
    with pytest.raises(ValueError, match=r"only distributed with its 198 corrected bands"):
        load_scene("jasper", data_home=data_home, corrected=False)


# --------------------------------------------------------------------------- #
# make_unmixing_scene
# --------------------------------------------------------------------------- #


def test_unmixing_scene_is_a_linear_mixture_of_its_endmembers():
    from hsiae.datasets import make_unmixing_scene

    s = make_unmixing_scene(3, n_bands=40, shape=(20, 24), snr=None, random_state=0)
    assert s.cube.shape == (20, 24, 40) and s.abundances.shape == (20, 24, 3) and s.endmembers.shape == (40, 3)
    assert np.all(s.abundances >= 0)
    assert_allclose(s.abundances.sum(axis=-1), 1.0, atol=1e-12)
    assert_allclose(s.cube, s.abundances @ s.endmembers.T, atol=1e-6)
    assert_array_equal(s.labels, np.argmax(s.abundances, axis=-1) + 1)
    # pure regions (at the default size): every endmember has pixels that are (almost) only it
    default = make_unmixing_scene(3, n_bands=10, random_state=0)
    assert np.all(default.abundances.reshape(-1, 3).max(axis=0) > 0.99)


def test_unmixing_scene_noise_has_the_requested_snr():
    from hsiae.datasets import make_unmixing_scene

    s = make_unmixing_scene(4, n_bands=64, shape=(32, 32), snr=20, random_state=1)
    noise = s.cube.astype(np.float64) - s.clean
    snr = 10 * np.log10(np.mean(s.clean.astype(np.float64) ** 2) / np.mean(noise**2))
    assert snr == pytest.approx(20, abs=0.2)


def test_unmixing_scene_bilinear_term_adds_products_of_endmember_pairs():
    from hsiae.datasets import make_unmixing_scene

    linear = make_unmixing_scene(2, n_bands=10, shape=(8, 8), snr=None, random_state=2)
    bilinear = make_unmixing_scene(2, n_bands=10, shape=(8, 8), snr=None, bilinear=0.5, random_state=2)
    A, M = linear.abundances, linear.endmembers
    expected = A @ M.T + 0.5 * (A[..., 0] * A[..., 1])[..., None] * (M[:, 0] * M[:, 1])
    assert_allclose(bilinear.clean, expected, atol=1e-6)


def test_unmixing_scene_is_reproducible_and_regions_mix_at_their_borders():
    from hsiae.datasets import make_unmixing_scene

    a = make_unmixing_scene(3, n_bands=8, shape=(30, 30), random_state=7)
    b = make_unmixing_scene(3, n_bands=8, shape=(30, 30), random_state=7)
    assert_array_equal(a.cube, b.cube)
    sharp = make_unmixing_scene(3, n_bands=8, shape=(30, 30), smoothness=0, random_state=7)
    assert np.mean(sharp.abundances.max(axis=-1) < 0.9) < np.mean(a.abundances.max(axis=-1) < 0.9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_endmembers": 1}, "n_endmembers must be an integer >= 2"),
        ({"shape": (1, 5)}, r"shape must be a pair of integers"),
        ({"concentration": 0}, "concentration must be a finite number > 0"),
        ({"snr": float("nan")}, "snr must be a finite number"),
        ({"wavelengths": (900, 400)}, "first < last"),
        ({"pure_regions": "yes"}, "pure_regions must be True or False"),
    ],
)
def test_unmixing_scene_refuses_bad_parameters(kwargs, match):
    from hsiae.datasets import make_unmixing_scene

    with pytest.raises(ValueError, match=match):
        make_unmixing_scene(**kwargs)


# --------------------------------------------------------------------------- #
# The tutorial's generator
# --------------------------------------------------------------------------- #


def test_tutorial_function_is_the_tutorials_formula():
    import torch

    from hsiae.datasets import tutorial_function

    factors = np.random.default_rng(0).random((6, 3))
    t = torch.linspace(-1, 1, 25, dtype=torch.float64)
    expected = np.stack(
        [
            (
                torch.tanh(20 * (t - 2 * (x - 0.5)))
                + torch.nn.SELU()(t - 2 * (y - 0.5))
                + torch.sigmoid(-20 * (t - (z - 0.5)))
            ).numpy()
            for x, y, z in factors
        ]
    )
    assert_allclose(tutorial_function(factors, np.zeros(25)), expected, atol=1e-12)
    # hand-checked: all factors 0.5 at t = 0 gives tanh(0) + selu(0) + sigmoid(0)
    assert tutorial_function(np.full((1, 3), 0.5), np.zeros(3))[0, 1] == pytest.approx(0.5)


def test_scene_function_names_say_which_generator_made_the_cube():
    tutorial = make_synthetic_scene(25, shape=(8, 8), noise=0, function="tutorial", n_segments=2)
    peaks = make_synthetic_scene(25, shape=(8, 8), noise=0, n_segments=2)
    assert tutorial.function == "tutorial" and peaks.function == "gaussian_peaks"
    assert tutorial.clean.min() < 0 < peaks.clean.min()  # only the renamed generator is reflectance-like
    with pytest.raises(ValueError, match=r"Unknown function 'nala'; use one of \['gaussian_peaks', 'tutorial'\]"):
        make_synthetic_scene(8, function="nala")


def test_plot_generated_spectra_varies_one_factor_per_panel():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hsiae.plotting import plot_generated_spectra

    fig = plot_generated_spectra("tutorial", n_bands=30, n_values=4, image=np.zeros((5, 5, 3)))
    spectra_axes = fig.axes[3:]
    assert len(fig.axes) == 6 and all(len(ax.lines) == 4 for ax in spectra_axes)
    red_low, red_high = spectra_axes[0].lines[0].get_ydata(), spectra_axes[0].lines[-1].get_ydata()
    assert not np.allclose(red_low, red_high)
    # the green panel's first line has every factor at 0, like the red panel's
    assert_allclose(spectra_axes[1].lines[0].get_ydata(), red_low)
    plt.close(fig)
    with pytest.raises(ValueError, match="n_values must be an integer >= 2"):
        plot_generated_spectra(n_values=1)

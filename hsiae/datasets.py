"""Hyperspectral scenes: real benchmark scenes and a synthetic scene with a known generator.

Three small public scenes with ground truth are read from a local data folder
(:func:`get_data_home`, :func:`load_scene`); nothing is ever downloaded. A
synthetic scene with a known, nonlinear generating function and discrete
ground-truth segments is made from an RGB image by :func:`make_synthetic_scene`;
a linear mixture with known endmembers and abundances by
:func:`make_unmixing_scene` (from :mod:`hsiae.synthetic_mixing`).
"""

import logging
import numbers
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

from hsiae.synthetic_mixing import make_unmixing_scene

__all__ = [
    "get_data_home",
    "load_scene",
    "make_synthetic_scene",
    "make_unmixing_scene",
    "tutorial_function",
    "generating_function",
]

logger = logging.getLogger(__name__)

_ENV_VAR = "HSIAE_DATA"
_DEFAULT_DATA_HOME = Path("..") / "shared" / "data"

# Canonical scene names and the spellings accepted for each (compared after
# lower-casing).
_ALIASES = {
    "salinas_a": "salinas_a",
    "salinas-a": "salinas_a",
    "salinasa": "salinas_a",
    "samson": "samson",
    "jasper_ridge": "jasper_ridge",
    "jasper-ridge": "jasper_ridge",
    "jasper": "jasper_ridge",
}
_SCENES = ("salinas_a", "samson", "jasper_ridge")

# Full-Salinas class ids present in Salinas-A and their GIC names.
_SALINAS_A_CLASSES = {
    1: "Brocoli_green_weeds_1",
    10: "Corn_senesced_green_weeds",
    11: "Lettuce_romaine_4wk",
    12: "Lettuce_romaine_5wk",
    13: "Lettuce_romaine_6wk",
    14: "Lettuce_romaine_7wk",
}
# 1-based AVIRIS bands removed in the corrected Salinas cube (GIC).
_SALINAS_BAD_BANDS = np.r_[108:113, 154:168, 224]


# --------------------------------------------------------------------------- #
# Data folder
# --------------------------------------------------------------------------- #
def _resolve_data_home(data_home=None):
    """Return ``(path, how)``: the data folder and a phrase saying where it came from."""
    if data_home is not None:
        return Path(data_home).expanduser(), "passed as data_home"
    env = os.environ.get(_ENV_VAR, "")
    if env:
        return Path(env).expanduser(), f"from the {_ENV_VAR} environment variable"
    return (Path.cwd() / _DEFAULT_DATA_HOME).resolve(), (
        "the default ../shared/data, relative to the working directory"
    )


def get_data_home(data_home=None):
    """Return the folder that holds the real hyperspectral scenes.

    The folder is chosen in this order:

    1. ``data_home``, if given;
    2. the environment variable ``HSIAE_DATA``, if set and not empty;
    3. the default ``../shared/data``, relative to the current working
       directory (the layout of the project's development checkout, whose
       ``shared/data`` folder sits beside the project folder). Anywhere
       else, set ``HSIAE_DATA`` or pass ``data_home``.

    The folder is not created and, for cases 1 and 2, not checked;
    :func:`load_scene` reports a missing folder or file.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to use. ``None`` means: use ``HSIAE_DATA`` or the default.

    Returns
    -------
    data_home : pathlib.Path
        The data folder. It should contain the sub-folders ``salinas_a/``,
        ``samson/`` and ``jasper_ridge/``.

    See Also
    --------
    load_scene : Load one of the scenes in this folder.

    Examples
    --------
    >>> from hsiae.datasets import get_data_home
    >>> get_data_home("/data/hsi")
    PosixPath('/data/hsi')
    """
    return _resolve_data_home(data_home)[0]


def _scene_file(data_home, scene, filename):
    """Path of ``data_home/scene/filename``; FileNotFoundError that says what to do if absent."""
    root, how = _resolve_data_home(data_home)
    path = root / scene / filename
    if path.is_file():
        return path
    if not root.is_dir():
        problem = f"the data folder {root} ({how}) does not exist"
    elif not (root / scene).is_dir():
        problem = f"the data folder {root} ({how}) has no sub-folder {scene}/"
    else:
        problem = f"{path} does not exist (data folder {root}, {how})"
    raise FileNotFoundError(
        f"Cannot load the {scene!r} scene: {problem}. Expected the file "
        f"{scene}/{filename} inside the data folder. Set the {_ENV_VAR} environment "
        f"variable or pass data_home= to the folder that holds the sub-folders "
        f"{', '.join(s + '/' for s in _SCENES)} with the original .mat files "
        f"(see shared/data/README.md); nothing is downloaded."
    )


def _loadmat(path, keys):
    """Read ``keys`` from a MATLAB file; ValueError naming what the file holds if one is absent."""
    from scipy.io import loadmat

    logger.debug("reading %s", path)
    content = loadmat(path)
    missing = [k for k in keys if k not in content]
    if missing:
        found = sorted(k for k in content if not k.startswith("__"))
        raise ValueError(
            f"{path} has no variable(s) {missing}; it holds {found}. It is not the "
            f"expected original file: replace it with the one described in the "
            f"scene's SOURCE.md."
        )
    return content


def _cell_names(cood):
    """Class names from a MATLAB cell such as ``{'1-rock'; '2-Tree'}`` -> ``['rock', 'tree']``."""
    names = []
    for item in np.asarray(cood, dtype=object).ravel():
        text = str(np.asarray(item).ravel()[0]).strip()
        prefix, sep, rest = text.partition("-")
        names.append((rest if sep and prefix.isdigit() else text).strip().lower())
    return names


def _matlab_pixels_to_cube(Y, n_rows, n_cols):
    """``(n_bands, n_pixels)`` in MATLAB column-major order -> ``(n_rows, n_cols, n_bands)``."""
    Y = np.asarray(Y)
    if Y.shape[1] != n_rows * n_cols:
        raise ValueError(
            f"expected {n_rows} x {n_cols} = {n_rows * n_cols} pixel columns, got array of "
            f"shape {Y.shape}; the file does not match its header (nRow, nCol)."
        )
    # Pixel (r, c) is column c * n_rows + r: column-major order.
    return Y.T.reshape(n_rows, n_cols, Y.shape[0], order="F")


def _int_scalar(value):
    return int(np.asarray(value).ravel()[0])


# --------------------------------------------------------------------------- #
# Real scenes
# --------------------------------------------------------------------------- #
def _load_salinas_a(data_home, corrected):
    if corrected:
        filename, key = "SalinasA_corrected.mat", "salinasA_corrected"
    else:
        filename, key = "SalinasA.mat", "salinasA"
    raw = _loadmat(_scene_file(data_home, "salinas_a", filename), [key])[key]
    gt_path = _scene_file(data_home, "salinas_a", "SalinasA_gt.mat")
    gt = _loadmat(gt_path, ["salinasA_gt"])["salinasA_gt"].astype(np.int64)

    wavelengths = np.linspace(400.0, 2500.0, 224)
    if corrected:
        wavelengths = np.delete(wavelengths, _SALINAS_BAD_BANDS - 1)
    if raw.shape[2] != wavelengths.size or raw.shape[:2] != gt.shape:
        raise ValueError(
            f"Salinas-A cube of shape {raw.shape} and labels of shape {gt.shape} do not "
            f"match the expected (83, 86, {wavelengths.size}) and (83, 86); replace the "
            f"files with the originals described in salinas_a/SOURCE.md."
        )
    label_ids = np.unique(gt[gt != 0])
    unknown = sorted(set(label_ids.tolist()) - set(_SALINAS_A_CLASSES))
    if unknown:
        raise ValueError(
            f"{gt_path} contains label ids {unknown}, expected only "
            f"{sorted(_SALINAS_A_CLASSES)} and 0; replace it with the original file."
        )
    # Renumber the full-Salinas ids to 1..k, keeping 0 for unlabelled pixels.
    lookup = np.zeros(gt.max() + 1, dtype=np.int64)
    lookup[label_ids] = np.arange(1, label_ids.size + 1)
    labels = lookup[gt]

    n_bands = wavelengths.size
    version = (
        "corrected, 20 water-absorption and noisy bands removed"
        if corrected
        else ("uncorrected, including the noisy water-absorption bands")
    )
    description = (
        f"Salinas-A: a {gt.shape[0]} x {gt.shape[1]} pixel subscene of the AVIRIS (NASA/JPL) "
        f"Salinas Valley flight line, California, 3.7 m pixels, {n_bands} bands ({version}). "
        f"Ground truth is a class map of 6 crop classes (broccoli, corn and lettuce romaine "
        f"at 4 growth stages); 0 marks the {int((gt == 0).sum())} unlabelled pixels, which "
        f"still belong to the image: score clusterings only where labels != 0. Labels are "
        f"renumbered 1..6; the full-Salinas ids (1, 10-14) are in label_ids. The stored "
        f"int16 values are reflectance x 10000 and were divided by 10000 (a few are "
        f"slightly negative). Wavelengths are nominal AVIRIS band centres (224 bands evenly "
        f"over 400-2500 nm), not calibrated ones. Source: Grupo de Inteligencia "
        f"Computacional (GIC), UPV/EHU, 'Hyperspectral Remote Sensing Scenes'; data "
        f"AVIRIS, NASA/JPL."
    )
    return Bunch(
        cube=(raw.astype(np.float32) / np.float32(10000.0)),
        wavelengths=wavelengths,
        labels=labels,
        label_ids=label_ids,
        target_names=[_SALINAS_A_CLASSES[i] for i in label_ids.tolist()],
        abundances=None,
        endmembers=None,
        name="salinas_a",
        description=description,
    )


def _abundance_labels(abundances):
    """Labels 1..k from the argmax of ``(H, W, k)`` abundances."""
    return np.argmax(abundances, axis=-1).astype(np.int64) + 1


def _load_samson(data_home):
    data = _loadmat(_scene_file(data_home, "samson", "samson_1.mat"), ["V", "nRow", "nCol"])
    gt = _loadmat(_scene_file(data_home, "samson", "Samson.mat"), ["A", "M", "cood"])
    n_rows, n_cols = _int_scalar(data["nRow"]), _int_scalar(data["nCol"])
    cube = _matlab_pixels_to_cube(data["V"], n_rows, n_cols).astype(np.float32)
    # Samson.mat stores A already as an (H, W, k) image, in the same pixel order
    # as its cube 'SamSon', which equals the column-major reshape of V.
    abundances = np.asarray(gt["A"], dtype=np.float64)
    endmembers = np.asarray(gt["M"], dtype=np.float64)
    if abundances.shape[:2] != cube.shape[:2] or endmembers.shape[0] != cube.shape[2]:
        raise ValueError(
            f"Samson abundances {abundances.shape} / endmembers {endmembers.shape} do not "
            f"match the cube {cube.shape}; replace the files with the originals described "
            f"in samson/SOURCE.md."
        )
    labels = _abundance_labels(abundances)
    k = abundances.shape[2]
    description = (
        f"Samson: a {n_rows} x {n_cols} pixel sub-image of a scene from the SAMSON airborne "
        f"sensor, {cube.shape[2]} bands over 401-889 nm (nominal, evenly spaced band "
        f"centres). Ground truth for unmixing: {k} endmembers (rock/soil, tree, water) with "
        f"per-pixel abundance maps that sum to one; labels are the argmax of the abundances "
        f"plus one, so every pixel is labelled. The cube is stored already normalised to "
        f"[0, 1] and is returned as stored. Caveat: each ground-truth endmember is scaled to "
        f"a maximum of (about) 1, so only its shape is meaningful: compare estimated "
        f"endmembers with the spectral angle (SAD), not RMSE, and do not expect the cube to equal "
        f"endmembers @ abundances. Source: F. Zhu, Y. Wang, S. Xiang, B. Fan, C. Pan, "
        f"'Structured Sparse Method for Hyperspectral Unmixing', ISPRS J. Photogramm. "
        f"Remote Sens. 88:101-118, 2014; F. Zhu, arXiv:1708.05125, 2017."
    )
    return Bunch(
        cube=cube,
        wavelengths=np.linspace(401.0, 889.0, cube.shape[2]),
        labels=labels,
        label_ids=np.arange(1, k + 1),
        target_names=_cell_names(gt["cood"]),
        abundances=abundances,
        endmembers=endmembers,
        name="samson",
        description=description,
    )


def _load_jasper_ridge(data_home):
    data = _loadmat(
        _scene_file(data_home, "jasper_ridge", "jasperRidge2_R198.mat"),
        ["Y", "nRow", "nCol", "SlectBands", "maxValue"],
    )
    gt = _loadmat(_scene_file(data_home, "jasper_ridge", "JasperRidge2_end4.mat"), ["A", "M", "cood"])
    n_rows, n_cols = _int_scalar(data["nRow"]), _int_scalar(data["nCol"])
    max_value = float(np.asarray(data["maxValue"]).ravel()[0])
    Y = np.asarray(data["Y"], dtype=np.float64) / max_value
    cube = _matlab_pixels_to_cube(Y, n_rows, n_cols).astype(np.float32)
    abundances = _matlab_pixels_to_cube(np.asarray(gt["A"], dtype=np.float64), n_rows, n_cols)
    endmembers = np.asarray(gt["M"], dtype=np.float64)
    kept = np.asarray(data["SlectBands"]).ravel().astype(np.int64)  # 1-based AVIRIS bands
    wavelengths = np.linspace(380.0, 2500.0, 224)[kept - 1]
    if endmembers.shape[0] != cube.shape[2] or wavelengths.size != cube.shape[2]:
        raise ValueError(
            f"Jasper Ridge endmembers {endmembers.shape} / {wavelengths.size} kept bands do "
            f"not match the cube {cube.shape}; replace the files with the originals "
            f"described in jasper_ridge/SOURCE.md."
        )
    labels = _abundance_labels(abundances)
    k = abundances.shape[2]
    description = (
        f"Jasper Ridge: a {n_rows} x {n_cols} pixel sub-image of an AVIRIS (NASA/JPL) scene "
        f"over Jasper Ridge, California, with {cube.shape[2]} of the 224 bands kept (bands "
        f"1-3, 108-112, 154-166 and 220-224 removed); wavelengths are nominal band centres "
        f"(224 bands evenly over 380-2500 nm). Ground truth for unmixing: {k} endmembers "
        f"(tree, water, dirt, road) with per-pixel abundance maps that sum to one; labels "
        f"are the argmax of the abundances plus one, so every pixel is labelled. The stored "
        f"integers were divided by maxValue = {max_value:g}, which puts the cube on the "
        f"same reflectance-like scale as the ground-truth endmembers (the cube is close to, "
        f"not equal to, endmembers @ abundances). Source: F. Zhu, Y. Wang, B. Fan, S. "
        f"Xiang, G. Meng, C. Pan, 'Spectral Unmixing via Data-Guided Sparsity', IEEE TIP "
        f"23(12):5412-5427, 2014; F. Zhu, arXiv:1708.05125, 2017."
    )
    return Bunch(
        cube=cube,
        wavelengths=wavelengths,
        labels=labels,
        label_ids=np.arange(1, k + 1),
        target_names=_cell_names(gt["cood"]),
        abundances=abundances,
        endmembers=endmembers,
        name="jasper_ridge",
        description=description,
    )


def load_scene(name, *, data_home=None, corrected=True):
    """Load a real hyperspectral scene with its ground truth from the local data folder.

    Nothing is downloaded: the original ``.mat`` files must be in
    ``data_home/<scene>/`` (see :func:`get_data_home`).

    ==============  ===============  ======================================  ==========
    scene           cube             ground truth                            files
    ==============  ===============  ======================================  ==========
    Salinas-A       83 x 86 x 204    6 classes, 0 = unlabelled               salinas_a/
    Samson          95 x 95 x 156    3 endmembers + abundances               samson/
    Jasper Ridge    100 x 100 x 198  4 endmembers + abundances               jasper_ridge/
    ==============  ===============  ======================================  ==========

    Parameters
    ----------
    name : {"salinas_a", "samson", "jasper_ridge"}
        Scene name, case-insensitive. Also accepted: "salinas-a" and
        "SalinasA"; "jasper" and "jasper-ridge".
    data_home : str or path-like, default=None
        Folder that holds the scene sub-folders. ``None`` means
        ``HSIAE_DATA`` or the default; see :func:`get_data_home`.
    corrected : bool, default=True
        Salinas-A only: ``True`` gives the 204-band cube without the noisy
        water-absorption bands (1-based AVIRIS bands 108-112, 154-167 and
        224 removed); ``False`` gives all 224 bands. Samson has no bands
        removed, so it ignores this. Jasper Ridge is only distributed with
        its 198 corrected bands, so ``corrected=False`` raises ValueError.

    Returns
    -------
    scene : :class:`~sklearn.utils.Bunch`
        With the fields:

        cube : ndarray of shape (n_rows, n_cols, n_bands), dtype float32
            Reflectance-like values. Salinas-A: the stored int16 / 10000.
            Jasper Ridge: the stored integers / ``maxValue`` (5000), on the
            scale of its endmembers. Samson: as stored, already in [0, 1].
        wavelengths : ndarray of shape (n_bands,)
            Nominal band centres in nm, not calibrated ones: Samson 401-889
            nm evenly over 156 bands; Jasper Ridge the kept bands of 224
            evenly over 380-2500 nm; Salinas-A 224 evenly over 400-2500 nm,
            minus the removed bands if ``corrected``.
        labels : ndarray of shape (n_rows, n_cols), dtype int64
            0 = unlabelled, classes 1..k. Salinas-A: the class map, with the
            full-Salinas ids renumbered. Samson and Jasper Ridge: argmax of
            the abundances + 1, so every pixel is labelled.
        label_ids : ndarray of shape (k,)
            Original id of class 1..k: Salinas-A ``[1, 10, 11, 12, 13,
            14]``; Samson and Jasper Ridge ``1..k`` (endmember numbers).
        target_names : list of str
            The k class or endmember names, in label order.
        abundances : ndarray of shape (n_rows, n_cols, k) or None
            Ground-truth abundances (sum to one per pixel) for Samson and
            Jasper Ridge, in the same pixel order as ``cube``; None for
            Salinas-A.
        endmembers : ndarray of shape (n_bands, k) or None
            Ground-truth endmember spectra for Samson (each scaled to a
            maximum of about 1: compare with the spectral angle) and Jasper Ridge
            (on the scale of ``cube``); None for Salinas-A.
        name : str
            Canonical scene name.
        description : str
            Sensor, size, ground truth, scaling caveats and the reference to
            cite.

    Raises
    ------
    FileNotFoundError
        If the data folder or a scene file is missing. The message names
        the folder looked in and the ``HSIAE_DATA`` environment variable.
    ValueError
        If ``name`` is not a known scene, or a file does not have the
        expected content.

    See Also
    --------
    get_data_home : Where the scenes are looked for.
    make_synthetic_scene : A synthetic scene with a known generator.

    Notes
    -----
    Samson and Jasper Ridge store pixels as the columns of a
    ``(n_bands, n_pixels)`` matrix in MATLAB column-major order, so pixel
    ``(r, c)`` is column ``c * n_rows + r``. Both the cube and the
    abundances are reshaped with ``order="F"``, which keeps them aligned.

    Examples
    --------
    >>> from hsiae.datasets import load_scene
    >>> scene = load_scene("salinas_a")  # doctest: +SKIP
    >>> scene.cube.shape, scene.target_names[0]  # doctest: +SKIP
    ((83, 86, 204), 'Brocoli_green_weeds_1')
    >>> X = scene.cube.reshape(-1, scene.cube.shape[-1])  # doctest: +SKIP
    """
    key = _ALIASES.get(name.lower()) if isinstance(name, str) else None
    if key is None:
        raise ValueError(
            f"Unknown scene name {name!r}; known scenes are {list(_SCENES)} (also accepted: "
            f"'salinas-a', 'SalinasA', 'jasper', 'jasper-ridge')."
        )
    if key == "salinas_a":
        return _load_salinas_a(data_home, bool(corrected))
    if key == "samson":
        return _load_samson(data_home)
    if not corrected:
        raise ValueError(
            "Jasper Ridge is only distributed with its 198 corrected bands; the 224-band "
            "uncorrected cube is not available. Use corrected=True, or 'salinas_a' with "
            "corrected=False for a scene with the noisy water-absorption bands."
        )
    return _load_jasper_ridge(data_home)


# --------------------------------------------------------------------------- #
# Synthetic scene
# --------------------------------------------------------------------------- #
def _gaussian(t, centre, width):
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


def _gaussian_peaks_function(factors, wavelengths):
    """The default generator, "gaussian_peaks"; the formula is documented in :func:`make_synthetic_scene`."""
    w = np.asarray(wavelengths, dtype=np.float64)
    span = w.max() - w.min()
    t = (w - w.min()) / span  # (n_bands,) in [0, 1]
    r, g, b = (np.asarray(factors, dtype=np.float64)[:, i : i + 1] for i in range(3))
    z = (
        -1.5
        + 3.0 * r**2 * _gaussian(t, 0.20 + 0.20 * g, 0.08)
        + 3.0 * g * _gaussian(t, 0.50, 0.05 + 0.10 * b)
        + 3.0 * b**2 * _gaussian(t, 0.80 - 0.20 * r, 0.08)
        + 1.5 * r * b * (2.0 * t - 1.0)
    )
    return 1.0 / (1.0 + np.exp(-z))


# SELU's constants (Klambauer et al., 2017), as torch.nn.SELU uses them.
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _selu(x):
    return _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def tutorial_function(factors, wavelengths):
    r"""The generator of the tutorial "Unsupervised Spectral Unmixing with Autoencoders", as written there.

    With factors :math:`(x, y, z)` (the red, green and blue values in
    [0, 1]) and the band position ``t`` running evenly over [-1, 1]:

    .. math::

        f(t) = \tanh(20 (t - 2 (x - 0.5))) + \mathrm{SELU}(t - 2 (y - 0.5))
               + \sigma(-20 (t - (z - 0.5)))

    Red places a steep rising step, green shifts a SELU ramp, blue places a
    steep falling step. Values lie in about [-2.6, 4.2], not in a
    reflectance range. Only the order of the bands matters; their
    wavelengths do not enter.

    Parameters
    ----------
    factors : ndarray of shape (n_pixels, 3)
    wavelengths : ndarray of shape (n_bands,)

    Returns
    -------
    spectra : ndarray of shape (n_pixels, n_bands)

    References
    ----------
    J. C. Agar and S. Qin, "Unsupervised Spectral Unmixing with Autoencoders",
    tutorial in the m3_learning package (``default_nl_function`` and
    ``generate_data`` with ``range_=[-1, 1]``).
    """
    factors = np.asarray(factors, dtype=np.float64)
    t = np.linspace(-1.0, 1.0, np.asarray(wavelengths).shape[0])
    x, y, z = (factors[:, i : i + 1] for i in range(3))
    return np.tanh(20 * (t - 2 * (x - 0.5))) + _selu(t - 2 * (y - 0.5)) + 1.0 / (1.0 + np.exp(20 * (t - (z - 0.5))))


_FUNCTIONS = {"gaussian_peaks": _gaussian_peaks_function, "tutorial": tutorial_function}


def generating_function(function):
    """The name and the callable of a synthetic scene's generating function.

    Parameters
    ----------
    function : {"gaussian_peaks", "tutorial"} or callable
        As in :func:`make_synthetic_scene`.

    Returns
    -------
    name : str
        The name, or the callable's ``__name__``.
    function : callable
        ``function(factors of shape (n_pixels, 3), wavelengths of shape (n_bands,))``
        returning spectra of shape ``(n_pixels, n_bands)``.
    """
    if isinstance(function, str):
        if function not in _FUNCTIONS:
            raise ValueError(
                f"Unknown function {function!r}; use one of {sorted(_FUNCTIONS)} or a "
                f"callable f(factors, wavelengths) -> spectra."
            )
        return function, _FUNCTIONS[function]
    if callable(function):
        return getattr(function, "__name__", repr(function)), function
    raise ValueError(
        f"function must be 'gaussian_peaks', 'tutorial' or a callable f(factors, wavelengths) -> spectra, "
        f"got {function!r}."
    )


def _resize_axis(a, n_out, axis):
    """Resize one axis: block (area) averaging when shrinking, nearest neighbour when growing."""
    n_in = a.shape[axis]
    if n_out == n_in:
        return a
    if n_out < n_in:
        starts = (np.arange(n_out) * n_in) // n_out
        counts = np.diff(np.append(starts, n_in))
        sums = np.add.reduceat(a, starts, axis=axis)
        shape = [1] * a.ndim
        shape[axis] = n_out
        return sums / counts.reshape(shape)
    index = ((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.intp)
    return np.take(a, index, axis=axis)


def _read_image(image):
    """Return an RGB image as float64 ``(H, W, 3)`` in [0, 1]."""
    if image is None:
        import matplotlib.cbook as cbook

        image = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    if isinstance(image, (str, os.PathLike)):
        import matplotlib.image as mimage

        path = Path(image).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"image file {path} does not exist; pass the path of an RGB image (PNG or "
                f"JPEG), an array of shape (H, W, 3), or image=None for the default."
            )
        image = mimage.imread(path)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(
            f"image must be an RGB array of shape (H, W, 3) (or RGBA (H, W, 4)), got shape "
            f"{image.shape}; for a grey-level image pass np.stack([img] * 3, axis=-1)."
        )
    image = image[:, :, :3]
    if image.dtype.kind == "u":
        return image.astype(np.float64) / np.iinfo(image.dtype).max
    if image.dtype.kind != "f":
        raise ValueError(
            f"image must hold unsigned integers (e.g. uint8) or floats in [0, 1], got dtype "
            f"{image.dtype}; convert it with image.astype(np.uint8) or scale it to [0, 1]."
        )
    image = image.astype(np.float64)
    if not np.all(np.isfinite(image)) or image.min() < 0.0 or image.max() > 1.0:
        raise ValueError(
            f"a float image must have finite values in [0, 1], got range "
            f"[{np.nanmin(image):g}, {np.nanmax(image):g}]; divide 8-bit values by 255."
        )
    return image


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _segments(factors, n_segments):
    """Labels 1..n_segments from k-means on the factors, numbered by increasing brightness."""
    from sklearn.cluster import KMeans

    n_distinct = np.unique(factors, axis=0).shape[0]
    if n_distinct < n_segments:
        raise ValueError(
            f"n_segments={n_segments} needs at least {n_segments} distinct colours, but the "
            f"resized image has {n_distinct}; lower n_segments or pass a more varied image "
            f"or a larger shape."
        )
    km = KMeans(n_clusters=n_segments, n_init=4, random_state=0).fit(factors)
    # Number clusters by the brightness of their centre so labels do not depend
    # on k-means' arbitrary cluster order.
    order = np.argsort(km.cluster_centers_.sum(axis=1), kind="stable")
    rank = np.empty(n_segments, dtype=np.int64)
    rank[order] = np.arange(1, n_segments + 1)
    return rank[km.labels_]


def make_synthetic_scene(
    n_bands=128,
    *,
    image=None,
    shape=(64, 64),
    n_segments=6,
    noise=0.01,
    function="gaussian_peaks",
    wavelengths=(400.0, 1000.0),
    random_state=None,
):
    r"""Make a hyperspectral scene from an RGB image through a known nonlinear function.

    This follows the recipe of the tutorial on unsupervised spectral unmixing
    with autoencoders: each pixel's three colour values in [0, 1] are the
    three generating factors of its spectrum, which a smooth nonlinear
    function of the band position turns into a reflectance-like spectrum.
    The scene therefore has a known 3-dimensional latent structure, and the
    factors themselves are the ground truth for a learned latent space.

    Parameters
    ----------
    n_bands : int, default=128
        Number of spectral bands, at least 2.
    image : ndarray of shape (H, W, 3), str, path-like or None, default=None
        RGB image. An unsigned integer array is divided by its dtype's maximum
        (255 for uint8); a float array must lie in [0, 1]. An RGBA array's
        alpha channel is dropped. A str or path is read with
        :func:`matplotlib.image.imread`. ``None`` uses the photograph
        ``grace_hopper.jpg`` that matplotlib ships as sample data (nothing is
        downloaded).
    shape : tuple of (int, int) or None, default=(64, 64)
        ``(n_rows, n_cols)`` of the scene, each at least 2. The image is
        resized deterministically: block (area) averaging along an axis that
        shrinks, nearest neighbour along one that grows. ``None`` keeps the
        image's size.
    n_segments : int, default=6
        Number of ground-truth segments, at least 2.
    noise : float, default=0.01
        Standard deviation of the additive Gaussian noise, as a fraction of
        the range (max - min) of the noise-free cube. ``0`` gives
        ``cube == clean``. The noisy cube is not clipped.
    function : {"gaussian_peaks", "tutorial"} or callable, default="gaussian_peaks"
        Map from factors to spectra. "gaussian_peaks" makes
        reflectance-like spectra in (0, 1) (see Notes). "tutorial" is the
        tutorial's own generator, :func:`tutorial_function` (tanh, SELU and
        sigmoid steps along the bands; values in about [-2.6, 4.2]); hsiae
        called "gaussian_peaks" "tutorial" before, which it is not. A
        callable is called as
        ``function(factors, wavelengths)`` with ``factors`` of shape
        ``(n_pixels, 3)`` in [0, 1] and ``wavelengths`` of shape
        ``(n_bands,)``, and must return finite spectra of shape
        ``(n_pixels, n_bands)``.
    wavelengths : (float, float) or array-like of shape (n_bands,), default=(400.0, 1000.0)
        Band centres in nm: a ``(first, last)`` pair, spread evenly over
        ``n_bands``, or the ``n_bands`` increasing centres themselves.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the noise. The factors, clean cube and segments do not depend
        on it.

    Returns
    -------
    scene : :class:`~sklearn.utils.Bunch`
        With the fields:

        cube : ndarray of shape (n_rows, n_cols, n_bands), dtype float32
            Noisy spectra.
        clean : ndarray of shape (n_rows, n_cols, n_bands), dtype float32
            Noise-free spectra.
        wavelengths : ndarray of shape (n_bands,)
            Band centres in nm.
        factors : ndarray of shape (n_rows, n_cols, 3), dtype float64
            The generating factors: the resized image's RGB values in [0, 1].
        labels : ndarray of shape (n_rows, n_cols), dtype int64
            Ground-truth segments ``1..n_segments``: k-means (``random_state=0``)
            on the factors, numbered by increasing brightness (sum of the
            centre's factors). Every pixel is labelled.
        function : str
            ``"gaussian_peaks"``, ``"tutorial"`` or the callable's ``__name__``.
        name : str
            ``"synthetic"``.
        description : str
            What was generated, with which settings.

    See Also
    --------
    load_scene : Real scenes with ground truth.

    Notes
    -----
    With factors :math:`(r, g, b)` and the band position
    :math:`t = (\lambda - \lambda_{min}) / (\lambda_{max} - \lambda_{min})`
    in [0, 1], the ``"gaussian_peaks"`` function is

    .. math::

        z(t) = -1.5 + 3 r^2\, G(t;\ 0.2 + 0.2 g,\ 0.08)
                    + 3 g\, G(t;\ 0.5,\ 0.05 + 0.1 b)
                    + 3 b^2\, G(t;\ 0.8 - 0.2 r,\ 0.08)
                    + 1.5\, r b\, (2t - 1)

        x(t) = 1 / (1 + e^{-z(t)})

    where :math:`G(t; \mu, \sigma) = \exp(-(t - \mu)^2 / (2 \sigma^2))`.
    Red drives the height of a short-wavelength peak whose position green
    shifts; green drives a central peak whose width blue sets; blue drives a
    long-wavelength peak whose position red shifts; the product of red and
    blue tilts the spectrum. The logistic function keeps every value in
    (0, 1), a reflectance-like range; over all factors in [0, 1]^3 the
    values span about 0.05 to 0.99, and a black pixel is flat at 0.18.
    None of these dependencies is linear, so a linear model (PCA, linear
    unmixing) cannot represent the cube exactly with 3 components: on the
    default scene, 3 principal components leave a residual RMSE of about
    0.01, as large as the default noise.

    The cube is ``clean + noise * (clean.max() - clean.min()) * N(0, 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae.datasets import make_synthetic_scene
    >>> scene = make_synthetic_scene(64, shape=(32, 32), random_state=0)
    >>> scene.cube.shape, scene.factors.shape, np.unique(scene.labels).tolist()
    ((32, 32, 64), (32, 32, 3), [1, 2, 3, 4, 5, 6])
    """
    n_bands = _check_int(n_bands, "n_bands", 2)
    n_segments = _check_int(n_segments, "n_segments", 2)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not np.isfinite(noise) or noise < 0:
        raise ValueError(
            f"noise must be a finite number >= 0 (a fraction of the data range), got "
            f"{noise!r}; use noise=0 for a noise-free cube."
        )

    function_name, generate = generating_function(function)

    centres = np.asarray(wavelengths, dtype=np.float64)
    if centres.ndim == 1 and centres.size == 2:
        centres = np.linspace(centres[0], centres[1], n_bands)
    if centres.shape != (n_bands,) or not np.all(np.isfinite(centres)) or np.any(np.diff(centres) <= 0):
        raise ValueError(
            f"wavelengths must be a (first, last) pair with first < last, or {n_bands} "
            f"increasing band centres, got {wavelengths!r}."
        )

    rgb = _read_image(image)
    if shape is None:
        shape = rgb.shape[:2]
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) for s in shape)
        or min(shape) < 2
    ):
        raise ValueError(
            f"shape must be a pair of integers (n_rows, n_cols), each >= 2, got {shape!r}; "
            f"pass e.g. shape=(64, 64), or shape=None to keep the image's size."
        )
    n_rows, n_cols = int(shape[0]), int(shape[1])
    factors = _resize_axis(_resize_axis(rgb, n_rows, 0), n_cols, 1)
    # Block means can leave [0, 1] by a rounding error; the generator is promised [0, 1].
    factors = np.clip(factors, 0.0, 1.0)
    flat = factors.reshape(-1, 3)

    spectra = np.asarray(generate(flat, centres.copy()), dtype=np.float64)
    if spectra.shape != (flat.shape[0], n_bands) or not np.all(np.isfinite(spectra)):
        raise ValueError(
            f"function {function_name!r} must return finite spectra of shape "
            f"(n_pixels, n_bands) = {(flat.shape[0], n_bands)}, got shape {spectra.shape}"
            f"{'' if np.all(np.isfinite(spectra)) else ' with non-finite values'}; it is "
            f"called as function(factors of shape (n_pixels, 3), wavelengths of shape "
            f"(n_bands,))."
        )
    clean = spectra.reshape(n_rows, n_cols, n_bands)

    sigma = noise * float(clean.max() - clean.min())
    if sigma > 0:
        rng = random_state if isinstance(random_state, np.random.Generator) else check_random_state(random_state)
        cube = clean + rng.normal(0.0, sigma, size=clean.shape)
    else:
        cube = clean

    labels = _segments(flat, n_segments).reshape(n_rows, n_cols)
    description = (
        f"Synthetic scene, {n_rows} x {n_cols} pixels x {n_bands} bands over "
        f"{centres[0]:g}-{centres[-1]:g} nm: each pixel's RGB values in [0, 1] are the 3 "
        f"generating factors, mapped to a spectrum by the nonlinear function "
        f"{function_name!r}, plus Gaussian noise of standard deviation {noise:g} x the data "
        f"range ({sigma:.3g}). Labels are {n_segments} segments from k-means on the factors."
    )
    return Bunch(
        cube=cube.astype(np.float32),
        clean=clean.astype(np.float32),
        wavelengths=centres,
        factors=factors,
        labels=labels,
        function=function_name,
        name="synthetic",
        description=description,
    )

"""What every command of :mod:`hsiae.cli` shares: errors, staged outputs, reading a cube."""

import contextlib
import logging
import math
from pathlib import Path


# One logger for all of hsiae.cli: main() prints the INFO records of this logger name only.
logger = logging.getLogger("hsiae.cli")

_DPI = 120
_OVERWRITE_HINT = "pass --force to overwrite it"


def _recommended_segmenter(k, image_shape, spatial_weight, seed):
    """The segmenter of hsiae.make_segmentation_pipeline, for a model trained elsewhere."""
    from hsiae import make_segmentation_pipeline

    return make_segmentation_pipeline(
        k, image_shape=image_shape, random_state=seed,
        spatialgmmsegmenter__spatial_weight=spatial_weight,
    )[-1]


class _Outputs:
    """Outputs of one run: planned first, written to temporary files, moved in place at the end.

    ``plan`` checks a target before any work is done; ``stage`` returns the
    temporary path to write instead (same folder and suffix, hidden name);
    ``commit`` renames every staged file to its target; ``discard`` removes
    whatever a failed run left (temporary files and folders it created).
    """

    def __init__(self, force):
        self.force = force
        self._planned = {}
        self._staged = {}
        self._dirs = []
        self._made = []
        self._committed = False

    def plan_dir(self, path):
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"'{path}' exists and is not a folder; pass a folder for -o")
        self._dirs.append(path)
        return path

    def plan(self, path, what):
        from hsiae.io import check_target

        path = Path(path)
        if not (path.parent in self._dirs and not path.parent.is_dir()):  # else: a folder to create
            check_target(path, force=self.force, what=what, overwrite_hint=_OVERWRITE_HINT)
        self._planned[path] = what
        return path

    def _make_dirs(self):
        for folder in self._dirs:
            missing = []
            p = folder
            while not p.exists():
                missing.append(p)
                p = p.parent
            for p in reversed(missing):
                p.mkdir()
                self._made.append(p)

    def stage(self, path):
        from hsiae.io import temporary_beside

        path = Path(path)
        if path not in self._planned:
            raise RuntimeError(f"output {path} was not planned")  # a bug, not a user error
        self._make_dirs()
        tmp = temporary_beside(path)
        self._staged[path] = tmp
        return tmp

    def commit(self):
        from hsiae.io import commit

        moved = []
        try:
            for final, tmp in self._staged.items():
                existed = final.exists()
                commit(tmp, final, force=self.force, overwrite_hint=_OVERWRITE_HINT)
                moved.append((final, existed))
        except BaseException:
            for final, existed in moved:  # only what this run created
                if not existed:
                    with contextlib.suppress(OSError):
                        final.unlink()
            raise
        self._committed = True
        width = max((len(self._planned[f]) for f in self._staged), default=0)
        if self._staged:
            logger.info("Wrote:")
        for final in self._staged:
            logger.info("  %-*s  %s", width, self._planned[final], final)

    def discard(self):
        from hsiae.io import discard

        if self._committed:
            return
        for tmp in self._staged.values():
            discard(tmp)
        for folder in reversed(self._made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # the CLI never opens a window
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path):
    plt = _pyplot()
    try:
        fig.savefig(path, dpi=_DPI, format="png")  # every figure here has a constrained layout
    finally:
        plt.close(fig)


def _read(args, verb, needs):
    """Read the cube of ``args`` after checking that the run fits in memory.

    ``needs(shape, dtype)`` gives the bytes the run will hold for a cube of
    that shape (see :func:`hsiae.cli._memory._needed_bytes`); ``verb``
    ("segmenting", ...) names the run in the error. Pixels read whole into
    memory (compressed TIFF, MAT v5) count too, and are checked before the read.
    """
    from hsiae.cli._memory import _check_memory
    from hsiae.io._read import _read_cube

    def check(shape, dtype, loaded=0):
        H, W, B = shape
        what = f"{verb} the {H} x {W} x {B} {dtype} cube '{args.cube}'"
        _check_memory(what, needs(shape, dtype) + loaded)

    def before_load(shape, dtype):
        checked.append(shape)
        check(shape, dtype, loaded=math.prod(shape) * dtype.itemsize)

    checked = []
    cube, info = _read_cube(args.cube, band_axis=args.band_axis, variable=args.variable,
                            before_load=before_load)
    if not checked:  # memory-mapped: the pixels are paged in as needed
        check(cube.shape, cube.dtype)
    H, W, B = cube.shape
    wl = ""
    if info.wavelengths is not None:
        unit = f" {info.wavelength_units}" if info.wavelength_units else ""
        wl = f", {info.wavelengths[0]:g}-{info.wavelengths[-1]:g}{unit}"
    logger.info("Read %s: %d x %d pixels, %d bands%s, %s", args.cube, H, W, B, wl, cube.dtype)
    if B < 2:
        raise ValueError(f"'{args.cube}' has {B} band; hsiae needs spectra of at least 2 bands")
    return cube, info


def _pixels(cube, nodata):
    """:func:`hsiae.pixel_spectra`, saying how many pixels it leaves out."""
    from hsiae.workflow.usable import pixel_spectra

    X, valid, filled = pixel_spectra(cube, nodata=nodata)
    n_bad = int((~valid).sum())
    if n_bad:
        logger.info("%d of %d pixels are no-data or non-finite: left out, labelled 0",
                    n_bad, valid.size)
    return X, valid, filled

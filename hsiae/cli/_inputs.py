"""What the commands read: a cube in memory or opened lazily in chunks, its usable spectra, a saved model.

Both ways of reading check, before any pixel is read, that the run fits in
memory (:mod:`hsiae.cli._memory`) and that the ``--mask`` image is the
cube's; ``--chunks`` and its options are checked here once for every
command. Which pixels are usable is decided once, here, for every command
and both ways of reading: ``--nodata`` replaces the fill value the file
declares (``--nodata none`` drops it), ``--mask`` leaves out the pixels where
it is zero, and :mod:`hsiae.workflow.usable` applies the rule.
"""

import contextlib
import dataclasses
import math

from hsiae.cli._errors import CLIError, one_line
from hsiae.cli._memory import _check_memory, _needed_bytes
from hsiae.cli._parser import LOCAL_SCHEDULERS, band_ranges, band_set
from hsiae.cli._staging import logger
from hsiae.workflow.defaults import SAMPLE_SIZE

_CONNECT_TIMEOUT = "10s"


def _check_bands(path, n_bands):
    if n_bands < 2:
        raise ValueError(f"'{path}' has {n_bands} band; hsiae needs spectra of at least 2 bands")


def _check_wavelengths(path, wavelengths, units):
    """Refuse a cube whose wavelengths do not increase from band to band, in the command line's words.

    The resampler of every model needs increasing wavelengths; its own
    message speaks of the columns of an array, which a command-line user
    never sees.
    """
    import numpy as np

    if wavelengths is None or len(wavelengths) < 2:
        return
    step = np.diff(np.asarray(wavelengths, dtype=np.float64))
    if np.all(step > 0):
        return
    unit = f" {units}" if units else ""
    if np.all(step < 0):
        raise CLIError(
            f"'{path}' lists its bands in decreasing order ({wavelengths[0]:g} to "
            f"{wavelengths[-1]:g}{unit}), but hsiae needs the wavelengths increasing from the first "
            f"band to the last; write the cube with its bands reversed"
        )
    i = int(np.argmax(step <= 0))
    raise CLIError(
        f"'{path}' lists band wavelengths that do not increase from band to band (band {i}: "
        f"{wavelengths[i]:g}{unit}, band {i + 1}: {wavelengths[i + 1]:g}{unit}), but hsiae needs "
        f"them strictly increasing; write the cube with its bands sorted by wavelength, each once"
    )


def _number(value):
    """A no-data value as the user would write it: -9999, 16777217, 0.5."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(value)


def _with_nodata(args, info):
    """``info`` with the fill value the run uses: ``--nodata`` if given, else the file's; logged."""
    declared = info.nodata if info.nodata is None or not math.isnan(info.nodata) else None
    given = getattr(args, "nodata", None)
    if given is None:
        if declared is not None:
            logger.info("No-data value %s, as '%s' declares", _number(declared), args.cube)
        return info
    if math.isnan(given):  # --nodata none
        if declared is not None:
            logger.info(
                "No fill value (--nodata none): the %s that '%s' declares is ignored; "
                "only pixels with a NaN or infinite value are no data",
                _number(declared),
                args.cube,
            )
        return dataclasses.replace(info, nodata=None)
    if declared is None:
        logger.info("No-data value %s (--nodata)", _number(given))
    elif declared == given:
        logger.info("No-data value %s (--nodata), as '%s' declares", _number(given), args.cube)
    else:
        logger.info(
            "No-data value %s (--nodata), in place of the %s that '%s' declares",
            _number(given),
            _number(declared),
            args.cube,
        )
    return dataclasses.replace(info, nodata=given)


def band_numbers(info, n_bands):
    """The file's numbers (from 1) of the ``n_bands`` bands a run holds, after the bands left out."""
    dropped = set(info.dropped_bands)
    return [b + 1 for b in range(n_bands + len(dropped)) if b not in dropped]


def _kept_bands(args, info, n_bands):
    """Indices of the bands ``--drop-bands`` keeps among the ``n_bands`` read, or None without it.

    ``--drop-bands`` numbers the file's bands from 1, bands an ENVI ``bbl``
    left out included; those it names are left out too.
    """
    drop = getattr(args, "drop_bands", None)
    if not drop:
        return None
    n_file = n_bands + len(info.dropped_bands)
    last = max(high for _, high in drop)
    if last > n_file:
        raise CLIError(
            f"--drop-bands names band {last}, but '{args.cube}' has {n_file} bands (numbered 1 to "
            f"{n_file}); pass band numbers of this cube"
        )
    drop = band_set(drop, n_file)
    keep = [i for i, number in enumerate(band_numbers(info, n_bands)) if number not in drop]
    if len(keep) < 2:
        raise CLIError(
            f"--drop-bands leaves {len(keep)} of the {n_file} bands of '{args.cube}', but hsiae needs "
            f"spectra of at least 2 bands; leave out fewer bands"
        )
    return keep


def _without_dropped_bands(args, cube, info, keep):
    """The cube and its info with only the bands ``keep`` (from :func:`_kept_bands`), said in the log."""
    import numpy as np

    numbers = band_numbers(info, cube.shape[2])
    left_out = sorted({b - 1 for b in numbers} - {numbers[i] - 1 for i in keep})
    logger.info(
        "Left out %d bands (--drop-bands): %s; %d bands remain", len(left_out),
        band_ranges(b + 1 for b in left_out), len(keep),
    )  # fmt: skip
    index = np.asarray(keep)
    info = dataclasses.replace(
        info,
        wavelengths=None if info.wavelengths is None else info.wavelengths[index],
        fwhm=None if info.fwhm is None else info.fwhm[index],
        dropped_bands=tuple(sorted({*info.dropped_bands, *left_out})),
    )
    return cube[:, :, index], info


def _report_bands_and_place(args, info, n_bands):
    """Say which bands the file marks bad (left out), and where on the map the cube lies."""
    dropped = info.dropped_bands
    if dropped:
        logger.info(
            "Left out %d bad bands of %d ('bbl' of '%s'): bands %s",
            len(dropped),
            len(dropped) + n_bands,
            args.cube,
            band_ranges(b + 1 for b in dropped),
        )
    if info.georeference is not None:
        logger.info("Georeferenced: %s; the raster outputs carry it", describe_georeference(info.georeference))


def describe_georeference(georeference):
    """A georeference in a few words: its CRS, and its pixel size and corner when north-up."""
    crs = georeference.crs
    if crs is None:
        text = "no coordinate reference system"
    elif crs.upper().startswith("EPSG:"):
        text = crs
    else:
        text = f"CRS {' '.join(crs.split())[:40]}..."
    if georeference.is_north_up:
        a, _, c, _, e, f = georeference.transform
        text += f", pixels of {a:g} x {-e:g} map units, upper-left corner at ({c:g}, {f:g})"
    elif georeference.transform is not None:
        text += ", a rotated pixel grid"
    return text


def _read_mask(args):
    """The ``--mask`` image (True = usable pixel), or None; read before the cube, so a bad one fails first."""
    if getattr(args, "mask", None) is None:
        return None
    from hsiae.io import read_mask

    try:
        mask = read_mask(args.mask)
    except (OSError, ValueError) as exc:
        raise CLIError(f"--mask: {one_line(exc)}") from exc
    if not mask.any():
        raise CLIError(
            f"--mask '{args.mask}' marks no pixel as usable (it is zero everywhere); a mask is "
            f"nonzero where a pixel may be used"
        )
    return mask


def _check_mask(args, mask, shape):
    """Refuse a ``--mask`` that is not of the cube's image, naming both sizes."""
    if mask is not None and mask.shape != tuple(shape[:2]):
        raise CLIError(
            f"--mask '{args.mask}' is {mask.shape[0]} x {mask.shape[1]} pixels but the cube "
            f"'{args.cube}' is {shape[0]} x {shape[1]} pixels (rows x columns); pass a mask of "
            f"the cube's image, nonzero where a pixel may be used"
        )


def read(args, verb, needs, *, increasing_wavelengths=True):
    """Read the cube of ``args`` after checking that the run fits in memory.

    ``needs(shape, dtype)`` gives the bytes the run will hold for a cube of
    that shape (see :func:`hsiae.cli._memory._needed_bytes`); ``verb``
    ("segmenting", ...) names the run in the error. Pixels read whole into
    memory (compressed TIFF, MAT v5) count too, and are checked before the read.

    Returns the cube, its :class:`~hsiae.io.CubeInfo` with the fill value
    the run uses (``--nodata`` or the file's) and the ``--mask`` (or None).
    ``increasing_wavelengths``: the run resamples the spectra, which needs
    the cube's wavelengths (when it has them) increasing.
    """
    from hsiae.io import read_cube

    mask = _read_mask(args)

    def check(shape, dtype, loaded=0):
        _check_mask(args, mask, shape)
        H, W, B = shape
        what = f"{verb} the {H} x {W} x {B} {dtype} cube '{args.cube}'"
        if getattr(args, "drop_bands", None):
            loaded += math.prod(shape) * dtype.itemsize  # the copy of the bands kept, at most this
        _check_memory(what, needs(shape, dtype) + loaded)

    def before_load(shape, dtype):
        checked.append(shape)
        check(shape, dtype, loaded=math.prod(shape) * dtype.itemsize)

    checked = []
    cube, info = read_cube(args.cube, band_axis=args.band_axis, variable=args.variable, before_load=before_load)
    if not checked:  # memory-mapped: the pixels are paged in as needed
        check(cube.shape, cube.dtype)
    keep = _kept_bands(args, info, cube.shape[2])
    H, W, B = cube.shape
    wl = ""
    if info.wavelengths is not None:
        unit = f" {info.wavelength_units}" if info.wavelength_units else ""
        wl = f", {info.wavelengths[0]:g}-{info.wavelengths[-1]:g}{unit}"
    logger.info("Read %s: %d x %d pixels, %d bands%s, %s", args.cube, H, W, B, wl, cube.dtype)
    _report_bands_and_place(args, info, B)
    if keep is not None:
        cube, info = _without_dropped_bands(args, cube, info, keep)
    _check_bands(args.cube, cube.shape[2])
    if increasing_wavelengths:
        _check_wavelengths(args.cube, info.wavelengths, info.wavelength_units)
    return cube, _with_nodata(args, info), mask


def pixels(cube, nodata, mask=None, *, fate=""):
    """:func:`hsiae.pixel_spectra`, saying how many pixels it leaves out, and ``fate``: what the run writes for them."""
    from hsiae.workflow.usable import pixel_spectra

    X, valid, filled = pixel_spectra(cube, nodata=nodata, mask=mask)
    n_bad = int((~valid).sum())
    if n_bad:
        then = f", {fate}" if fate else ""
        logger.info("%d of %d pixels are no-data or non-finite: left out%s", n_bad, valid.size, then)
    return X, valid, filled


def chunked(args, *, sampled=False):
    """Whether the run goes chunk by chunk (``--chunks``); refuses the chunked options without it.

    ``sampled``: the command fits on a sample in memory too, so ``--sample-size`` stands alone.
    """
    if args.chunks is None:
        alone = () if sampled else (("--sample-size", getattr(args, "sample_size", None)),)
        given = [name for name, value in (("--scheduler", args.scheduler), *alone) if value is not None]
        if given:
            raise CLIError(
                f"{' and '.join(given)} only apply with --chunks N (chunked processing of large "
                f"cubes); add --chunks or drop {'them' if len(given) > 1 else 'it'}"
            )
        return False
    try:
        import dask  # noqa: F401  (only whether it is installed)
    except ImportError:
        raise CLIError("--chunks needs dask; install it with: pip install 'hsiae[dask]'") from None
    return True


def sample_size(args, n_pixels):
    """Pixels a chunked run trains on: ``--sample-size``, at most the image's."""
    return min(args.sample_size or SAMPLE_SIZE, n_pixels)


def open_lazy(args, verb, needs, *, increasing_wavelengths=True):
    """Open the cube of ``args`` lazily in chunks; check that a chunk and the sample fit in memory.

    Returns what :func:`read` returns, with the cube a dask array;
    ``increasing_wavelengths`` as for :func:`read`.
    """
    import dask

    from hsiae.io import open_cube

    mask = _read_mask(args)
    cube, info = open_cube(args.cube, chunks=args.chunks, band_axis=args.band_axis, variable=args.variable)
    _check_mask(args, mask, cube.shape)
    keep = _kept_bands(args, info, cube.shape[2])
    H, W, B = cube.shape
    rows, cols = cube.chunksize[:2]
    workers = 1 if args.scheduler == "synchronous" else (dask.system.CPU_COUNT or 1)
    # Each worker holds about one chunk's run at a time (and dask a few chunks more).
    needed = needs((rows, cols, B), cube.dtype) * (workers + 2)
    if getattr(args, "sample_size", None) is not None or verb != "denoising":
        needed += needs((sample_size(args, H * W), 1, B), cube.dtype)
    _check_memory(
        f"{verb} the {H} x {W} x {B} {cube.dtype} cube '{args.cube}' in chunks of {rows} x {cols} pixels",
        needed,
        advice="use smaller --chunks, a smaller --sample-size, or a machine with more memory",
    )
    logger.info(
        "Opened %s lazily: %d x %d pixels, %d bands, %s, in chunks of %d x %d pixels",
        args.cube,
        H,
        W,
        B,
        cube.dtype,
        rows,
        cols,
    )
    _report_bands_and_place(args, info, B)
    if keep is not None:
        cube, info = _without_dropped_bands(args, cube, info, keep)
    _check_bands(args.cube, cube.shape[2])
    if increasing_wavelengths:
        _check_wavelengths(args.cube, info.wavelengths, info.wavelength_units)
    return cube, _with_nodata(args, info), mask


def sample(args, cube, nodata, mask=None):
    """The usable spectra of ``--sample-size`` pixels drawn across a lazy cube, and their index."""
    from hsiae.workflow.fitting import sample_pixels

    X, index = sample_pixels(cube, sample_size(args, math.inf), nodata=nodata, mask=mask, random_state=args.seed)
    logger.info("Sampled %d usable pixels across the image", len(X))
    return X, index


@contextlib.contextmanager
def scheduler(spec):
    """Run the dask computations inside on the scheduler ``spec`` names (``--scheduler``)."""
    import dask

    spec = spec or "threads"
    if spec in LOCAL_SCHEDULERS:
        with dask.config.set(scheduler=spec):
            yield
        return
    try:
        from distributed import Client
    except ImportError:
        raise CLIError(
            "--scheduler ADDRESS needs dask.distributed; install it with: pip install 'hsiae[dask]'"
        ) from None
    try:
        client = Client(spec, timeout=_CONNECT_TIMEOUT)
    except OSError as exc:
        raise OSError(
            f"could not connect to the dask scheduler at {spec} ({exc}); check the address "
            f"and that the scheduler runs ('dask scheduler'), or use --scheduler threads"
        ) from None
    logger.info(
        "Computing on the dask cluster at %s (%d workers)", spec, len(client.scheduler_info().get("workers", {}))
    )
    try:
        yield
    finally:
        client.close()


def _check_model_bands(model_info, n_bands, cube_info):
    """:func:`hsiae.persistence.check_model_bands`, saying which bands to leave out when that would fit."""
    from hsiae.persistence import check_model_bands

    try:
        check_model_bands(model_info, n_bands, cube_info.wavelengths)
    except ValueError as exc:
        raise CLIError(f"{one_line(exc).rstrip('.')}; {_band_advice(model_info, n_bands, cube_info)}") from exc


def _band_advice(model_info, n_bands, cube_info):
    """What to pass so that the cube's bands are the model's: a --drop-bands list when the wavelengths tell it."""
    import numpy as np

    model_wl, cube_wl = model_info.wavelengths, cube_info.wavelengths
    generic = "if bands were left out (--drop-bands, an ENVI bad band list), leave out the same ones as in training"
    if model_wl is None or cube_wl is None or len(model_wl) >= n_bands:
        return generic
    cube_wl = np.asarray(cube_wl, dtype=np.float64)
    match = [np.flatnonzero(np.isclose(cube_wl, w, rtol=1e-6, atol=1e-6)) for w in model_wl]
    if any(len(m) != 1 for m in match):
        return generic
    index = np.concatenate(match)
    if np.any(np.diff(index) <= 0):
        return generic
    numbers = band_numbers(cube_info, n_bands)
    extra = [numbers[i] for i in np.setdiff1d(np.arange(n_bands), index)]
    given = [b + 1 for b in cube_info.dropped_bands]  # left out already (their list is harmless to repeat)
    return (
        f"the model's {len(model_wl)} bands are bands of this cube: pass --drop-bands "
        f"{band_ranges({*given, *extra})} to leave out the others"
    )


class SavedUnmixer:
    """An unmixer given with ``--model`` (from ``hsiae unmix``)."""

    def __init__(self, path):
        from hsiae.persistence import load_model
        from hsiae.unmixer import AEUnmixer

        model, self.info = load_model(path)
        if not isinstance(model, AEUnmixer):
            raise ValueError(
                f"'{path}' holds a {type(model).__name__}, not an unmixer; pass a model written by 'hsiae unmix'"
            )
        self.unmixer = model

    def check_bands(self, n_bands, cube_info):
        _check_model_bands(self.info, n_bands, cube_info)


class SavedModel:
    """A model given with ``--model``: its head (resampler and encoder) and what it needs."""

    def __init__(self, path):
        from hsiae.persistence import load_model
        from hsiae.unmixer import AEUnmixer
        from hsiae.workflow.recipes import pipeline_parts

        model, self.info = load_model(path)
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        if isinstance(final, AEUnmixer):  # model files also hold unmixers, which no command runs
            raise CLIError(
                f"'{path}' holds an unmixer (AEUnmixer), not a segmentation or denoising model; "
                f"pass a model written by 'hsiae train', or apply the unmixer in Python with "
                f"hsiae.unmix_cube(..., fit=False)"
            )
        self.parts = pipeline_parts(model)

    @property
    def head(self):
        return self.parts.head

    def needs(self, command, n_clusters=0):
        """``needs(shape, dtype)`` for :func:`read` and :func:`open_lazy` of a run with this model.

        ``n_clusters`` is segment's ``-k``; the bands and latent size are the model's.
        """

        def needs(shape, dtype):
            return _needed_bytes(
                command,
                shape,
                dtype,
                n_bands_model=self.parts.resampler.n_bands_out_,
                zdims=self.parts.encoder.zdims,
                n_clusters=n_clusters,
                options={"n_clusters": f"-k {n_clusters}"},
            )

        return needs

    def check_bands(self, n_bands, cube_info):
        _check_model_bands(self.info, n_bands, cube_info)

"""The ``hsiae`` argument parser: its argument types, options and subcommands."""

import argparse
import math
import re

from hsiae import __version__
from hsiae.cli._errors import CLIError
from hsiae.workflow.defaults import SAMPLE_SIZE, UNMIXING, recipe_defaults

# The parser imports nothing heavy: --help and usage errors answer without loading torch.
# main() imports the module of the command to run, hsiae.cli._<command>, once the command line parsed.
COMMANDS = ("train", "segment", "denoise", "unmix", "bands", "demo")

DEMO_DEFAULTS = {
    "size": 64, "epochs": 40, "bands": 64, "zdims": 8, "k": 6, "seed": 0,
}  # fmt: skip

LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")
_ADDRESS = re.compile(r"^((tcp|tls|ucx|inproc|ws|wss)://)?[\w.\-\[\]:]+:\d+$")


class _ArgumentParser(argparse.ArgumentParser):
    """Reports usage errors as an exception, so that main() prints them as one line."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


def _int_at_least(minimum, maximum=None):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {value}")
        return value

    return parse


def _float_in(low, high=math.inf, *, low_open=False, high_open=True):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if not math.isfinite(value) or too_low or too_high:
            lo = f"{'>' if low_open else '>='} {low:g}"
            hi = "" if high == math.inf else f" and {'<' if high_open else '<='} {high:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {lo}{hi}, got {text}")
        return value

    return parse


def _nodata_value(text):
    """Argparse type of ``--nodata``: a number, or NaN for 'none' (no fill value)."""
    if text.strip().lower() in ("none", "nan"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or none, got {text!r}") from None


def band_list(text):
    """Argparse type of ``--drop-bands``: band numbers from 1 and ranges, ``1-3,108-112,224``.

    Returns the ranges as sorted ``(first, last)`` pairs, never the numbers
    one by one: ``1-1000000000`` must not fill the memory before it is
    checked against the cube (:func:`band_set` lists them then).
    """
    ranges = []
    for item in text.replace(" ", "").split(","):
        first, dash, last = item.partition("-")
        try:
            low, high = int(first), int(last if dash else first)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected band numbers and ranges separated by commas, like 1-3,108-112,224, got {text!r}"
            ) from None
        if low < 1 or high < low:
            raise argparse.ArgumentTypeError(
                f"bands are numbered from 1 and a range goes up (as 108-112), got {item!r} in {text!r}"
            )
        ranges.append((low, high))
    return tuple(sorted(ranges))


def band_set(ranges, n_bands):
    """The band numbers of ``--drop-bands``'s ranges, up to ``n_bands`` (the cube's count)."""
    return {b for low, high in ranges for b in range(low, min(high, n_bands) + 1)}


def band_ranges(numbers):
    """Band numbers written as ``--drop-bands`` takes them: ``1-3,108-112,224``."""
    numbers = sorted(int(b) for b in numbers)
    runs = []
    for b in numbers:
        if runs and b == runs[-1][1] + 1:
            runs[-1][1] = b
        else:
            runs.append([b, b])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


def _add_general(parser, *, force=True, figures=False):
    group = parser.add_argument_group("general options")
    if force:
        group.add_argument("--force", action="store_true", help="overwrite existing output files")
    if figures:
        group.add_argument(
            "--no-figures",
            action="store_true",
            help="write no PNG figures, only the data files (rasters, tables, the model); "
            "saves the seconds that drawing them takes, e.g. in batch jobs",
        )
    group.add_argument(
        "--threads",
        type=_int_at_least(1),
        metavar="N",
        help="CPU threads (default: torch's count, one per core). Training and "
        "encoding share their batches among N worker threads of one torch "
        "thread each, which stays fast when other programs compete for the cores",
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but warnings and errors; no progress bar"
    )
    group.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def _add_cube_input(parser):
    parser.add_argument(
        "cube", metavar="CUBE", help="hyperspectral cube: .tif/.tiff, .mat, .npy or ENVI (.hdr or its data file)"
    )
    group = parser.add_argument_group("reading the cube")
    group.add_argument(
        "--band-axis",
        type=int,
        choices=(0, 2),
        default=None,
        help="axis of the stored array holding the bands: 0 (bands, rows, cols) or "
        "2 (rows, cols, bands); default: from the file's metadata or shape",
    )
    group.add_argument("--variable", metavar="NAME", help="variable to read from a .mat file")
    group.add_argument(
        "--nodata",
        type=_nodata_value,
        metavar="VALUE",
        help="fill value of pixels without data: a pixel equal to VALUE in every "
        "band is no data (left out of training, labelled 0, copied unchanged "
        "by denoise, NaN abundances), as are pixels with a NaN or infinite "
        "value. Replaces the value the file declares (GDAL_NODATA, ENVI data "
        "ignore value); 'none' ignores that value (default: the file's)",
    )
    group.add_argument(
        "--mask",
        metavar="FILE",
        help="the usable pixels: a 2-D .tif/.tiff or .npy image of the cube's "
        "rows x columns, nonzero (True) where a pixel may be used, zero "
        "(False) or NaN where it may not (as GDAL masks; the opposite of "
        "numpy.ma). Applies on top of --nodata and the file's value",
    )
    group.add_argument(
        "--drop-bands",
        type=band_list,
        metavar="LIST",
        help="bands to leave out, numbered from 1 as in the file (as ENVI, GDAL and QGIS number them), "
        "e.g. 1-3,108-112,224 for noisy or water-absorption bands ('hsiae bands' suggests a list). "
        "On top of an ENVI header's bad band list; a model applied with --model needs the bands it "
        "was trained on",
    )


def _add_training(parser, defaults, *, note=""):
    group = parser.add_argument_group("training" + note)
    group.add_argument(
        "--architecture",
        choices=("conv", "dense", "lstm", "transformer"),
        help=f"autoencoder network (default: {defaults['architecture']})",
    )
    group.add_argument(
        "--zdims", type=_int_at_least(1), metavar="N", help=f"size of the latent code (default: {defaults['zdims']})"
    )
    group.add_argument(
        "--epochs",
        type=_int_at_least(1),
        metavar="N",
        help=f"maximum training epochs; training stops early when the validation "
        f"loss stops improving (default: {defaults['epochs']})",
    )
    group.add_argument(
        "--bands",
        type=_int_at_least(2),
        metavar="N",
        help=f"resample spectra to N evenly spaced bands before encoding "
        f"(default: {defaults['bands']}, as in hsiae.make_segmentation_pipeline)",
    )
    group.add_argument(
        "--batch-size",
        type=_int_at_least(2),
        metavar="N",
        help=f"spectra per training batch (default: {defaults['batch_size']})",
    )
    group.add_argument(
        "--lr",
        type=_float_in(0, low_open=True),
        metavar="X",
        help=f"learning rate of the Adam optimizer (default: {defaults['lr']:g})",
    )
    group.add_argument(
        "--validation-fraction",
        type=_float_in(0, 1),
        metavar="X",
        help=f"share of pixels held out for early stopping, in [0, 1); 0 trains "
        f"on all (default: {defaults['validation_fraction']:g})",
    )
    group.add_argument(
        "--latent-activation",
        choices=("relu", "softplus"),
        help="make the latent code non-negative, as abundances are (default: none; it turns the linear path off)",
    )
    group.add_argument(
        "--latent-l1",
        type=_float_in(0),
        metavar="X",
        help="weight of a penalty that makes the latent code sparse (its L1 norm "
        "over its L2 norm) "
        "(default: 0; above 0 it turns the linear path off)",
    )
    _add_device(group)
    return group


def _add_device(group):
    group.add_argument(
        "--device", metavar="DEVICE", help="torch device to train on: cpu, cuda, cuda:1, mps (default: cpu)"
    )


def _add_model_format(group):
    group.add_argument(
        "--model-format",
        choices=("hsiae", "joblib"),
        metavar="{hsiae,joblib}",
        help="file format of the trained model: hsiae writes model.hsiae (JSON + "
        "weights, safe to share and load); joblib writes model.joblib (a "
        "pickle, which runs code when loaded) (default: hsiae)",
    )


def _add_seed(group):
    group.add_argument(
        "--seed",
        type=_int_at_least(0, 2**32 - 1),
        default=0,
        metavar="N",
        help="random seed: the same seed and data give the same result (default: 0)",
    )


def _scheduler_spec(text):
    """Argparse type of ``--scheduler``."""
    if text in LOCAL_SCHEDULERS or _ADDRESS.match(text):
        return text
    raise argparse.ArgumentTypeError(
        f"expected threads, processes, synchronous or the address of a dask scheduler "
        f"(such as tcp://10.0.0.5:8786), got {text!r}"
    )


def _add_chunks(parser, *, sample, description=None):
    """The --chunks options; ``description`` replaces the group's text (what a chunked run does)."""
    group = parser.add_argument_group(
        "large cubes (needs dask: pip install 'hsiae[dask]')",
        "With --chunks, the cube is read lazily, chunk by chunk, and never held in memory;\n"
        + (
            description
            or ("the model is trained on a random sample of pixels drawn across the whole image;\n" if sample else "")
            + "results are written to disk as each chunk is computed."
        ),
    )
    group.add_argument(
        "--chunks",
        type=_int_at_least(1),
        metavar="N",
        help="process the cube in chunks of N x N pixels (all bands), e.g. 256; "
        "each worker holds a few chunks of N*N*bands*4 bytes",
    )
    group.add_argument(
        "--scheduler",
        type=_scheduler_spec,
        metavar="SCHEDULER",
        help="dask scheduler for --chunks: threads (default), processes, "
        "synchronous, or the address of a dask.distributed scheduler "
        "(tcp://HOST:8786) whose workers see the same files",
    )
    if sample:
        group.add_argument(
            "--sample-size",
            type=_int_at_least(2),
            metavar="N",
            help=f"with --chunks: pixels drawn across the image to train on (default: {SAMPLE_SIZE:,})",
        )
    return group


def _build_parser():
    defaults = recipe_defaults()
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _ArgumentParser(
        prog="hsiae",
        description="Hyperspectral autoencoders: latent features, denoised cubes and segment maps.",
        epilog="Run 'hsiae COMMAND --help' for the options of a command.\n\n"
        "examples:\n"
        "  hsiae demo -o hsiae-demo\n"
        "  hsiae train scene.tif -o model.hsiae\n"
        "  hsiae segment scene.tif --model model.hsiae -k 6 -o segments\n\n"
        "A model's extension picks its format: .hsiae (JSON + weights, safe to load from\n"
        "anywhere: share models this way) or .joblib/.pkl (a pickle, which runs code when\n"
        "loaded: only load those from sources you trust); any other name is refused.",
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"hsiae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "train",
        formatter_class=fmt,
        help="train an autoencoder on a cube and save the model",
        description="Train a spectral autoencoder on every pixel of a cube and save it as a model file.",
        epilog="Writes MODEL, MODEL's stem + '_loss.png' (loss curves, linear and log scale) and\n"
        "+ '_history.csv' (epoch, train_loss, valid_loss, dur) next to it; --no-figures\n"
        "leaves out the PNG.\n\n"
        "examples:\n  hsiae train scene.tif -o model.hsiae --zdims 16 --epochs 60\n"
        "  hsiae train scene.tif -o denoiser.hsiae --for denoising\n"
        "  hsiae denoise scene.tif --model denoiser.hsiae -o scene_denoised.tif",
    )
    _add_cube_input(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="MODEL",
        help="model file to write: model.hsiae (safe to share), or model.joblib / "
        "model.pkl (a pickle); no other extension; its folder is created if "
        "missing",
    )
    group = _add_training(p, defaults)
    den = recipe_defaults("denoising")
    group.add_argument(
        "--for",
        dest="recipe",
        choices=("segmentation", "denoising"),
        default="segmentation",
        help=f"what the model is for, which sets the defaults: segmentation "
        f"(spectra standardised per band, latent size {defaults['zdims']}) or "
        f"denoising (spectra scaled by the data's range, latent size "
        f"{den['zdims']}); 'hsiae denoise' works best with a denoising model "
        f"(default: segmentation)",
    )
    _add_seed(group)
    _add_chunks(p, sample=True)
    _add_general(p, figures=True)
    p.set_defaults(command="train")

    p = sub.add_parser(
        "segment",
        formatter_class=fmt,
        help="segment a cube into k clusters (training first, or with --model)",
        description="Segment a cube into k spatially coherent clusters of similar spectra.",
        epilog="Writes into OUTDIR: labels.tif (clusters 1..k, 0 = no data; placed on the map\n"
        "where the cube is), segments.png, cluster_spectra.png and .csv (decoded cluster\n"
        "centres and mean +- std spectra), latent_maps.png, and when it trains:\n"
        "model.hsiae (model.joblib with --model-format joblib), model_loss.png,\n"
        "model_history.csv. --no-figures leaves out the PNG files.\n\n"
        "examples:\n"
        "  hsiae segment scene.tif -k 6 -o segments\n"
        "  hsiae segment scene.tif --model model.hsiae -k 6 -o segments\n"
        "  hsiae segment flightline.tif -k 8 -o segments --chunks 256 --threads 1\n\n"
        "With --chunks, the segment map figure and latent maps show the image\n"
        "downsampled to at most 600 pixels a side, and the mean spectra are those of\n"
        "the sampled pixels; labels.tif holds every pixel.",
    )
    _add_cube_input(p)
    p.add_argument(
        "-k", "--clusters", dest="k", type=_int_at_least(1), required=True, metavar="N", help="number of segments"
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="OUTDIR", help="folder for the outputs (created if missing)"
    )
    p.add_argument(
        "--model",
        metavar="MODEL",
        help="use the resampler and encoder of this trained model (from 'hsiae train' "
        "or 'hsiae segment') instead of training; a new k-cluster segmenter is "
        "always fitted",
    )
    p.add_argument(
        "--spatial-weight",
        type=_float_in(0),
        metavar="X",
        help=f"strength of the spatial prior: 0 ignores neighbours, larger values give "
        f"smoother segments (default: {defaults['spatial_weight']:g})",
    )
    training = _add_training(p, defaults, note=" (without --model)")
    _add_model_format(training)
    _add_seed(training)
    _add_chunks(p, sample=True)
    _add_general(p, figures=True)
    p.set_defaults(command="segment")

    p = sub.add_parser(
        "denoise",
        formatter_class=fmt,
        help="denoise a cube with a trained model",
        description="Denoise a cube with a trained model: encode and decode every spectrum.",
        epilog="The output keeps the input's layout, wavelengths, georeferencing and dtype\n"
        "(integers are rounded and clipped to the dtype's range); no-data pixels are copied\n"
        "unchanged. OUT names a TIFF (.tif, .tiff) or an ENVI cube (.hdr, .img or .dat:\n"
        "a header and its data file, in the input's interleave when it was ENVI).\n\n"
        "examples:\n  hsiae denoise scene.tif --model model.hsiae -o denoised.tif\n"
        "  hsiae denoise scene.hdr --model model.hsiae -o denoised.hdr",
    )
    _add_cube_input(p)
    p.add_argument("--model", required=True, metavar="MODEL", help="trained model from 'hsiae train'")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="denoised cube to write: .tif, or ENVI .hdr/.img/.dat; its folder is created if missing",
    )
    _add_chunks(p, sample=False)
    _add_general(p)
    p.set_defaults(command="denoise")

    u = UNMIXING
    p = sub.add_parser(
        "unmix",
        formatter_class=fmt,
        help="endmember spectra and abundance maps of a cube (training first, or with --model)",
        description="Unmix a cube: find N endmember spectra and, for every pixel, the abundance "
        "of each\n(non-negative, summing to one), with an autoencoder (hsiae.AEUnmixer).",
        epilog="Writes into OUTDIR: abundances.tif (float32, one page per endmember, NaN for\n"
        "no-data pixels), endmembers.csv (band, wavelength and one column per endmember,\n"
        "in the cube's units), endmembers.png, abundance_maps.png (one 0..1 scale for\n"
        "all), reconstruction_error.png (RMSE and spectral angle per pixel), and when it\n"
        "trains: model.hsiae (model.joblib with --model-format joblib), model_loss.png,\n"
        "model_history.csv. --no-figures leaves out the PNG files.\n\n"
        "The unmixer is trained on --sample-size pixels drawn across the image; the\n"
        "abundances cover every pixel. An abundance is the share of an endmember's\n"
        "spectral shape in the pixel, whatever the pixel's brightness.\n\n"
        "examples:\n"
        "  hsiae unmix scene.tif -p 4 -o unmixing\n"
        "  hsiae unmix other.tif --model unmixing/model.hsiae -o unmixing-other\n"
        "  hsiae unmix flightline.tif -p 6 -o unmixing --chunks 256",
    )
    _add_cube_input(p)
    p.add_argument(
        "-p",
        "--endmembers",
        dest="p",
        type=_int_at_least(1),
        metavar="N",
        help="number of endmembers (pure materials); required unless --model",
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="OUTDIR", help="folder for the outputs (created if missing)"
    )
    p.add_argument(
        "--model", metavar="MODEL", help="use this trained unmixer (model.hsiae from 'hsiae unmix') instead of training"
    )
    p.add_argument(
        "--solver",
        choices=("encoder", "fcls"),
        help="how abundances are found: the trained encoder (one pass), or fully "
        "constrained least squares with the learned endmembers (default: "
        f"{u['solver']})",
    )
    group = p.add_argument_group("training (without --model)")
    group.add_argument(
        "--epochs",
        type=_int_at_least(1),
        metavar="N",
        help=f"training epochs of 20,000 spectra (default: {u['epochs']})",
    )
    group.add_argument(
        "--batch-size",
        type=_int_at_least(2),
        metavar="N",
        help=f"spectra per training batch (default: {u['batch_size']})",
    )
    group.add_argument(
        "--lr",
        type=_float_in(0, low_open=True),
        metavar="X",
        help=f"peak learning rate of the Adam optimizer (default: {u['lr']:g})",
    )
    group.add_argument(
        "--sample-size",
        type=_int_at_least(2),
        metavar="N",
        help=f"pixels drawn across the image to train on (default: {SAMPLE_SIZE:,})",
    )
    _add_device(group)
    _add_model_format(group)
    _add_seed(group)
    _add_chunks(p, sample=False)
    _add_general(p, figures=True)
    p.set_defaults(command="unmix")

    p = sub.add_parser(
        "bands",
        formatter_class=fmt,
        help="the noise of each band, estimated from the cube alone, and the bands to leave out",
        description="Estimate each band's noise and signal-to-noise ratio from the cube alone (each band\n"
        "regressed on all the others: its residual is its noise), flag the noisy bands (water\n"
        "absorption, detector edges) and estimate the dimension of the signal subspace (HySime).",
        epilog="Writes into OUTDIR: bands.csv (band, numbered from 1 as ENVI, GDAL and QGIS number\n"
        "bands; wavelength, its column named with its units; noise_std, in the cube's units;\n"
        "snr_db; flagged, 1 or 0) and band_snr.png (the SNR per band, flagged bands marked);\n"
        "--no-figures leaves out the PNG. It prints the flagged bands as a list of ranges\n"
        "(1-3,107-113,224), ready for --drop-bands. Only usable pixels count (see --nodata\n"
        "and --mask); the estimate needs more usable pixels than bands.\n\n"
        "examples:\n"
        "  hsiae bands scene.tif -o bands\n"
        "  hsiae bands scene.hdr -o bands --below 10\n"
        "  hsiae bands flightline.tif -o bands --chunks 256",
    )
    _add_cube_input(p)
    p.add_argument(
        "-o", "--output", required=True, metavar="OUTDIR", help="folder for the outputs (created if missing)"
    )
    p.add_argument(
        "--below",
        type=_float_in(0, low_open=True),
        default=15.0,
        metavar="DB",
        help="flag a band whose SNR is more than DB dB below the median band's (default: 15)",
    )
    group = _add_chunks(
        p,
        sample=False,
        description="the noise is estimated from a random sample of pixels drawn across the whole image.",
    )
    group.add_argument(
        "--sample-size",
        type=_int_at_least(2),
        metavar="N",
        help=f"with --chunks: pixels drawn across the image to estimate the noise from; without "
        f"--chunks every usable pixel counts (default: {SAMPLE_SIZE:,})",
    )
    _add_general(p, figures=True)
    p.set_defaults(command="bands", seed=0, uses_torch=False)  # --threads bounds its BLAS threads instead

    d = DEMO_DEFAULTS
    p = sub.add_parser(
        "demo",
        formatter_class=fmt,
        help="the whole pipeline on a built-in synthetic scene",
        description="Run the whole pipeline on a built-in synthetic scene and write every figure.",
        epilog="The scene (hsiae.datasets.make_synthetic_scene) knows its clean spectra and its\n"
        "segments, so the demo reports the adjusted Rand index of the segments and the\n"
        "PSNR of the denoised cube. It takes about a minute on two CPU cores.\n\n"
        "The demo OVERWRITES its own output files in OUTDIR (there is no --force).\n\n"
        "example:\n  hsiae demo -o hsiae-demo",
    )
    p.add_argument(
        "-o", "--output", default="hsiae-demo", metavar="OUTDIR", help="folder for the outputs (default: hsiae-demo)"
    )
    adv = p.add_argument_group("advanced options (smaller, faster runs, e.g. for tests)")
    adv.add_argument(
        "--size",
        type=_int_at_least(8),
        default=d["size"],
        metavar="N",
        help=f"scene of N x N pixels (default: {d['size']})",
    )
    adv.add_argument(
        "--epochs",
        type=_int_at_least(1),
        default=d["epochs"],
        metavar="N",
        help=f"maximum training epochs (default: {d['epochs']})",
    )
    adv.add_argument(
        "--bands",
        type=_int_at_least(2),
        default=d["bands"],
        metavar="N",
        help=f"bands the 128-band scene is resampled to (default: {d['bands']})",
    )
    adv.add_argument(
        "--seed",
        type=_int_at_least(0, 2**32 - 1),
        default=d["seed"],
        metavar="N",
        help=f"random seed (default: {d['seed']})",
    )
    _add_model_format(adv)
    _add_general(p, force=False)
    p.set_defaults(command="demo", force=True, zdims=d["zdims"], k=d["k"])
    return parser

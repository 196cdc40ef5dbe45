"""``hsiae bands``: each band's noise and signal-to-noise ratio, estimated from the cube alone.

Run before training, it shows which bands are noisy (water absorption,
detector edges) and suggests the bands to leave out. The estimate
(:mod:`hsiae.noise`) regresses each band on all the others over the usable
pixels: every one of them in memory, or with ``--chunks`` a sample drawn
across the image. Only the bands' correlation matrix is kept, so the
sample's size, not the image's, sets the cost.
"""

import contextlib
import csv
import math

import numpy as np

from hsiae.cli._inputs import band_numbers, chunked, open_lazy, pixels, read, sample, sample_size, scheduler
from hsiae.cli._outputs import band_columns, pyplot, save_figure
from hsiae.cli._parser import band_ranges, band_set
from hsiae.cli._staging import logger

_FILES = {
    "table": ("bands.csv", "band noise table"),
    "figure": ("band_snr.png", "band SNR figure"),
}
# The figures among them: left out with --no-figures.
_FIGURES = ("figure",)
# Spectra the noise estimate turns into float64 at a time (hsiae.noise accumulates the correlation by blocks).
_BLOCK = 65_536
_FLOAT32 = 4
_FLOAT64 = 8
# bands x bands float64 matrices alive at once in hsiae.noise.noise_statistics, with room for LAPACK's work
_BAND_MATRICES = 10


def _needs(shape, dtype):
    """Bytes held at once by the estimate of a cube of ``shape``.

    The float32 spectra, their copy with no data filled, the usable ones, a
    float64 block, and the estimate's bands x bands matrices (the
    correlation, its inverse, the eigenvectors and their products), which
    outgrow the spectra when a cube has nearly as many bands as pixels.
    """
    n_pixels = math.prod(shape[:2])
    n_bands = shape[2]
    spectra = 3 * n_pixels * n_bands * _FLOAT32 + min(n_pixels, _BLOCK) * n_bands * _FLOAT64
    return spectra + _BAND_MATRICES * n_bands**2 * _FLOAT64


def _check_pixels(args, n_usable, n_bands, lazy):
    """Refuse fewer usable pixels than the regression of each band on the others needs, before estimating."""
    if n_usable > n_bands:
        return
    if lazy:
        where = f"the {sample_size(args, math.inf):,} pixels drawn across '{args.cube}' hold"
        advice = "raise --sample-size, or check --nodata and --mask"
    else:
        where = f"'{args.cube}' has"
        advice = "pass a larger cube, or check --nodata and --mask"
    raise ValueError(
        f"{where} {n_usable} usable pixels for {n_bands} bands; the noise estimate regresses each band on the "
        f"{n_bands - 1} others, which needs at least {n_bands + 1} usable pixels (many more for a good "
        f"estimate); {advice}"
    )


def _write_table(path, numbers, info, noise_std, snr, flagged):
    header, bands = band_columns(info.wavelengths, info.wavelength_units, numbers)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*header, "noise_std", "snr_db", "flagged"])
        for b, leading in enumerate(bands):
            writer.writerow([*leading, f"{noise_std[b]:.9g}", f"{snr[b]:.9g}", int(flagged[b])])


def _figure(snr, flagged, below, numbers, wavelengths, units):
    from hsiae.plotting import plot_band_snr

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    # without wavelengths, the bands' numbers from 1 (as in bands.csv) rather than indices from 0
    x = numbers if wavelengths is None else wavelengths
    plot_band_snr(
        snr,
        wavelengths=x,
        wavelength_units=units,
        marked=flagged,
        marked_label=f"More than {below:g} dB below the median",
        ax=ax,
    )
    threshold = float(np.median(snr)) - below
    if np.isfinite(threshold):
        ax.axhline(threshold, color="C3", linestyle="--", linewidth=0.8, label=f"Median - {below:g} dB", zorder=1)
        ax.legend(loc="best", frameon=False)
    if wavelengths is None:
        ax.set_xlabel("Band (numbered from 1)")
    return fig


def run(args, out):
    from threadpoolctl import threadpool_limits

    from hsiae.noise import noise_statistics

    lazy = chunked(args)
    outdir = out.plan_dir(args.output)
    figures = not args.no_figures
    paths = {
        key: out.plan(outdir / name, what) for key, (name, what) in _FILES.items() if figures or key not in _FIGURES
    }
    # no resampling: the wavelengths only label the bands, in whatever order
    cube, info, mask = (open_lazy if lazy else read)(
        args, "estimating the noise of", _needs, increasing_wavelengths=False
    )
    n_bands = cube.shape[2]
    if lazy:
        with scheduler(args.scheduler):
            X, _ = sample(args, cube, info.nodata, mask)
    else:
        from hsiae.workflow.usable import usable_rows

        X, valid, _ = pixels(cube, info.nodata, mask)
        X = usable_rows(X, valid)
    del cube
    _check_pixels(args, len(X), n_bands, lazy)
    logger.info("Estimating the noise of %d bands from %d usable pixels", n_bands, len(X))
    # the estimate is matrix products in numpy's BLAS: --threads bounds its threads as it bounds torch's
    with threadpool_limits(args.threads, user_api="blas") if args.threads else contextlib.nullcontext():
        stats = noise_statistics(X)
    noise_std, snr, dimension = stats.noise_std, stats.snr, stats.n_components
    del X
    median = float(np.median(snr))
    flagged = snr < median - args.below
    numbers = np.asarray(band_numbers(info, n_bands))  # in the file, from 1
    _write_table(out.stage(paths["table"]), numbers, info, noise_std, snr, flagged)
    if figures:
        fig = _figure(snr, flagged, args.below, numbers, info.wavelengths, info.wavelength_units)
        save_figure(fig, out.stage(paths["figure"]))

    # printed after the list of files, as the last word
    summary = [f"Bands: median SNR {median:.1f} dB over {n_bands} bands"]
    n_flagged = int(flagged.sum())
    if n_flagged:
        listed = band_ranges(numbers[flagged])
        # the list to pass next time: with the bands this run's --drop-bands left out already
        given = band_set(getattr(args, "drop_bands", None) or (), n_bands + len(info.dropped_bands))
        already = f" (with the {len(given)} bands --drop-bands left out already)" if given else ""
        summary += [
            f"  {n_flagged} band{'s' if n_flagged != 1 else ''} more than {args.below:g} dB below the median: {listed}",
            f"  to leave them out: --drop-bands {band_ranges({*given, *numbers[flagged]})}{already}",
        ]
    else:
        summary.append(f"  no band is more than {args.below:g} dB below the median")
    summary.append(
        f"  signal subspace: {dimension} dimension{'s' if dimension != 1 else ''} (HySime; the number of "
        f"endmembers of a linear mixture, an upper bound on real scenes)"
    )
    return summary

"""``hsiae denoise``: encode and decode every spectrum of a cube with a trained model."""

from pathlib import Path

import numpy as np

from hsiae.cli._errors import CLIError
from hsiae.cli._inputs import SavedModel, chunked, open_lazy, pixels, read, scheduler
from hsiae.cli._outputs import output_georeference, tiff_band_axis
from hsiae.cli._staging import logger


def _cast_like(values, dtype):
    """``values`` in ``dtype``: floats cast; integers rounded and clipped to the dtype's range."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    limits = np.iinfo(dtype)
    return np.clip(np.rint(values), limits.min, limits.max).astype(dtype)


def _merged(original, denoised, valid):
    """``original`` (rows, cols, bands) with its ``valid`` pixels replaced by ``denoised`` rows.

    The result has the input's dtype; every other pixel (no data) is copied
    bit for bit from the input.
    """
    result = np.array(original, order="C")  # a C-ordered copy, so that the reshape is a view
    result.reshape(-1, result.shape[-1])[valid] = _cast_like(denoised, result.dtype)
    return result


def _merge_block(original, denoised, mask=None, *, nodata):
    """:func:`_merged` of a chunk: its usable pixels (``mask``: its part of the mask) denoised."""
    from hsiae.workflow.usable import usable_mask

    B = original.shape[-1]
    raw = np.ascontiguousarray(original).reshape(-1, B)
    valid = usable_mask(raw, nodata, mask=None if mask is None else mask.reshape(-1))
    return _merged(original, denoised.reshape(-1, B)[valid], valid)


# -o names: TIFF, or ENVI (named by its header or its data file)
_TIFF_NAMES = (".tif", ".tiff")
_ENVI_NAMES = (".hdr", ".img", ".dat")
# what ENVI's "data type" can store
_ENVI_DTYPES = ("uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64")
_ENVI_INTERLEAVES = {0: "bsq", 1: "bil", 2: "bip"}


def _plan_output(out, target):
    """Plan the denoised cube: ("tiff", path) or ("envi", (header, data file)), from the name -o gives."""
    suffix = target.suffix.lower()
    if suffix in _TIFF_NAMES:
        return "tiff", out.plan(target, "denoised cube")
    if suffix not in _ENVI_NAMES:
        raise CLIError(
            f"the denoised cube is written as TIFF (.tif, .tiff) or ENVI (.hdr, .img, .dat): give -o one of "
            f"these names, not '{target}'"
        )
    header = target.with_suffix(".hdr")
    data = target.with_suffix(".img") if suffix == ".hdr" else target
    return "envi", (out.plan(data, "denoised cube"), out.plan(header, "denoised cube's ENVI header"))


def run(args, out):
    fmt, planned = _plan_output(out, Path(args.output))
    lazy = chunked(args)
    model = SavedModel(args.model)
    cube, info, mask = (open_lazy if lazy else read)(args, "denoising", model.needs("denoise"))
    H, W, B = cube.shape
    model.check_bands(B, info)
    if fmt == "envi" and np.dtype(cube.dtype).name not in _ENVI_DTYPES:
        raise CLIError(
            f"ENVI cannot store {np.dtype(cube.dtype).name} pixels, the type of '{args.cube}'; give -o a .tif name"
        )
    info = output_georeference(info, fmt)  # before any work: what the output can carry

    def write(writer, result):
        keywords = dict(
            wavelengths=info.wavelengths,
            wavelength_units=info.wavelength_units,
            nodata=info.nodata,
            fwhm=info.fwhm,
            georeference=info.georeference,
        )
        if fmt == "envi":
            data, header = planned
            writer(
                out.stage(header), result, interleave=_ENVI_INTERLEAVES[info.band_axis],
                data_file=out.stage(data), force=True, **keywords,
            )  # fmt: skip
        else:
            writer(out.stage(planned), result, band_axis=tiff_band_axis(info), force=True, **keywords)

    if lazy:
        import dask.array as da

        from hsiae.io import store_cube
        from hsiae.workflow.blocks import denoise_blocks
        from hsiae.workflow.usable import check_nodata, lazy_mask

        denoised = denoise_blocks(model.head, cube, nodata=info.nodata, mask=mask)
        # the no-data pixels are copied from the cube itself, in its dtype, by the same rule
        arrays = (cube, denoised) if mask is None else (cube, denoised, lazy_mask(mask, cube))
        result = da.map_blocks(_merge_block, *arrays, nodata=check_nodata(info.nodata), dtype=cube.dtype)
        logger.info("Denoising %d x %d pixels chunk by chunk", H, W)
        with scheduler(args.scheduler):
            write(store_cube, result)
        return
    from hsiae.io import write_cube
    from hsiae.workflow.spectra import denoise
    from hsiae.workflow.usable import usable_rows

    X, valid, _ = pixels(cube, info.nodata, mask, fate="copied unchanged")
    logger.info("Denoising %d spectra", int(valid.sum()))
    result = _merged(cube, denoise(model.head, usable_rows(X, valid)), valid)
    write(write_cube, result)

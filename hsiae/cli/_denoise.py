"""``hsiae denoise``: encode and decode every spectrum of a cube with a trained model."""

from pathlib import Path

import numpy as np

from hsiae.cli._common import _pixels, _read, logger
from hsiae.cli._errors import CLIError
from hsiae.cli._memory import _needed_bytes


def _cast_like(values, dtype):
    """``values`` in ``dtype``: floats cast; integers rounded and clipped to the dtype's range."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    limits = np.iinfo(dtype)
    return np.clip(np.rint(values), limits.min, limits.max).astype(dtype)


def run(args, out):
    from sklearn.pipeline import Pipeline

    from hsiae import denoise
    from hsiae.workflow.usable import usable_rows
    from hsiae.io import write_cube
    from hsiae.persistence import check_model_bands, load_model

    target = Path(args.output)
    if target.suffix.lower() not in (".tif", ".tiff"):
        raise CLIError(
            f"the denoised cube is written as TIFF: give -o a .tif or .tiff name, not '{target}'"
        )
    if target.exists() and target.resolve() == Path(args.cube).resolve():
        raise CLIError(f"-o '{target}' is the input cube; write the denoised cube to another file")
    from hsiae.cli._chunked import _check_chunk_options, _denoise_chunked

    chunked = _check_chunk_options(args)
    out.plan(target, "denoised cube")
    model, model_info = load_model(args.model)
    if chunked:
        return _denoise_chunked(args, out, target, model, model_info)

    def needs(shape, dtype):
        return _needed_bytes("denoise", shape, dtype, n_bands_model=model[0].n_bands_out_,
                             zdims=model[1].zdims)

    cube, info = _read(args, "denoising", needs)
    H, W, B = cube.shape
    check_model_bands(model_info, B, info.wavelengths)
    X, valid, _ = _pixels(cube, info.nodata)
    head = Pipeline(model.steps[:2])
    logger.info("Denoising %d spectra", int(valid.sum()))
    # A C-ordered copy in the input's dtype, so that flat is a view; no-data pixels stay as is.
    result = np.array(cube, order="C")
    flat = result.reshape(H * W, B)
    flat[valid] = _cast_like(denoise(head, usable_rows(X, valid)), cube.dtype)
    band_axis = info.band_axis
    if band_axis not in (0, 2):
        logger.info("The input is band-interleaved by line, which TIFF cannot store; "
                    "writing one page per band")
        band_axis = 0
    write_cube(out.stage(target), result, band_axis=band_axis, wavelengths=info.wavelengths,
               wavelength_units=info.wavelength_units, nodata=info.nodata)

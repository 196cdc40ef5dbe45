"""ENVI cubes: the ``.hdr`` header and the raw BSQ, BIL or BIP data file beside it, read and written."""

import contextlib
import sys
from pathlib import Path

import numpy as np

from hsiae.io._common import (
    CubeFormatError,
    CubeInfo,
    _checked_wavelengths,
    _library_errors,
    _nodata_text,
    _normalise_units,
    _parse_nodata,
    _sniff,
    logger,
)
from hsiae.io._geo import _georeference_from_envi

_ENVI_DATA_SUFFIXES = (".img", ".dat", ".raw", ".bsq", ".bil", ".bip")

# ENVI "data type" codes (6 and 9 are complex, 0 undefined)
_ENVI_DTYPES = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8", 15: "u8"}
# interleave -> (stored axes as (rows, cols, bands) positions, band axis in the file)
_ENVI_LAYOUTS = {"bsq": ((1, 2, 0), 0), "bil": ((0, 2, 1), 1), "bip": ((0, 1, 2), 2)}


def _envi_header_candidates(data_path):
    names = [data_path.with_suffix(".hdr") if data_path.suffix else None,
             data_path.with_name(data_path.name + ".hdr")]  # fmt: skip
    names += [p.with_name(p.stem + ".HDR") for p in names if p is not None]
    return list(dict.fromkeys(p for p in names if p is not None))


def _envi_header_for(data_path):
    return next((p for p in _envi_header_candidates(data_path) if p.is_file()), None)


def _envi_data_for(header_path):
    base = header_path.with_suffix("")  # scene.hdr -> scene, scene.img.hdr -> scene.img
    candidates = [base] + [base.with_name(base.name + ext) for ext in _ENVI_DATA_SUFFIXES]
    candidates += [base.with_name(base.name + ext.upper()) for ext in _ENVI_DATA_SUFFIXES]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        tried = ", ".join(p.name for p in candidates[: 1 + len(_ENVI_DATA_SUFFIXES)])
        raise CubeFormatError(
            f"Expected the ENVI data file of header '{header_path}' beside it but found "
            f"none (tried {tried}); put the data file next to the header"
        )
    return found


def _parse_envi_header(path):
    """Return the fields of an ENVI header as a dict of lower-case key -> text."""
    lines = [line for line in path.read_bytes().decode("latin-1").splitlines() if line.strip()]
    if not lines or lines[0].strip() != "ENVI":
        found = _sniff(path)
        raise CubeFormatError(
            f"Expected an ENVI header starting with the line 'ENVI' at '{path}' but "
            f"{'its content looks like ' + found if found else 'it starts differently'}; "
            f"pass the .hdr file of an ENVI image"
        )
    fields, lines = {}, iter(lines[1:])
    for line in lines:
        if "=" not in line or line.lstrip().startswith(";"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if value.startswith("{"):
            while "}" not in value:
                try:
                    value += " " + next(lines).strip()
                except StopIteration:
                    raise CubeFormatError(
                        f"Expected a closing '}}' for the field '{key.strip()}' in ENVI "
                        f"header '{path}' but the file ended; repair the header"
                    ) from None
            value = value[1 : value.rindex("}")]
        fields[" ".join(key.lower().split())] = value.strip()
    return fields


def _envi_int(path, fields, key, default=None):
    text = fields.get(key)
    if text is None and default is not None:
        return default
    try:
        return int(text)
    except (TypeError, ValueError):
        raise CubeFormatError(
            f"Expected an integer '{key}' in ENVI header '{path}' but found "
            f"{'nothing' if text is None else repr(text)}; repair the header"
        ) from None


def _read_envi(path, band_axis, mmap, before_load):
    if path.suffix.lower() == ".hdr":
        header_path, data_path = path, _envi_data_for(path)
    else:
        header_path, data_path = _envi_header_for(path), path
    fields = _parse_envi_header(header_path)
    samples, lines_, bands = (_envi_int(header_path, fields, key) for key in ("samples", "lines", "bands"))
    if min(samples, lines_, bands) < 1:
        raise CubeFormatError(
            f"Expected positive samples, lines and bands in ENVI header '{header_path}' but "
            f"found {samples}, {lines_} and {bands}; repair the header"
        )
    code = _envi_int(header_path, fields, "data type")
    if code not in _ENVI_DTYPES:
        raise CubeFormatError(
            f"Expected an ENVI data type among {sorted(_ENVI_DTYPES)} in '{header_path}' but "
            f"found {code} (6 and 9 are complex, which a cube cannot hold); convert the data"
        )
    byte_order = _envi_int(header_path, fields, "byte order", default=0)
    if byte_order not in (0, 1):
        raise CubeFormatError(
            f"Expected 'byte order' 0 (little-endian) or 1 (big-endian) in '{header_path}' "
            f"but found {byte_order}; repair the header"
        )
    dtype = np.dtype(("<", ">")[byte_order] + _ENVI_DTYPES[code])
    offset = _envi_int(header_path, fields, "header offset", default=0)
    interleave = fields.get("interleave", "bsq").strip().lower()
    if interleave not in _ENVI_LAYOUTS:
        raise CubeFormatError(
            f"Expected 'interleave' bsq, bil or bip in '{header_path}' but found {interleave!r}; repair the header"
        )
    if band_axis is not None and band_axis != _ENVI_LAYOUTS[interleave][1]:
        logger.warning(
            "the bands are read from axis %d, as asked, against 'interleave = %s' in '%s'",
            band_axis,
            interleave,
            header_path,
        )
        interleave = "bsq" if band_axis == 0 else "bip"
    perm, axis = _ENVI_LAYOUTS[interleave]
    stored = {
        "bsq": (bands, lines_, samples),
        "bil": (lines_, bands, samples),
        "bip": (lines_, samples, bands),
    }[interleave]

    expected = offset + samples * lines_ * bands * dtype.itemsize
    size = data_path.stat().st_size
    if size != expected:
        raise CubeFormatError(
            f"Expected {expected} bytes in ENVI data file '{data_path}' ({lines_} lines x "
            f"{samples} samples x {bands} bands of {dtype.itemsize}-byte {dtype.name} after "
            f"a {offset}-byte header offset) but it has {size}; check samples, lines, "
            f"bands, data type and header offset in '{header_path.name}', or copy the data again"
        )
    keep = _good_bands(header_path, fields, bands)
    dropping = len(keep) < bands
    if not mmap or (dropping and mmap != "lazy"):
        before_load((lines_, samples, len(keep)), dtype)
    with _library_errors(data_path, "an ENVI data file", {None}):
        if mmap or dropping:
            data = np.memmap(data_path, dtype=dtype, mode="r", offset=offset, shape=stored)
        else:
            count = samples * lines_ * bands
            data = np.fromfile(data_path, dtype=dtype, count=count, offset=offset).reshape(stored)
    cube = np.transpose(data, perm)
    if dropping and mmap != "lazy":  # open_cube drops them from its lazy array
        cube = np.take(cube, keep, axis=2)

    wavelengths = _per_band_field(header_path, fields, "wavelength", bands)
    units = _normalise_units(fields.get("wavelength units")) if wavelengths is not None else None
    fwhm = _per_band_field(header_path, fields, "fwhm", bands)
    nodata = _parse_nodata(header_path, fields.get("data ignore value"))
    info = CubeInfo(
        path=data_path, format="envi", band_axis=axis,
        wavelengths=_kept(wavelengths, keep), wavelength_units=units, nodata=nodata,
        fwhm=_kept(fwhm, keep), georeference=_georeference_from_envi(header_path, data_path, fields),
        dropped_bands=tuple(int(b) for b in np.setdiff1d(np.arange(bands), keep)),
    )  # fmt: skip
    return cube, info


def _envi_list(fields, key):
    """The items of a ``{a, b, c}`` header field, as stripped strings (None when absent)."""
    if key not in fields:
        return None
    return [v.strip() for v in fields[key].split(",") if v.strip()]


def _per_band_field(header_path, fields, key, n_bands):
    """A header field of one number per band (``wavelength``, ``fwhm``) as read-only floats, or None."""
    values = _envi_list(fields, key)
    return None if values is None else _checked_wavelengths(header_path, values, n_bands, f"'{key}'")


def _kept(values, keep):
    if values is None or len(keep) == len(values):
        return values
    values = values[keep]
    values.flags.writeable = False
    return values


def _good_bands(header_path, fields, n_bands):
    """Indices of the bands the header's ``bbl`` (bad band list: 1 good, 0 bad) keeps; all without one."""
    everything = np.arange(n_bands)
    values = _envi_list(fields, "bbl")
    if values is None:
        return everything
    try:
        good = np.array([float(v) for v in values]) != 0
    except ValueError:
        logger.warning("Ignoring the unreadable bad band list 'bbl' of '%s'; every band is read", header_path)
        return everything
    if good.size != n_bands:
        logger.warning(
            "Ignoring the bad band list 'bbl' of '%s': it lists %d bands and the cube has %d; every band is read",
            header_path, good.size, n_bands,
        )  # fmt: skip
        return everything
    if not good.any():
        raise CubeFormatError(
            f"Expected at least one good band in the bad band list 'bbl' of '{header_path}' but it marks all "
            f"{n_bands} bands bad (0); set the good ones to 1, or remove 'bbl' to read every band"
        )
    keep = np.flatnonzero(good)
    if keep.size < n_bands:
        logger.info(
            "Leaving out the %d bands that 'bbl' marks bad in '%s' (bands %s, from 0); %d bands remain",
            n_bands - keep.size, header_path, _ranges(np.flatnonzero(~good)), keep.size,
        )  # fmt: skip
    return keep


def _ranges(indices):
    """``[0, 1, 2, 5, 7, 8]`` as "0-2, 5, 7-8"."""
    parts, start = [], None
    for i, value in enumerate(indices):
        if start is None:
            start = value
        if i + 1 == len(indices) or indices[i + 1] != value + 1:
            parts.append(f"{start}" if start == value else f"{start}-{value}")
            start = None
    return ", ".join(parts)


# -- writing ---------------------------------------------------------------------------------

_ENVI_CODES = {np.dtype(v).str[1:]: k for k, v in _ENVI_DTYPES.items()}  # "u2" -> 12
_ENVI_INTERLEAVES = {0: "bsq", 1: "bil", 2: "bip"}  # band axis in the file -> interleave
# hsiae's units (as _normalise_units gives them) -> ENVI's names
_ENVI_UNITS = {"nm": "Nanometers", "um": "Micrometers", "mm": "Millimeters", "cm": "Centimeters",
               "m": "Meters", "cm-1": "Wavenumber"}  # fmt: skip


def _envi_output_paths(path, data_file=None):
    """(header, data file) of an ENVI output named by its header or its data file."""
    if path.suffix.lower() == ".hdr":
        return path, Path(data_file) if data_file is not None else path.with_suffix(".img")
    if data_file is not None:
        raise ValueError(f"data_file is for a header path (.hdr), but '{path}' names the data file itself")
    return path.with_suffix(".hdr"), path


def _envi_interleave(interleave, band_axis):
    """``interleave`` checked, or the one that stores the bands on ``band_axis``."""
    if interleave is None:
        if band_axis not in _ENVI_INTERLEAVES:
            raise ValueError(f"band_axis must be 0 (bsq), 1 (bil) or 2 (bip) for ENVI, got {band_axis!r}")
        return _ENVI_INTERLEAVES[band_axis]
    text = str(interleave).lower()
    if text not in _ENVI_LAYOUTS:
        raise ValueError(f"interleave must be 'bsq', 'bil' or 'bip', got {interleave!r}")
    return text


def _envi_code(dtype):
    code = _ENVI_CODES.get(np.dtype(dtype).str[1:])
    if code is None:
        raise ValueError(
            f"ENVI stores {', '.join(sorted({np.dtype(v).name for v in _ENVI_DTYPES.values()}))} pixels, not "
            f"{np.dtype(dtype).name}; convert the cube with cube.astype(...) or write a TIFF"
        )
    return code


def _envi_numbers(values):
    return "{" + ", ".join(repr(float(v)) for v in values) + "}"


def _file_byteorder(dtype):
    """'<' or '>': the byte order of ``dtype``, native ('=' and '|') resolved."""
    order = np.dtype(dtype).byteorder
    if order in "=|":
        return "<" if sys.byteorder == "little" else ">"
    return order


def _envi_header(shape, dtype, interleave, *, wavelengths, wavelength_units, fwhm, bbl, nodata, geo_fields):
    """The text of an ENVI header for a ``shape`` (rows, cols, bands) cube stored ``interleave``."""
    from hsiae import __version__

    rows, cols, bands = shape
    lines = [
        "ENVI",
        f"description = {{written by hsiae {__version__}}}",
        f"samples = {cols}",
        f"lines = {rows}",
        f"bands = {bands}",
        "header offset = 0",
        "file type = ENVI Standard",
        f"data type = {_envi_code(dtype)}",
        f"interleave = {interleave}",
        f"byte order = {int(_file_byteorder(dtype) == '>')}",
    ]
    lines += [f"{key} = {{{value}}}" for key, value in geo_fields.items()]
    if wavelengths is not None:
        if wavelength_units is not None:
            lines.append(f"wavelength units = {_ENVI_UNITS.get(wavelength_units, wavelength_units)}")
        lines.append(f"wavelength = {_envi_numbers(wavelengths)}")
    if fwhm is not None:
        lines.append(f"fwhm = {_envi_numbers(fwhm)}")
    if bbl is not None:
        lines.append("bbl = {" + ", ".join(str(int(v)) for v in bbl) + "}")
    if nodata is not None:
        lines.append(f"data ignore value = {_nodata_text(float(nodata))}")
    return "\n".join(lines) + "\n"


def _checked_bbl(bbl, n_bands):
    """``bbl`` as an array of 0 and 1 per band, or None; raise ValueError otherwise."""
    if bbl is None:
        return None
    values = np.asarray(bbl)
    if values.shape != (n_bands,) or not np.isin(values, (0, 1)).all():
        raise ValueError(
            f"Expected a bad band list (bbl) of one 0 (bad) or 1 (good) per band, shape ({n_bands},), but got "
            f"{values.dtype} values of shape {values.shape}; pass e.g. np.ones({n_bands}, int) with 0 at bad bands"
        )
    return values.astype(np.uint8)


def _envi_segments(cube, interleave, native, strip_bytes):
    """The data file of ``cube`` stored ``interleave``, as a sequence of byte strings (a page or a strip each)."""
    rows, cols, bands = cube.shape
    if interleave == "bsq":
        for b in range(bands):
            yield np.ascontiguousarray(cube[:, :, b], dtype=native).tobytes()
        return
    step = max(1, strip_bytes // (cols * bands * cube.itemsize))
    for start in range(0, rows, step):
        strip = cube[start : start + step]
        if interleave == "bil":
            strip = np.swapaxes(strip, 1, 2)
        yield np.ascontiguousarray(strip, dtype=native).tobytes()


def _write_envi_pair(header, data, force, write_data, header_text):
    """Write an ENVI data file and its header atomically, both or neither.

    Each goes to a temporary file beside its target; the data file is moved
    into place first (a header is never there without its data), then the
    header; if the second move fails, the first is taken back.
    """
    from hsiae.io._atomic import check_target, commit, discard, temporary_beside

    for target in (data, header):
        check_target(target, force=force)
    tmp_data, tmp_header = temporary_beside(data), temporary_beside(header)
    done = []
    try:
        write_data(tmp_data)
        with open(tmp_header, "x", encoding="ascii", errors="replace") as fh:
            fh.write(header_text)
        for tmp, target in ((tmp_data, data), (tmp_header, header)):
            done.append(commit(tmp, target, force=force, keep_previous=True))
    except BaseException:
        for record in reversed(done):
            with contextlib.suppress(OSError):
                record.undo()
        discard(tmp_data)
        discard(tmp_header)
        raise
    for record in done:
        record.finish()

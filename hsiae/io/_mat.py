"""Reading MATLAB ``.mat`` cubes: v4/v5 through scipy, v7.3 (HDF5) through h5py."""

import itertools
import math
import struct
import zlib

import h5py
import numpy as np
import scipy.io

from hsiae.exceptions import Param
from hsiae.io._common import CubeFormatError, CubeInfo, _library_errors, _memmap, _resolve_layout

_MATLAB_NUMERIC = {
    "double", "single", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
}  # fmt: skip
_MATLAB_DTYPES = {"double": "f8", "single": "f4", **{c: c for c in _MATLAB_NUMERIC if "int" in c}}


def _read_mat(path, band_axis, mmap, before_load, variable):
    layout = []

    def check(shape, dtype):
        """Resolve the layout from the stored shape, then announce a load into memory."""
        layout.append(_resolve_layout(path, shape, band_axis, None, None))
        before_load(tuple(shape[i] for i in layout[0][1]), dtype)

    if h5py.is_hdf5(path):
        expected = "a MATLAB v7.3 (HDF5) .mat file"
        with _library_errors(path, expected, {expected, "an HDF5 file"}):
            name, data = _read_mat73(path, variable, mmap, check)
    else:
        expected = "a MATLAB .mat file"
        with _library_errors(path, expected, {"a MATLAB v5 .mat file"}):
            name, data = _read_mat5(path, variable, check)
    axis, perm = layout[0] if layout else _resolve_layout(path, data.shape, band_axis, None, None)
    info = CubeInfo(path=path, format="mat", band_axis=axis, variable=name)
    return np.transpose(data, perm), info


def _pick_variable(path, variable, described, stored=None):
    """Choose the variable to read; ``described`` maps names to (shape, class).

    ``stored`` maps names to the type their values are stored in, where it
    differs from the class (see :func:`_described_class`).
    """
    stored = stored or {}
    listing = (
        "; ".join(f"{n} {tuple(s)} {_described_class(c, stored.get(n))}" for n, (s, c) in described.items()) or "none"
    )
    if variable is not None:
        if variable not in described:
            raise CubeFormatError(
                "Expected a variable {variable} in '{path}' but it has: {listing}; pass one of these as {option}",
                variable=repr(variable),
                path=path,
                listing=listing,
                option=Param("variable", placeholder="NAME"),
            )
        return variable
    cubes = [n for n, (s, c) in described.items() if len(s) == 3 and c in _MATLAB_NUMERIC]
    if len(cubes) == 1:
        return cubes[0]
    if cubes:
        found, what_to_do = f"{len(cubes)} 3-D numeric variables", "pass {option} to choose one"
    else:
        found = "none"
        what_to_do = (
            "pass {option} if one of them is the cube, or reshape a (bands, pixels) matrix to (rows, cols, bands) first"
        )
    raise CubeFormatError(
        "Expected exactly one 3-D numeric variable in '{path}' but found {found} (variables: {listing}); " + what_to_do,
        path=path,
        found=found,
        listing=listing,
        option=Param("variable", placeholder="NAME"),
    )


def _read_mat5(path, variable, check):
    # whosmat lists shapes and classes without reading the data
    described = {name: (shape, cls) for name, shape, cls in scipy.io.whosmat(path)}
    name = _pick_variable(path, variable, described, _stored_types(path))
    shape, cls = described[name]
    if cls not in _MATLAB_NUMERIC and cls != "logical":
        raise CubeFormatError(
            "Expected a numeric array in variable {name} of '{path}' but found MATLAB class "
            "{cls}; pass {option} naming a real numeric array",
            name=repr(name),
            path=path,
            cls=repr(cls),
            option=Param("variable", placeholder="NAME"),
        )
    _check_mat5_data(path, name)
    if cls in _MATLAB_NUMERIC:
        # the class's dtype: the stored one may be smaller, never larger
        check(tuple(shape), np.dtype(_MATLAB_DTYPES[cls]))
    # Keep the stored dtype: MATLAB stores integer-valued doubles losslessly as
    # smaller integers, and mat_dtype=True would widen them to float64.
    data = scipy.io.loadmat(path, variable_names=[name])[name]
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "biuf":
        raise CubeFormatError(
            "Expected a numeric array in variable {name} of '{path}' but found {found}; pass "
            "{option} naming a real numeric array",
            name=repr(name),
            path=path,
            found=f"{type(data).__name__} of {getattr(data, 'dtype', 'unknown type')}",
            option=Param("variable", placeholder="NAME"),
        )
    return name, data


# MAT v5 data element type codes of numbers -> bytes per value, and the type they name
_MAT5_NUMBERS = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8}
_MAT5_TYPES = {
    1: "int8",
    2: "uint8",
    3: "int16",
    4: "uint16",
    5: "int32",
    6: "uint32",
    7: "single",
    9: "double",
    12: "int64",
    13: "uint64",
}
# MAT v4 type digit P of MOPT -> (the type it names, bytes per value)
_MAT4_TYPES = {0: ("double", 8), 1: ("single", 4), 2: ("int32", 4), 3: ("int16", 2), 4: ("uint16", 2), 5: ("uint8", 1)}


def _described_class(cls, stored):
    """A variable's MATLAB class as listed in messages, with the type its values are stored in.

    MATLAB saves integer-valued doubles as smaller integers, and every
    variable of a v4 file has class double; hsiae reads the stored type
    (:func:`_read_mat5` keeps it), so listings say both: "double stored as
    int16".
    """
    if stored is None or stored == cls or cls not in _MATLAB_NUMERIC:
        return cls
    return f"{cls} stored as {stored}"


def _stored_types(path):
    """Name -> the type the values of each numeric variable of a MAT v4 or v5 file are stored in.

    Read from the variables' headers, without their data; only for messages,
    so a file these headers do not describe gives what could be read.
    """
    found = {}
    try:
        with open(path, "rb") as fh:
            header = fh.read(128)
            order = {b"IM": "<", b"MI": ">"}.get(header[126:128])
            if order is None:
                return _mat4_stored_types(fh)
            for head in _mat5_variable_heads(fh, order):
                parsed = _mat5_header(head, order)
                if parsed is not None and parsed[1] & 0xFF in _MX_NUMERIC_CLASSES and parsed[3]:
                    type_name = _MAT5_TYPES.get(parsed[3][0][0])
                    if type_name is not None:
                        found[parsed[0]] = type_name
    except (OSError, ValueError, struct.error, zlib.error):
        pass
    return found


def _mat4_stored_types(fh):
    """:func:`_stored_types` of a MAT v4 file.

    Each variable is a header of five int32 (MOPT, rows, columns, imaginary
    flag, name length), its name, then its values.
    """
    found = {}
    fh.seek(0)
    while True:
        head = fh.read(20)
        if len(head) < 20:
            return found
        for order in "<>":
            mopt, rows, cols, imaginary, name_length = struct.unpack(order + "5i", head)
            if 0 <= mopt < 2000 and rows >= 0 and cols >= 0 and 0 < name_length < 2**16:
                break
        else:
            return found
        type_name, size = _MAT4_TYPES.get(mopt % 100 // 10, (None, 0))
        name = fh.read(name_length).rstrip(b"\x00").decode("latin-1")
        if type_name is None:
            return found
        if mopt % 10 == 0:  # a full numeric matrix (1 is text, 2 sparse)
            found[name] = type_name
        fh.seek(rows * cols * size * (2 if imaginary else 1), 1)


_MI_INT32, _MI_MATRIX, _MI_COMPRESSED = 5, 14, 15
_MX_NUMERIC_CLASSES = range(6, 16)  # mxDOUBLE_CLASS .. mxUINT64_CLASS
_MAT5_HEAD_LIMIT = 2**16  # bytes of a variable's header read to check it; MATLAB needs < 1 KiB


def _mat5_elements(buf, order):
    """``(type code, byte count, data)`` of the data elements in ``buf``, in order.

    The data of the last element may be cut short when ``buf`` is; its tag is right.
    """
    pos = 0
    while pos + 8 <= len(buf):
        first, second = struct.unpack_from(order + "II", buf, pos)
        if first >> 16:  # "small data element": type and count in 4 bytes, data in the next 4
            yield first & 0xFFFF, first >> 16, buf[pos + 4 : pos + 4 + (first >> 16)]
            pos += 8
        else:
            yield first, second, buf[pos + 8 : pos + 8 + second]
            pos += 8 + second + (-second % 8)


def _mat5_variable_heads(fh, order):
    """The first bytes of every top-level variable's miMATRIX contents (inflated if compressed)."""
    pos = 128
    while True:
        fh.seek(pos)
        tag = fh.read(8)
        if len(tag) < 8:
            return
        mdtype, nbytes = struct.unpack(order + "II", tag)
        if mdtype == _MI_COMPRESSED:
            inflate, head, left = zlib.decompressobj(), b"", nbytes
            while len(head) < _MAT5_HEAD_LIMIT + 8 and left > 0 and not inflate.eof:
                chunk = fh.read(min(left, 2**16))
                if not chunk:
                    break
                left -= len(chunk)
                head += inflate.decompress(chunk, _MAT5_HEAD_LIMIT + 8 - len(head))
            if len(head) >= 8 and struct.unpack_from(order + "I", head)[0] == _MI_MATRIX:
                yield head[8:]
        elif mdtype == _MI_MATRIX:
            yield fh.read(min(nbytes, _MAT5_HEAD_LIMIT))
        pos += 8 + nbytes


def _mat5_header(head, order):
    """``(name, flags, number of values, tags of the parts)`` of a variable, or None if malformed.

    As MATLAB writes it: array flags (2 x uint32), dimensions (int32, or uint32 as
    some writers use), name (int8, or UTF-8 as some writers use), then the parts.
    """
    elements = list(itertools.islice(_mat5_elements(head, order), 5))
    if len(elements) < 3:
        return None
    (flags_type, flags_size, flags), (dims_type, dims_size, dims), (name_type, _, name) = elements[:3]
    if (flags_type, flags_size, len(flags)) != (6, 8, 8) or name_type not in (1, 16):
        return None
    if dims_type not in (5, 6) or dims_size < 8 or dims_size % 4 or len(dims) != dims_size:
        return None
    flags = struct.unpack_from(order + "I", flags)[0]
    count = math.prod(struct.unpack(f"{order}{dims_size // 4}{'i' if dims_type == 5 else 'I'}", dims))
    name = name.rstrip(b"\x00").decode("latin-1")
    return name, flags, count, [(t, n) for t, n, _ in elements[3:]]


def _check_mat5_data(path, name):
    """Refuse a damaged numeric variable that scipy's MAT v5 reader would crash on.

    scipy (up to at least 1.17) indexes a table with the type code of a data
    element without checking it, so a damaged code ends the process with a
    segmentation fault instead of an exception. So the variable is read only
    once its header is well formed and the type codes and byte counts of its
    parts are those of ``count`` numbers.
    """
    with open(path, "rb") as fh:
        header = fh.read(128)
        order = {b"IM": "<", b"MI": ">"}.get(header[126:128])
        if order is None:  # MAT v4 or not a MAT file: scipy's own checks decide
            return
        found = False
        for head in _mat5_variable_heads(fh, order):
            parsed = _mat5_header(head, order)
            if parsed is None or parsed[0] != name:
                continue
            found = True
            _, flags, count, parts = parsed
            if flags & 0xFF not in _MX_NUMERIC_CLASSES:
                continue
            complex_ = bool(flags & 0x800)
            for mdtype, nbytes in parts[: 2 if complex_ else 1] or [(None, None)]:
                size = _MAT5_NUMBERS.get(mdtype)
                if size is None or nbytes != count * size or len(parts) < 1 + complex_:
                    raise CubeFormatError(
                        f"Expected {count} numbers in variable {name!r} of '{path}' but its data "
                        f"element has type code {mdtype} and {nbytes} bytes; the file is "
                        f"damaged, so copy or save it again"
                    )
    if not found:
        raise CubeFormatError(
            f"Expected a well-formed header (flags, dimensions, name) for variable {name!r} in "
            f"'{path}' but found none; the file is damaged, so copy or save it again"
        )


def _matlab_class(dataset):
    value = dataset.attrs.get("MATLAB_class")
    if value is None:  # plain HDF5: name the dtype as MATLAB would
        name = dataset.dtype.name if dataset.dtype.kind in "iuf" else "unknown"
        return {"float64": "double", "float32": "single"}.get(name, name)
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_mat73(path, variable, mmap, check):
    with h5py.File(path, "r") as f:
        described = {}
        for name, obj in f.items():
            if name.startswith("#"):  # MATLAB's #refs# and #subsystem# groups
                continue
            if isinstance(obj, h5py.Dataset):
                # h5py shows MATLAB's column-major arrays with the axes reversed
                described[name] = (obj.shape[::-1], _matlab_class(obj))
            else:
                described[name] = ((), "struct")
        name = _pick_variable(path, variable, described)
        dataset = f[name]
        if (
            not isinstance(dataset, h5py.Dataset)
            or dataset.dtype.kind not in "iuf"
            or described[name][1] not in _MATLAB_NUMERIC
        ):
            raise CubeFormatError(
                "Expected a numeric array in variable {name} of '{path}' but found MATLAB class "
                "{cls}; pass {option} naming a numeric array",
                name=repr(name),
                path=path,
                cls=repr(described[name][1]),
                option=Param("variable", placeholder="NAME"),
            )
        offset = dataset.id.get_offset()
        if mmap and dataset.chunks is None and dataset.compression is None and offset:
            shape, dtype = dataset.shape, dataset.dtype
            data = None
        else:
            check(dataset.shape[::-1], dataset.dtype)
            data = dataset[()]
    if data is None:
        data = _memmap(path, dtype, shape, offset, "the MAT file")
    return name, data.T

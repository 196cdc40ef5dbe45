"""Reading MATLAB ``.mat`` cubes: v4/v5 through scipy, v7.3 (HDF5) through h5py."""

import h5py
import numpy as np
import scipy.io

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


def _pick_variable(path, variable, described):
    """Choose the variable to read; ``described`` maps names to (shape, class)."""
    listing = "; ".join(f"{n} {tuple(s)} {c}" for n, (s, c) in described.items()) or "none"
    if variable is not None:
        if variable not in described:
            raise CubeFormatError(
                f"Expected a variable {variable!r} in '{path}' but it has: {listing}; "
                f"pass one of these as variable="
            )
        return variable
    cubes = [n for n, (s, c) in described.items() if len(s) == 3 and c in _MATLAB_NUMERIC]
    if len(cubes) == 1:
        return cubes[0]
    if cubes:
        found, what_to_do = f"{len(cubes)} 3-D numeric variables", "pass variable= to choose one"
    else:
        found = "none"
        what_to_do = (
            "pass variable= if one of them is the cube, or reshape a (bands, pixels) "
            "matrix to (rows, cols, bands) first"
        )
    raise CubeFormatError(
        f"Expected exactly one 3-D numeric variable in '{path}' but found {found} "
        f"(variables: {listing}); {what_to_do}"
    )


def _read_mat5(path, variable, check):
    # whosmat lists shapes and classes without reading the data
    described = {name: (shape, cls) for name, shape, cls in scipy.io.whosmat(path)}
    name = _pick_variable(path, variable, described)
    shape, cls = described[name]
    if cls in _MATLAB_NUMERIC:
        # the class's dtype: the stored one may be smaller, never larger
        check(tuple(shape), np.dtype(_MATLAB_DTYPES[cls]))
    # Keep the stored dtype: MATLAB stores integer-valued doubles losslessly as
    # smaller integers, and mat_dtype=True would widen them to float64.
    data = scipy.io.loadmat(path, variable_names=[name])[name]
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "biuf":
        raise CubeFormatError(
            f"Expected a numeric array in variable {name!r} of '{path}' but found "
            f"{type(data).__name__} of {getattr(data, 'dtype', 'unknown type')}; "
            f"pass variable= naming a real numeric array"
        )
    return name, data


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
                f"Expected a numeric array in variable {name!r} of '{path}' but found "
                f"MATLAB class {described[name][1]!r}; pass variable= naming a numeric array"
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

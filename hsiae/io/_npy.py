"""Reading NumPy ``.npy`` cubes."""

import numpy as np

from hsiae.io._common import CubeInfo, _library_errors, _resolve_layout, _sniff


def _read_npy(path, band_axis, mmap, before_load):
    expected = "a NumPy .npy file"
    with _library_errors(path, expected, {expected}):
        if _sniff(path) != expected:
            raise ValueError("no .npy magic string")
        # Mapped first in any case: the header gives shape and dtype before any pixel is read.
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    axis, perm = _resolve_layout(path, data.shape, band_axis, None, None)
    if not mmap:
        before_load(tuple(data.shape[i] for i in perm), data.dtype)
        with _library_errors(path, expected, {expected}):
            data = np.array(data)
    return np.transpose(data, perm), CubeInfo(path=path, format="npy", band_axis=axis)

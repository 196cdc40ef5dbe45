"""Reading NumPy ``.npy`` cubes."""

import numpy as np

from hsiae.io._common import CubeInfo, _library_errors, _resolve_layout, _sniff


def _read_npy(path, band_axis, mmap):
    expected = "a NumPy .npy file"
    with _library_errors(path, expected, {expected}):
        if _sniff(path) != expected:
            raise ValueError("no .npy magic string")
        data = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    axis, perm = _resolve_layout(path, data.shape, band_axis, None, None)
    return np.transpose(data, perm), CubeInfo(path=path, format="npy", band_axis=axis)

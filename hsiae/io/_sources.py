"""Picklable readers and writers of pixel boxes, for dask arrays over files.

A dask array over a file must be cheap to pickle (the processes and
distributed schedulers send it to other processes) and must not hold the
file in memory. ``np.memmap`` fails the first test (it pickles its data) and,
for files larger than memory, the second: every page a process touches through
a map counts in its resident memory until the map is closed. These classes
hold only the file's name and layout and read or write each box with
positional system calls (``pread``/``pwrite``), which are thread-safe.

``perm`` is the axis order that turns the array as stored into the cube's
``(n_rows, n_cols, n_bands)``: ``cube = np.transpose(stored, perm)``.
"""

import contextlib
import itertools
import os

import numpy as np

from hsiae.io._common import (
    CubeFormatError,
    _library_errors,
    _raise_if_damaged,
    _tifffile_log,
)


def _box_and_rest(key, shape):
    """Split an index into a box (a list of (start, stop) per axis) and what to apply after.

    Boxes (slices with step 1) are read as they are; integers, steps and
    anything else NumPy indexing takes are read as their bounding box (the
    whole axis for index arrays), then applied to it.
    """
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis or k is None for k in key) or len(key) > len(shape):
        return [(0, n) for n in shape], key
    key = key + (slice(None),) * (len(shape) - len(key))
    box, rest = [], []
    for k, n in zip(key, shape):
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step == 1:
                box.append((start, max(start, stop)))
                rest.append(slice(None))
                continue
            picked = range(start, stop, step)
            if len(picked) == 0:
                box.append((0, 0))
                rest.append(slice(None))
                continue
            low, high = min(picked[0], picked[-1]), max(picked[0], picked[-1]) + 1
            box.append((low, high))
            # from the first picked index, in steps, to the box's far end (step > 0) or to 0
            rest.append(slice(picked[0] - low, None, step))
        elif isinstance(k, (int, np.integer)):
            i = int(k) + n if k < 0 else int(k)
            if not 0 <= i < n:
                raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
            box.append((i, i + 1))
            rest.append(0)
        else:
            box.append((0, n))
            rest.append(k)
    return box, tuple(rest)


def _segments(file_shape, box):
    """Yield (element offset in the file, index into the box's buffer, run length) per run.

    The buffer is the C-ordered box; each run is a contiguous stretch of the
    file (and of the buffer): the innermost axes the box covers whole are merged
    into one run.
    """
    ndim = len(file_shape)
    k = ndim - 1
    while k > 0 and box[k] == (0, file_shape[k]):
        k -= 1
    inner = int(np.prod(file_shape[k + 1 :], dtype=np.int64))
    strides = [int(np.prod(file_shape[i + 1 :], dtype=np.int64)) for i in range(ndim)]
    length = (box[k][1] - box[k][0]) * inner
    outer = [range(a, b) for a, b in box[:k]]
    for index in itertools.product(*outer):
        offset = sum(i * s for i, s in zip(index, strides)) + box[k][0] * strides[k]
        yield offset, tuple(i - a for i, (a, _) in zip(index, box)), length


class _RawSource:
    """Reads boxes of an uncompressed, contiguous array stored at ``offset`` in a file."""

    def __init__(self, path, dtype, file_shape, offset, perm):
        self.path = os.path.abspath(path)  # workers of a cluster may run in another folder
        self.file_dtype = np.dtype(dtype)
        self.file_shape = tuple(int(n) for n in file_shape)
        self.offset = int(offset)
        self.perm = tuple(perm)
        self.shape = tuple(self.file_shape[p] for p in self.perm)
        self.dtype = self.file_dtype
        self.ndim = len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def __getitem__(self, key):
        box, rest = _box_and_rest(key, self.shape)
        return self._read_box(box)[rest]

    def _read_box(self, box):
        file_box = [None] * self.ndim
        for j, p in enumerate(self.perm):
            file_box[p] = box[j]
        out = np.empty([b - a for a, b in file_box], dtype=self.file_dtype)
        if out.size:
            itemsize = self.file_dtype.itemsize
            fd = os.open(self.path, os.O_RDONLY)
            try:
                for offset, index, _ in _segments(self.file_shape, file_box):
                    # out[index] is a C-ordered view of one run
                    dest = memoryview(out[index].reshape(-1)).cast("B")
                    position = self.offset + offset * itemsize
                    got = os.preadv(fd, [dest], position)
                    if got != len(dest):
                        raise CubeFormatError(
                            f"Expected {len(dest)} bytes at offset {position} of '{self.path}' "
                            f"but read {got}; the file was truncated while being read, so "
                            f"copy or export it again"
                        )
            finally:
                os.close(fd)
        return np.transpose(out, self.perm)

    @classmethod
    def from_memmap(cls, cube):
        """The source of the pixels of a memory-mapped cube from :func:`hsiae.read_cube`."""
        base = cube
        while isinstance(base.base, np.ndarray):
            base = base.base
        if not isinstance(base, np.memmap) or not base.flags.c_contiguous:
            raise TypeError("expected a view of a C-ordered np.memmap")
        # cube = np.transpose(base, perm): match its axes to the base's by stride and length
        perm, used = [], set()
        for n, stride in zip(cube.shape, cube.strides):
            axis = next(
                i
                for i in range(base.ndim)
                if i not in used and base.shape[i] == n and (base.strides[i] == stride or n == 1)
            )
            perm.append(axis)
            used.add(axis)
        return cls(base.filename, base.dtype, base.shape, base.offset, perm)


class _RawTarget(_RawSource):
    """Writes boxes (``target[key] = block``, as :func:`dask.array.store` does) into a file."""

    def __setitem__(self, key, value):
        box, rest = _box_and_rest(key, self.shape)
        if any(r != slice(None) for r in rest):
            raise IndexError(f"only boxes (slices with step 1) can be written, got {key!r}")
        file_box = [None] * self.ndim
        for j, p in enumerate(self.perm):
            file_box[p] = box[j]
        inverse = np.argsort(self.perm)
        block = np.ascontiguousarray(np.transpose(np.asarray(value), inverse), dtype=self.file_dtype)
        expected = tuple(b - a for a, b in file_box)
        if block.shape != expected:
            raise ValueError(f"block of shape {block.shape} for a box of shape {expected}")
        if not block.size:
            return
        itemsize = self.file_dtype.itemsize
        fd = os.open(self.path, os.O_WRONLY)
        try:
            for offset, index, _ in _segments(self.file_shape, file_box):
                data = memoryview(block[index].reshape(-1)).cast("B")
                position = self.offset + offset * itemsize
                while len(data):
                    written = os.pwrite(fd, data, position)
                    data, position = data[written:], position + written
        finally:
            os.close(fd)


class _TiffZarrSource:
    """Reads boxes of the first image series of any TIFF through tifffile's Zarr store.

    For compressed, tiled or otherwise non-contiguous files, which cannot be
    read with plain offsets: tifffile decodes only the strips or tiles a box
    touches. The store holds an open file and a lock, so it is opened lazily
    in each process and never pickled.
    """

    def __init__(self, path, dtype, file_shape, perm):
        self.path = os.path.abspath(path)
        self.dtype = np.dtype(dtype)
        self.file_shape = tuple(int(n) for n in file_shape)
        self.perm = tuple(perm)
        self.shape = tuple(self.file_shape[p] for p in self.perm)
        self.ndim = len(self.shape)
        self._array = None

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_array"] = None
        return state

    def _zarr(self):
        if self._array is None:
            import tifffile
            import zarr

            # hsiae.open_cube read this file already and said what tifffile found in it
            with _tifffile_log() as records:
                store = tifffile.imread(self.path, aszarr=True, series=0, level=0)
            _raise_if_damaged(self.path, records)
            array = zarr.open(store, mode="r")
            if tuple(array.shape) != self.file_shape:
                store.close()
                raise CubeFormatError(
                    f"Expected the first image series of '{self.path}' to hold a "
                    f"{self.file_shape} array through tifffile's Zarr store but it holds "
                    f"{tuple(array.shape)}; read it with hsiae.read_cube instead"
                )
            self._array = array
        return self._array

    def __getitem__(self, key):
        box, rest = _box_and_rest(key, self.shape)
        file_key = [None] * self.ndim
        for j, p in enumerate(self.perm):
            file_key[p] = slice(*box[j])
        with _library_errors(self.path, "a TIFF file", {"TIFF"}), _tifffile_log() as records:
            data = np.asarray(self._zarr()[tuple(file_key)])
            _raise_if_damaged(self.path, records)
        return np.transpose(data.astype(self.dtype, copy=False), self.perm)[rest]


@contextlib.contextmanager
def _removing_on_error(path):
    """Remove ``path`` (a file or a folder) if the block raises."""
    try:
        yield
    except BaseException:
        import shutil

        with contextlib.suppress(OSError):
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        raise

"""Memory a run needs against what the machine has: refuse before working, not midway.

On Linux a process that asks for more memory than there is is usually killed
by the kernel, without a message and long after the work started, rather
than given a MemoryError. So every command estimates the largest arrays it
will hold at once from the cube's shape and dtype, before reading pixels,
and stops with one line when they exceed the memory available. A
MemoryError that still occurs (the estimate is approximate) becomes the same
kind of one-line error in :func:`hsiae.cli.main`.
"""

import os

_FLOAT32 = 4
_FLOAT64 = 8
# Share of the available memory a run may plan to use: the estimate leaves out
# small arrays, torch's own buffers and the figures.
_USABLE_SHARE = 0.9
_ADVICE = ("process it in chunks with --chunks N (needs dask), crop the cube (fewer rows, "
           "columns or bands) or run on a machine with more memory")


def _available_memory():
    """Bytes of memory that new allocations can get without swapping, or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the kernel writes kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _format_bytes(n):
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def _needed_bytes(command, shape, dtype, *, n_bands_model, zdims, n_clusters=0):
    """Bytes of the largest arrays ``command`` holds at once for a cube of ``shape``.

    Parameters
    ----------
    command : {"train", "segment", "denoise"}
    shape : tuple of int
        ``(n_rows, n_cols, n_bands)`` of the cube.
    dtype : numpy dtype
        The cube's dtype (denoise writes a copy in it).
    n_bands_model : int
        Bands the resampler gives the encoder.
    zdims, n_clusters : int
        Latent size, and the number of segments (segment only).

    Notes
    -----
    Memory-mapped pixels are not counted: the kernel pages them in and out
    as needed. What is counted, with ``N`` pixels, ``B`` bands and ``R``
    resampled bands: the float32 spectra ``X`` (``4NB``), the copy of the
    usable ones that training takes (``4NB``), the resampled and scaled
    spectra with their temporaries and the validation split (``16NR``),
    and for segment also the latent codes in float64 and about five arrays
    of responsibilities of the spatial mixture (``8N(z + 5k)``). denoise
    holds the spectra, an output copy in the cube's dtype, the decoded and
    back-resampled spectra and the cast result. Measured peaks of the three
    commands on a 300 x 300 x 200 float32 cube (memory-mapped pages
    excluded) came within 5% of these sums.
    """
    n_rows, n_cols, n_bands = shape
    pixels = n_rows * n_cols
    spectra = pixels * n_bands * _FLOAT32
    resampled = pixels * n_bands_model * _FLOAT32
    if command == "denoise":
        as_cube = pixels * n_bands * dtype.itemsize
        return 3 * spectra + 3 * resampled + 2 * as_cube
    training = 2 * spectra + 4 * resampled
    if command == "train":
        return training
    return training + pixels * _FLOAT64 * (zdims + 5 * n_clusters)


def _check_memory(what, needed, advice=_ADVICE):
    """Raise MemoryError with one line of advice when ``needed`` bytes will not fit."""
    available = _available_memory()
    if available is None or needed <= _USABLE_SHARE * available:
        return
    raise _OutOfMemory(
        f"{what} needs about {_format_bytes(needed)} of memory, but "
        f"{_format_bytes(available)} is available; {advice}"
    )


class _OutOfMemory(MemoryError):
    """A run that will not fit in memory, found before it starts; the message is complete."""


def _out_of_memory_message(exc):
    """One line for a MemoryError (or torch's allocation failure) raised during a run."""
    if isinstance(exc, _OutOfMemory):
        return str(exc)
    detail = " ".join(str(exc).split())
    detail = f" ({detail})" if detail else ""
    return f"ran out of memory{detail}; {_ADVICE}"


def _is_out_of_memory(exc):
    """True for MemoryError and for torch's CPU or GPU allocation failures."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        type(exc).__name__ == "OutOfMemoryError"
        or "can't allocate memory" in text
        or "out of memory" in text.lower()
    )

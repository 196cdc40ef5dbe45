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
from pathlib import Path

_FLOAT32 = 4
_FLOAT64 = 8
# Share of the available memory a run may plan to use: the estimate leaves out
# small arrays, torch's own buffers and the figures.
_USABLE_SHARE = 0.9
_ADVICE = (
    "process it in chunks with --chunks N (needs dask), crop the cube (fewer rows, "
    "columns or bands) or run on a machine with more memory"
)


def _available_memory():
    """Bytes of memory that new allocations can get without swapping, or None if unknown.

    The machine's available memory, or less when the process runs in a control
    group with a memory limit (a container, a Slurm or Kubernetes job), whose
    limit is what the kernel enforces by killing the process.
    """
    machine = _machine_available()
    group = _cgroup_available()
    if machine is None or group is None:
        return machine if group is None else group
    return min(machine, group)


def _machine_available():
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


# A limit this large is "no limit" (cgroup v1 writes 2**63 rounded down to a page).
_NO_LIMIT = 2**60


def _read_number(path):
    try:
        text = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None  # cgroup v2 writes "max" for no limit


def _read_stat(path, key):
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except (OSError, UnicodeDecodeError):
        pass
    return 0


def _cgroup_available(proc_cgroup="/proc/self/cgroup", root="/sys/fs/cgroup"):
    """Bytes this process's memory control group still allows, or None without a limit.

    For cgroup v2 (the ``0::path`` line) and v1 (the ``memory`` controller's
    line), every folder from the process's group up to the mount's root is
    read, so the tightest ancestor limit counts, and a container that sees its
    own group at the mount's root (where the recorded path does not exist) is
    covered too. Free is ``limit - usage + inactive page cache``: the kernel
    reclaims that cache before it kills.
    """
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    free = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            base, names = Path(root), ("memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):
            base = Path(root) / "memory"
            names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        relative = Path(path.strip().lstrip("/"))
        for folder in (base / relative, *(base / p for p in relative.parents)):
            limit = _read_number(folder / names[0])
            usage = _read_number(folder / names[1])
            if limit is None or limit >= _NO_LIMIT or usage is None:
                continue
            left = max(limit - usage + _read_stat(folder / "memory.stat", names[2]), 0)
            free = left if free is None else min(free, left)
    return free


def _format_bytes(n):
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


# The part of a need that the cube itself drives (its pixels and bands), not an option.
_DATA = "the data"
# How many times the data's part an option's part must be for the option to be what to lower.
_DOMINANT = 10


class _Needs(int):
    """Bytes a run needs, as an int, that remembers what drives which part of them.

    ``parts`` maps what drives each part to its bytes: :data:`_DATA` for the
    cube's own size, or an option with its value (``"-k 1000000"``), so
    that a run refused for its memory names the option to lower. Adding
    bytes (an int) counts them as data; adding another ``_Needs`` or
    multiplying by an int keeps the parts.
    """

    def __new__(cls, parts):
        parts = {name: int(n) for name, n in parts.items() if n}
        self = super().__new__(cls, sum(parts.values()))
        self.parts = parts
        return self

    def __add__(self, other):
        if isinstance(other, _Needs):
            parts = dict(self.parts)
            for name, n in other.parts.items():
                parts[name] = parts.get(name, 0) + n
            return _Needs(parts)
        if isinstance(other, int):
            return _Needs({**self.parts, _DATA: self.parts.get(_DATA, 0) + other})
        return int(self) + other

    __radd__ = __add__

    def __mul__(self, other):
        if isinstance(other, int) and not isinstance(other, _Needs):
            return _Needs({name: n * other for name, n in self.parts.items()})
        return int(self) * other

    __rmul__ = __mul__

    def driver(self, budget):
        """The option to lower to bring the need within ``budget`` bytes, with its part; or None.

        An option is named when its arrays dwarf the cube's own (ten times
        the data's part or more: ``-k 1000000``, ``--bands 1000000000``) and
        the run would fit with them cut to the data's size. Otherwise the
        cube is what is too large (None).
        """
        options = {name: n for name, n in self.parts.items() if name != _DATA}
        if not options:
            return None
        name = max(options, key=options.get)
        part, data = options[name], self.parts.get(_DATA, 0)
        if part < _DOMINANT * data or int(self) - part + data > budget:
            return None
        return name, part


def _needed_bytes(command, shape, dtype, *, n_bands_model, zdims, n_clusters=0, options=None):
    """Bytes of the largest arrays ``command`` holds at once for a cube of ``shape``.

    Parameters
    ----------
    command : {"train", "segment", "denoise", "unmix"}
    shape : tuple of int
        ``(n_rows, n_cols, n_bands)`` of the cube.
    dtype : numpy dtype
        The cube's dtype (denoise writes a copy in it).
    n_bands_model : int
        Bands the resampler gives the encoder.
    zdims, n_clusters : int
        Latent size, and the number of segments (segment only) or of
        endmembers (unmix).
    options : dict, default=None
        The options that set ``n_bands_model``, ``zdims`` and ``n_clusters``
        in this run, as the command line spells them with their values
        (``{"n_clusters": "-k 10"}``); the bytes they drive are counted
        under that name, the rest under the data.

    Returns
    -------
    needed : _Needs
        The bytes, an int, with the part each option drives.

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
    back-resampled spectra and the cast result. unmix holds the spectra,
    its working copy of the usable ones, and the abundances with their
    float32 working copy (``8Nk``). Measured peaks of the three
    commands on a 300 x 300 x 200 float32 cube (memory-mapped pages
    excluded) came within 5% of these sums. The mixture's covariances,
    their precisions and a temporary, ``3 k z^2`` float64 values, are
    added for segment: negligible, except for a huge ``k``.
    """
    options = options or {}

    def part(name):
        return options.get(name, _DATA)

    n_rows, n_cols, n_bands = shape
    pixels = n_rows * n_cols
    spectra = pixels * n_bands * _FLOAT32
    resampled = pixels * n_bands_model * _FLOAT32
    needs = _Needs({})
    if command == "denoise":
        as_cube = pixels * n_bands * dtype.itemsize
        return needs + _Needs({_DATA: 3 * spectra + 2 * as_cube}) + _Needs({part("n_bands"): 3 * resampled})
    if command == "unmix":
        return needs + _Needs({_DATA: 2 * spectra}) + _Needs({part("n_clusters"): 2 * pixels * n_clusters * _FLOAT32})
    needs = needs + _Needs({_DATA: 2 * spectra}) + _Needs({part("n_bands"): 4 * resampled})
    if command == "train":
        return needs
    mixture = pixels * _FLOAT64 * 5 * n_clusters + 3 * n_clusters * zdims**2 * _FLOAT64
    return needs + _Needs({part("zdims"): pixels * _FLOAT64 * zdims}) + _Needs({part("n_clusters"): mixture})


def _check_memory(what, needed, advice=_ADVICE):
    """Raise MemoryError with one line of advice when ``needed`` bytes will not fit.

    When lowering one option alone would make a :class:`_Needs` fit, the
    advice is to lower that option (``-k 10000000`` on a small cube), not
    to split or crop the cube.
    """
    available = _available_memory()
    if available is None or needed <= _USABLE_SHARE * available:
        return
    group = _cgroup_available()
    where = " under this process's control-group memory limit" if group == available else ""
    driver = needed.driver(_USABLE_SHARE * available) if isinstance(needed, _Needs) else None
    share = ""
    if driver is not None:
        option, part = driver
        share = f" ({_format_bytes(part)} of it for {option})"
        advice = f"lower {option.split()[0]}"
    raise _OutOfMemory(
        f"{what} needs about {_format_bytes(needed)} of memory{share}, but "
        f"{_format_bytes(available)} is available{where}; {advice}"
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
        type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in text or "out of memory" in text.lower()
    )

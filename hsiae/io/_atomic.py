"""Writing outputs atomically: to a temporary file beside the target, moved into place when complete.

Every writer of hsiae (cubes, labels, stored arrays, model files, the
command line's outputs) goes through these functions, so that a failed or
killed run never leaves a half-written file under the target's name, and an
existing file is only replaced when the caller asked for it (``force``).
Without ``force`` the move cannot overwrite, even if another process creates
the target meanwhile: a file is hard-linked to its name (which fails if the
name exists) and its temporary name removed; a folder is renamed, which fails
onto an existing non-empty folder.
"""

import contextlib
import errno
import os
import shutil
import uuid
from pathlib import Path

__all__ = ["atomic_output", "check_target", "commit", "discard", "temporary_beside"]


def check_target(path, *, force=False, what=None, overwrite_hint="pass force=True to overwrite it"):
    """Raise before any work when ``path`` cannot be written.

    Parameters
    ----------
    path : path-like
        The output to write.
    force : bool, default=False
        Whether an existing file may be replaced.
    what : str, default=None
        What is written ("the model", ...), for the message.
    overwrite_hint : str, default="pass force=True to overwrite it"
        What the caller tells its user to do about an existing file.

    Raises
    ------
    IsADirectoryError, FileExistsError, FileNotFoundError
    """
    path = Path(path)
    target = f"the {what} to '{path}'" if what else f"'{path}'"
    if path.is_dir() and path.suffix.lower() != ".zarr":
        raise IsADirectoryError(f"Cannot write {target}: it is a folder; pass a file name")
    if path.exists() and not force:
        raise FileExistsError(f"'{path}' already exists; {overwrite_hint}")
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot write {target}: the folder '{path.parent}' does not exist; create it first"
        )


def temporary_beside(path):
    """A hidden temporary name in ``path``'s folder that keeps its suffix (writers pick formats by it)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp, path, *, force=False, overwrite_hint="pass force=True to overwrite it"):
    """Move the finished ``tmp`` to ``path``; without ``force``, never over an existing ``path``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``force`` is False; ``tmp`` is left for the
        caller to :func:`discard`.
    """
    tmp, path = Path(tmp), Path(path)
    if tmp.is_file():
        _fsync(tmp)
    exists = FileExistsError(f"'{path}' already exists; {overwrite_hint}")
    if force:
        if path.is_dir() and not path.is_symlink():  # an older folder (a Zarr array) in the way
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
            return
        if tmp.is_dir() and path.exists():
            path.unlink()
        os.replace(tmp, path)
        return
    if tmp.is_dir():
        try:
            os.rename(tmp, path)  # fails onto a non-empty folder or a file
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise exists from None
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise exists from None
            raise
        return
    try:
        os.link(tmp, path)  # atomic, and fails if path exists
    except FileExistsError:
        raise exists from None
    except OSError:  # a file system without hard links: check, then rename
        if path.exists():
            raise exists from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def discard(tmp):
    """Remove a temporary file or folder, if it is there."""
    tmp = Path(tmp)
    with contextlib.suppress(OSError):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        else:
            tmp.unlink()


@contextlib.contextmanager
def atomic_output(path, *, force=False, what=None):
    """Write ``path`` atomically: yield a temporary path beside it, then move it into place.

    The target is checked first (:func:`check_target`); the temporary file is
    removed if the block raises, and moved to ``path`` (:func:`commit`) when
    it completes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from hsiae.io import atomic_output
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_output(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), [p.name for p in target.parent.iterdir()]
    ('done', ['out.txt'])
    """
    path = Path(os.fspath(path))
    check_target(path, force=force, what=what)
    tmp = temporary_beside(path)
    try:
        yield tmp
        commit(tmp, path, force=force)
    except BaseException:
        discard(tmp)
        raise

"""Writing outputs atomically: to a temporary file beside the target, moved into place when complete.

Every writer of hsiae (cubes, labels, stored arrays, model files, the
command line's outputs) goes through these functions, so that a failed or
killed run never leaves a half-written file under the target's name, and an
existing file is only replaced when the caller asked for it (``force``).
Without ``force`` the move cannot overwrite, even if another process creates
the target meanwhile: a file is hard-linked to its name (which fails if the
name exists) and its temporary name removed; where the file system has no
hard links, and for a folder, it is renamed with ``renameat2``'s
``RENAME_NOREPLACE`` where the system has it (Linux), else renamed after a
check. A commit can be taken back (:meth:`Committed.undo`): it removes only
the file it moved in, recognised by its inode, and puts back the file it
replaced when asked to keep it.
"""

import contextlib
import ctypes
import errno
import functools
import os
import shutil
import uuid
from pathlib import Path

__all__ = ["Committed", "atomic_output", "check_target", "commit", "discard", "temporary_beside"]


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
        raise FileNotFoundError(f"Cannot write {target}: the folder '{path.parent}' does not exist; create it first")


def temporary_beside(path):
    """A hidden temporary name in ``path``'s folder that keeps its suffix (writers pick formats by it)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")


def _aside(path, why):
    """A hidden name beside ``path`` for a file or folder moved out of its way."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.{why}")


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _identity(path):
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


@functools.cache
def _renameat2():
    """Libc's ``renameat2`` (Linux, glibc 2.28 and later), or None."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _rename_noreplace(src, dst, exists):
    """Rename ``src`` to ``dst``; raise ``exists`` if ``dst`` is there, atomically where possible."""
    function = _renameat2()
    if function is not None:
        if function(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise exists
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), os.fspath(src), None, os.fspath(dst))
    # neither hard links nor an atomic rename: check, then rename (another process could still
    # create dst in between)
    if os.path.lexists(dst):
        raise exists
    os.rename(src, dst)  # fails onto a non-empty folder


class Committed:
    """What :func:`commit` did, so that the caller can take it back or make it final.

    Attributes
    ----------
    path : pathlib.Path
        The output moved into place.
    previous : pathlib.Path or None
        A hidden name holding the file or folder that was at ``path`` before,
        when :func:`commit` was asked to keep it; None otherwise.
    """

    def __init__(self, path, identity, previous=None):
        self.path = path
        self.previous = previous
        self._identity = identity

    def _is_ours(self):
        try:
            return _identity(self.path) == self._identity
        except OSError:
            return False

    def undo(self):
        """Take the commit back, if ``path`` still holds what it moved in.

        The file (or folder) is recognised by its inode: one that another
        process moved to ``path`` since is left alone. The file the commit
        replaced, when it was kept, is put back; else ``path`` is removed.

        Returns
        -------
        undone : bool
            False when ``path`` no longer holds what the commit moved in.
        """
        if not self._is_ours():
            self.finish()
            return False
        if self.previous is None:
            _remove(self.path)
        elif self.previous.is_dir() and not self.previous.is_symlink():
            ours = _aside(self.path, "undone")
            os.rename(self.path, ours)
            os.rename(self.previous, self.path)
            self.previous = None
            _remove(ours)
        else:
            os.replace(self.previous, self.path)
            self.previous = None
        return True

    def finish(self):
        """Make the commit final: remove the kept previous file or folder, if any."""
        if self.previous is not None:
            discard(self.previous)
            self.previous = None


def commit(tmp, path, *, force=False, overwrite_hint="pass force=True to overwrite it", keep_previous=False):
    """Move the finished ``tmp`` to ``path``; without ``force``, never over an existing ``path``.

    Parameters
    ----------
    tmp, path : path-like
        The finished temporary file or folder, and its target.
    force : bool, default=False
        Whether an existing ``path`` may be replaced.
    overwrite_hint : str
        What the caller tells its user to do about an existing file.
    keep_previous : bool, default=False
        With ``force``, keep what ``path`` held under a hidden name beside it
        until :meth:`Committed.finish`, so that :meth:`Committed.undo` can put
        it back.

    Returns
    -------
    committed : Committed
        What was moved where, for :meth:`Committed.undo` and
        :meth:`Committed.finish` (which must be called when
        ``keep_previous`` is True).

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``force`` is False; ``tmp`` is left for the
        caller to :func:`discard`.
    """
    tmp, path = Path(tmp), Path(path)
    if tmp.is_file():
        _fsync(tmp)
    identity = _identity(tmp)
    exists = FileExistsError(f"'{path}' already exists; {overwrite_hint}")
    if force:
        return Committed(path, identity, _replace(tmp, path, keep_previous))
    if tmp.is_dir():
        try:
            _rename_noreplace(tmp, path, exists)
        except (NotADirectoryError, IsADirectoryError):
            raise exists from None
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise exists from None
            raise
        return Committed(path, identity)
    try:
        os.link(tmp, path)  # atomic, and fails if path exists
    except FileExistsError:
        raise exists from None
    except OSError:  # a file system without hard links
        _rename_noreplace(tmp, path, exists)
        return Committed(path, identity)
    os.unlink(tmp)
    return Committed(path, identity)


def _replace(tmp, path, keep_previous):
    """Move ``tmp`` over ``path``; return the hidden name of what was there when kept, else None."""
    if path.is_dir() and not path.is_symlink():  # an older folder (a Zarr array) in the way
        old = _aside(path, "old")
        os.replace(path, old)
        os.replace(tmp, path)
        if keep_previous:
            return old
        shutil.rmtree(old, ignore_errors=True)
        return None
    previous = None
    if keep_previous and os.path.lexists(path):
        previous = _aside(path, "old")
        try:
            os.link(path, previous, follow_symlinks=False)  # path keeps its file meanwhile
        except FileNotFoundError:  # gone meanwhile: nothing to keep
            previous = None
        except OSError:  # no hard links here
            os.replace(path, previous)
    try:
        if tmp.is_dir() and path.exists():
            path.unlink()
        os.replace(tmp, path)
    except BaseException:
        if previous is not None:
            if os.path.lexists(path):
                discard(previous)
            else:
                os.replace(previous, path)
        raise
    return previous


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

"""Staged outputs: planned before any work, written beside their targets, moved in place at the end.

Every output is planned before any work (:meth:`Outputs.plan` checks its
target, that its folder can be written or created, and that its name leaves
room for the temporary names it is written under), written to a temporary
file beside it (:meth:`Outputs.stage`) and moved in place only when the
whole run has succeeded (:meth:`Outputs.commit`); a failed run leaves
nothing (:meth:`Outputs.discard`), not even the folders it created. This
module imports nothing heavy: :func:`hsiae.cli.main` creates the outputs
before it knows which command runs.
"""

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from hsiae.cli._errors import CLIError

_ELSEWHERE = "write the outputs elsewhere (another -o)"


def _same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file (through links too)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


# One logger for all of hsiae.cli: main() prints the INFO records of this logger name only.
logger = logging.getLogger("hsiae.cli")

_OVERWRITE_HINT = "pass --force to overwrite it"


def _exists(path):
    try:
        return path.exists()
    except OSError:  # e.g. a name longer than the file system takes: nothing is there
        return False


def _existing_ancestor(folder):
    """``folder`` itself if it exists, else its nearest ancestor that does."""
    while not _exists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def _name_max(folder):
    """Longest file name (in bytes) the file system of the existing ``folder`` takes, or None."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or no fixed limit
        return None


def _name_length(name):
    return len(os.fsencode(name))


def _check_folder_names(folder, existing):
    """Refuse a folder to create whose name, or a missing parent's, is longer than the file system takes."""
    limit = _name_max(existing)
    if limit is None:
        return
    for part in (folder, *folder.parents):
        if part == existing:
            return
        if _name_length(part.name) > limit:
            raise CLIError(
                f"cannot create the folder '{part}': its name has {_name_length(part.name)} "
                f"characters, and the file system of '{existing}' takes names of up to {limit} "
                f"characters; shorten it"
            )


def _probe(folder, existing):
    """Create and remove a temporary entry where the run will write: in ``folder``, or where it will be created."""
    try:
        if existing == folder:
            fd, probe = tempfile.mkstemp(prefix=".hsiae-probe-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".hsiae-probe-", dir=existing))
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _check_writable(folder, first_output=None):
    """Refuse, before any work, an output folder that cannot be written or created.

    A read-only mount, a folder without write permission or an immutable one
    would otherwise fail only when the first output is staged, after the
    training, naming a temporary file.
    """
    existing = _existing_ancestor(folder)
    if not existing.is_dir():
        raise CLIError(f"cannot create the folder '{folder}': '{existing}' is a file, not a folder; {_ELSEWHERE}")
    _check_folder_names(folder, existing)
    reason = _probe(folder, existing)
    if reason is None:
        return
    if existing != folder:
        raise CLIError(
            f"cannot create the folder '{folder}' for the outputs: '{existing}' cannot "
            f"be written ({reason}); {_ELSEWHERE}"
        )
    target = f"'{first_output}': the folder " if first_output is not None else "into the folder "
    raise CLIError(f"cannot write {target}'{folder}' cannot be written ({reason}); {_ELSEWHERE}")


def _check_name_length(path, what):
    """Refuse an output whose temporary names would be longer than its folder's file system takes.

    The output is written under the stager's temporary name, and the writers
    of models and cubes write that one through a temporary name of their own
    beside it; both add to the name's length.
    """
    from hsiae.io import temporary_beside

    limit = _name_max(_existing_ancestor(path.parent))
    if limit is None:
        return
    longest = _name_length(temporary_beside(temporary_beside(path)).name)
    if longest <= limit:
        return
    n = _name_length(path.name)
    raise CLIError(
        f"the {what} '{path}' has a name of {n} characters: the file system takes names of up to "
        f"{limit} characters, and each output is first written under a temporary name "
        f"{longest - n} characters longer; shorten the name -o gives by at least {longest - limit} "
        f"characters"
    )


class Outputs:
    """Outputs of one run: planned first, written to temporary files, moved in place at the end.

    ``plan`` checks a target before any work is done; ``stage`` returns the
    temporary path to write instead (same folder and suffix, hidden name),
    creating the output's missing folders the first time; ``commit`` renames
    every staged file to its target; ``discard`` removes whatever a failed
    run left (temporary files and folders it created).
    """

    def __init__(self, force, inputs=()):
        self.force = force
        # the files the run reads: no output may replace one, --force or not
        self._inputs = [Path(p) for p in inputs if p is not None]
        self._planned = {}
        self._staged = {}
        self._dirs = []
        self._made = []
        self._committed = False

    def plan_dir(self, path):
        """Plan an output folder: created, with its missing parents, when the first output is staged."""
        path = Path(path)
        if _exists(path) and not path.is_dir():
            raise NotADirectoryError(f"'{path}' exists and is not a folder; pass a folder for -o")
        self._add_dir(path)
        return path

    def _add_dir(self, folder, first_output=None):
        if folder in self._dirs:
            return
        _check_writable(folder, first_output)
        self._dirs.append(folder)

    def plan(self, path, what):
        """Plan the output ``path`` (described as ``what`` in messages); its missing folders are created."""
        from hsiae.io import check_target

        path = Path(path)
        for given in self._inputs:
            if _same_file(path, given):
                raise CLIError(f"the {what} '{path}' would replace the input '{given}'; {_ELSEWHERE}")
        if _exists(path.parent) and path.parent.is_dir():  # else a folder to create
            check_target(path, force=self.force, what=what, overwrite_hint=_OVERWRITE_HINT)
        self._add_dir(path.parent, path)
        _check_name_length(path, what)
        self._planned[path] = what
        return path

    def _make_dirs(self):
        for folder in self._dirs:
            missing = []
            p = folder
            while not p.exists():
                missing.append(p)
                p = p.parent
            for p in reversed(missing):
                p.mkdir()
                self._made.append(p)

    def stage(self, path):
        from hsiae.io import temporary_beside

        path = Path(path)
        if path not in self._planned:
            raise RuntimeError(f"output {path} was not planned")  # a bug, not a user error
        self._make_dirs()
        tmp = temporary_beside(path)
        self._staged[path] = tmp
        return tmp

    def commit(self):
        """Move every staged file in place, all or none.

        Without ``--force`` no move replaces a file, even one another run
        wrote after the checks. If a move fails (or the run is stopped), the
        ones done are taken back: each file this run moved in is removed,
        recognised by its inode so that a file another run put there since is
        left alone, and with ``--force`` the file it replaced is put back.
        """
        from hsiae.io import commit

        done = []
        try:
            for final, tmp in self._staged.items():
                done.append(commit(tmp, final, force=self.force, overwrite_hint=_OVERWRITE_HINT, keep_previous=True))
        except BaseException:
            for record in reversed(done):
                with contextlib.suppress(OSError):
                    record.undo()
            raise
        for record in done:
            with contextlib.suppress(OSError):
                record.finish()
        self._committed = True
        width = max((len(self._planned[f]) for f in self._staged), default=0)
        if self._staged:
            logger.info("Wrote:")
        for final in self._staged:
            logger.info("  %-*s  %s", width, self._planned[final], final)

    @property
    def committed(self):
        """Whether every staged output has been moved into place."""
        return self._committed

    def discard(self):
        from hsiae.io import discard

        if self._committed:
            return
        for tmp in self._staged.values():
            discard(tmp)
        for folder in reversed(self._made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty

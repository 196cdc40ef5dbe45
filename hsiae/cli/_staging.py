"""Staged outputs: planned before any work, written beside their targets, moved in place at the end.

Every output is planned before any work (:meth:`Outputs.plan` checks its
target), written to a temporary file beside it (:meth:`Outputs.stage`) and
moved in place only when the whole run has succeeded (:meth:`Outputs.commit`);
a failed run leaves nothing (:meth:`Outputs.discard`). This module imports
nothing heavy: :func:`hsiae.cli.main` creates the outputs before it knows
which command runs.
"""

import contextlib
import logging
import os
from pathlib import Path

from hsiae.cli._errors import CLIError

def _same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file (through links too)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


# One logger for all of hsiae.cli: main() prints the INFO records of this logger name only.
logger = logging.getLogger("hsiae.cli")

_OVERWRITE_HINT = "pass --force to overwrite it"


class Outputs:
    """Outputs of one run: planned first, written to temporary files, moved in place at the end.

    ``plan`` checks a target before any work is done; ``stage`` returns the
    temporary path to write instead (same folder and suffix, hidden name);
    ``commit`` renames every staged file to its target; ``discard`` removes
    whatever a failed run left (temporary files and folders it created).
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
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"'{path}' exists and is not a folder; pass a folder for -o")
        self._dirs.append(path)
        return path

    def plan(self, path, what):
        from hsiae.io import check_target

        path = Path(path)
        for given in self._inputs:
            if _same_file(path, given):
                raise CLIError(
                    f"the {what} '{path}' would replace the input '{given}'; write the outputs "
                    f"elsewhere (another -o)"
                )
        if not (path.parent in self._dirs and not path.parent.is_dir()):  # else: a folder to create
            check_target(path, force=self.force, what=what, overwrite_hint=_OVERWRITE_HINT)
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
                done.append(commit(tmp, final, force=self.force, overwrite_hint=_OVERWRITE_HINT,
                                   keep_previous=True))
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

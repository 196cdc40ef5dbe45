"""What one run of :func:`hsiae.cli.main` changes in the process, and restores afterwards."""

import contextlib
import logging
import os
import signal
import sys
import threading
import warnings

from hsiae.cli._errors import render
from hsiae.cli._staging import logger


class _StdoutHandler(logging.StreamHandler):
    """Writes to the current ``sys.stdout`` (which tests and callers may swap)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


class _StderrHandler(_StdoutHandler):
    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


@contextlib.contextmanager
def _logging(quiet):
    """INFO of the CLI and the encoder's progress on stdout (unless quiet); warnings of all of hsiae on stderr."""
    root = logging.getLogger("hsiae")
    out = _StdoutHandler()
    out.setLevel(logging.INFO)
    # the CLI's own messages, and the encoder's progress lines when standard error is not a terminal
    out.addFilter(lambda r: r.levelno < logging.WARNING and r.name in (logger.name, "hsiae.encoder"))
    out.setFormatter(logging.Formatter("%(message)s"))
    err = _StderrHandler()
    err.setLevel(logging.WARNING)
    err.setFormatter(logging.Formatter("hsiae: warning: %(message)s"))
    saved = root.level, root.propagate
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False
    root.addHandler(out)
    root.addHandler(err)
    try:
        with warnings.catch_warnings():
            # Python warnings (e.g. ConvergenceWarning) as one line each, without source lines.
            def show(message, category, filename, lineno, file=None, line=None):
                logger.warning("%s", " ".join(render(message).split()))

            warnings.showwarning = show
            yield
    finally:
        root.removeHandler(out)
        root.removeHandler(err)
        root.setLevel(saved[0])
        root.propagate = saved[1]


@contextlib.contextmanager
def _torch_threads(n):
    if n is None:
        yield
        return
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


# The signals that stop a run, and how the run says it stopped.
_STOPPING = {"SIGTERM": "terminated", "SIGINT": "interrupted", "SIGHUP": "hung up"}


class _Stopped(BaseException):
    """SIGTERM (a batch system's kill, ``kill PID``), SIGINT (Ctrl-C) or SIGHUP (the terminal closed).

    Not a KeyboardInterrupt: skorch stops training on KeyboardInterrupt (it
    is how its early stopping ends a fit) and carries on, so a run stopped
    that way would go on to write the outputs of a half-trained model.
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = int(signum)
        self.status = 128 + self.signum  # the shell's status of a process a signal ended
        self.word = _STOPPING.get(signal.Signals(signum).name, "stopped")


class _Signals:
    """The stopping signal a run received, if any; makes sure that it stops the run."""

    def __init__(self):
        self.pending = None
        self._again = False
        self._timers = []

    def received(self, signum):
        if self.pending is not None and not self._again:
            return  # a second signal (Ctrl-C twice, say): the run is already stopping as the first one said
        self.pending = self.pending or signum
        self._again = False
        raise _Stopped(self.pending)

    def unraisable(self, unraisable, previous):
        # A signal that came while a weakref callback or a __del__ ran (an import's module lock
        # being freed, say) raised there, and Python drops such exceptions: the run would go on to
        # write its outputs. Deliver the signal again, from outside the callback.
        if not isinstance(unraisable.exc_value, _Stopped):
            previous(unraisable)
            return
        self._again = True
        timer = threading.Timer(0.01, os.kill, args=(os.getpid(), unraisable.exc_value.signum))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def check(self):
        """Raise :class:`_Stopped` if a stopping signal came and nothing stopped the run yet."""
        if self.pending is not None:
            self.cancel()
            raise _Stopped(self.pending)

    def cancel(self):
        for timer in self._timers:
            timer.cancel()


@contextlib.contextmanager
def _stopped_by_signals():
    """Raise :class:`_Stopped` on SIGTERM, SIGINT and SIGHUP while a run lasts, so that its outputs are discarded.

    Python's default for SIGTERM and SIGHUP ends the process at once,
    leaving the temporary files of the outputs being written; raised as an
    exception, the signal unwinds through :meth:`Outputs.discard`. Yields a
    :class:`_Signals`, whose ``check`` goes before committing outputs. Only
    the main thread can install handlers; elsewhere the defaults stay.
    SIGHUP does not exist on Windows.
    """
    state = _Signals()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def stop(signum, frame):
        state.received(signum)

    previous_hook = sys.unraisablehook

    def hook(unraisable):
        state.unraisable(unraisable, previous_hook)

    signals = [getattr(signal, name) for name in _STOPPING if hasattr(signal, name)]
    saved = {sig: signal.signal(sig, stop) for sig in signals}
    sys.unraisablehook = hook
    try:
        yield state
    finally:
        state.cancel()
        sys.unraisablehook = previous_hook
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _closing_new_figures():
    """Close figures a failed run left open (successful runs close theirs after saving)."""
    if "matplotlib.pyplot" not in sys.modules:
        before = set()
    else:
        before = set(sys.modules["matplotlib.pyplot"].get_fignums())
    try:
        yield
    finally:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            for num in set(plt.get_fignums()) - before:
                plt.close(num)

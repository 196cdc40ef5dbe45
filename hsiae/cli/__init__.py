"""Command-line interface: ``hsiae train | segment | denoise | unmix | bands | demo``.

Every command validates its options and output paths (that their folders
can be written or created, and that their names fit the file system) before
reading a cube or training, writes each output to a temporary file beside its target and
moves all of them into place only when the whole run has succeeded, so a
failed run leaves no output behind (and, without ``--force``, never touches
an existing file). User errors (missing or damaged files, existing outputs,
impossible options, a cube too large for the memory available) print one
line ``hsiae: error: ...`` on stderr and exit with status 2; ``--debug``
shows the traceback instead.
"""

import contextlib
import importlib
import sys

from hsiae.cli._errors import USER_ERRORS, CLIError, one_line
from hsiae.cli._memory import _is_out_of_memory, _out_of_memory_message
from hsiae.cli._parser import _build_parser
from hsiae.cli._session import (
    _closing_new_figures,
    _logging,
    _Stopped,
    _stopped_by_signals,
    _torch_threads,
)
from hsiae.cli._staging import Outputs, logger

__all__ = ["main"]


def main(argv=None):
    """Run the ``hsiae`` command line; return the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        0 on success, 2 on a user error (printed as one line on stderr),
        130 when interrupted (Ctrl-C), 143 when terminated (SIGTERM), 129
        on a hang-up (SIGHUP: the terminal closed); in every case no
        output is left behind.
    """
    try:
        parser = _build_parser()
        args = parser.parse_args(argv)
    except CLIError as exc:
        print(f"hsiae: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0

    out = Outputs(force=args.force, inputs=[getattr(args, name, None) for name in ("cube", "model", "mask")])
    # --threads sets torch's threads; a command that never trains or encodes (bands) does not load torch for it
    threads = args.threads if getattr(args, "uses_torch", True) else None
    with _logging(args.quiet), _torch_threads(threads), _closing_new_figures(), _stopped_by_signals() as signals:
        try:
            # the command's module, imported only now: --help and usage errors never load torch
            command = importlib.import_module(f"hsiae.cli._{args.command}")
            summary = command.run(args, out)
            signals.check()  # a stop whose exception something swallowed
            out.commit()
            for line in summary or ():
                logger.info("%s", line)
            return 0
        except USER_ERRORS as exc:
            if args.debug:
                raise
            print(f"hsiae: error: {one_line(exc)}", file=sys.stderr)
            return 2
        except (MemoryError, RuntimeError) as exc:
            if args.debug or not _is_out_of_memory(exc):
                raise
            print(f"hsiae: error: {_out_of_memory_message(exc)}", file=sys.stderr)
            return 2
        except (KeyboardInterrupt, _Stopped) as exc:
            if args.debug:
                raise
            what = "after writing its outputs" if out.committed else "no output was written"
            with contextlib.suppress(OSError):  # after a hang-up, standard error may be gone
                print(f"hsiae: {getattr(exc, 'word', 'interrupted')}; {what}", file=sys.stderr)
            return getattr(exc, "status", 130)
        finally:
            out.discard()

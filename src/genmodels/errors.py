"""The failures a user can fix, printed as ``error: <message>`` (cause and fix) with exit status 1.

Anything else that escapes a command is a bug and keeps its traceback (on the console and in ``failed.json``).
"""

from __future__ import annotations

import errno
import sys
import sysconfig
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

# Exit statuses of every command: a GenmodelsError (and any unexpected error, after its traceback), Ctrl-C, SIGTERM.
EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 130, 143
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class GenmodelsError(Exception):
    """A failure the user can fix; the message names the cause and the fix."""

    @property
    def cause(self) -> str:
        """The message without its fix, for an error raised again with another fix."""
        return str(self).split(" Fix:")[0]


class ConfigError(GenmodelsError):
    """A configuration value is invalid or unusable here; the message names the key and what is allowed."""


class DataError(GenmodelsError):
    """A data file is missing, unreadable or corrupt, or a folder for it cannot be written."""


class CheckpointError(GenmodelsError):
    """A checkpoint is missing, unsafe to load, or belongs to another model configuration."""


class RunFolderError(GenmodelsError):
    """A run folder holds another run, is in use, cannot be continued as asked, or cannot be written."""


class TrainingDiverged(GenmodelsError):
    """A loss term became NaN or infinite; the message names the step, the terms and likely causes."""


class EvaluationError(GenmodelsError):
    """A run folder, checkpoint or config cannot be evaluated; the message names the path and the fix."""


def short_message(exc: BaseException) -> str:
    """The error's text without the tensors some library messages print in full, naming the project line that
    called the library which raised it; the full text stays in ``failed.json``."""
    text = str(exc).split("\ntensor(")[0].rstrip(":")
    frames = traceback.extract_tb(exc.__traceback__)
    library = sysconfig.get_paths()["purelib"]
    if frames and frames[-1].filename.startswith(library):
        caller = next((f for f in reversed(frames) if not f.filename.startswith(library)), None)
        if caller is not None:
            text += f"\n(raised by a library called from {caller.filename}:{caller.lineno}, in {caller.name})"
    return text


@contextmanager
def command_errors() -> Iterator[None]:
    """``error: <message>`` and exit 1 for a ``GenmodelsError``, 130 after Ctrl-C, 143 after SIGTERM; anything
    else propagates with its traceback (a message full of tensors is shortened by ``short_message``)."""
    previous_hook, threading.excepthook = threading.excepthook, _thread_errors
    try:
        yield
    except GenmodelsError as exc:
        print(error_lines(str(exc), getattr(exc, "__notes__", [])), file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        what = exc.filename or "a file of the run (e.g. its TensorBoard events)"
        message = f"cannot write {what}: {exc.strerror}. Fix: free space there, then run the same command again."
        print(error_lines(message, getattr(exc, "__notes__", [])), file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None
    except KeyboardInterrupt:
        print(
            "\ninterrupted (Ctrl-C); nothing finished was lost. Run the same command again to go on.", file=sys.stderr
        )
        raise SystemExit(EXIT_INTERRUPTED) from None
    except SystemExit as exc:
        from lightning.pytorch.utilities.exceptions import SIGTERMException  # loaded: it is what was raised

        if isinstance(exc, SIGTERMException):
            raise SystemExit(EXIT_TERMINATED) from None
        if isinstance(exc.__context__, KeyboardInterrupt):  # Lightning ends a fit stopped by Ctrl-C with exit(1)
            raise SystemExit(EXIT_INTERRUPTED) from None
        raise
    except Exception as exc:
        if "\ntensor(" not in str(exc):
            raise
        print("".join(traceback.format_tb(exc.__traceback__)), file=sys.stderr)
        print(f"{type(exc).__name__}: {short_message(exc)}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None
    finally:
        threading.excepthook = previous_hook


def error_lines(message: str, notes: list[str]) -> str:
    """``error: <message>``, then a ``note:`` line for each note (e.g. that ``failed.json`` could not be written)."""
    return "\n".join([f"error: {message}", *(f"note: {note}" for note in notes)])


def _thread_errors(args: threading.ExceptHookArgs) -> None:
    """A writer thread (TensorBoard's) that hit a full disk prints nothing: its owner raises the same error on its
    next write or flush, reported as one line. Any other thread error prints its traceback as usual."""
    if isinstance(args.exc_value, OSError) and args.exc_value.errno in DISK_FULL:
        return
    threading.__excepthook__(args)

"""Where the libraries' own output goes (Optuna, Ray Tune's tables, huggingface_hub's prints):
the terminal's stderr when the user asked for it (``synthwb --verbose``), else nowhere. The CLI
sets it per command (:func:`synthwb.cli.library_output`); code that redirects a library's
prints writes them to :func:`library_stream` instead of ``sys.stderr``."""
from __future__ import annotations

import io
import sys
import threading

_state = threading.local()


class _Sink(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


def set_verbose(verbose: bool | None) -> None:
    """``True``: libraries' output on stderr; ``False``: dropped; ``None``: the default (stderr,
    as in the app and in library use)."""
    _state.verbose = verbose


def library_stream():
    """The stream for a library's prints now: stderr, or a sink while a quiet command runs."""
    return _Sink() if getattr(_state, "verbose", None) is False else sys.stderr

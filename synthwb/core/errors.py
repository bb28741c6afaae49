"""User-facing errors.

Anything a user can cause (bad file, bad spec, unknown name) raises a subclass of
:class:`SynthwbError` whose message names the problem. The CLI prints it as one line and
exits non-zero; pages show it with ``st.error``. Anything else is a bug and may show a
traceback.
"""
from __future__ import annotations


class SynthwbError(Exception):
    """Base class of every error caused by user input or user data."""


class DataError(SynthwbError):
    """Bad market data: unreadable file, missing columns, invalid rows."""


class SpecError(SynthwbError, ValueError):
    """An invalid spec or parameter (feature set, model, training, backtest)."""


class NotFound(SynthwbError, KeyError):
    """A named thing (symbol, run, feature set, registry entry) does not exist."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""

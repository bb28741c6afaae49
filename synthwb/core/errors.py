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


class InvalidName(DataError, SpecError):
    """A name that would become a path (a symbol, a run id) and is not allowed: bad data to the
    import, a bad spec to a read."""


class WriteFailed(SynthwbError, OSError):
    """A file could not be written (a full disk, a read-only or over-quota folder); nothing
    half-written is left behind."""


class NotFound(SynthwbError, KeyError):
    """A named thing (symbol, run, feature set, registry entry) does not exist."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


def validation_text(errors: list[dict], limit: int = 4, default_loc: str = "value") -> str:
    """pydantic's ``ValidationError.errors()`` as one line: ``field: reason; ...``. A NaN or
    infinite number (refused by ``allow_inf_nan=False``) reads "is not a number", never a
    bound it happens to fail."""
    parts = []
    for err in errors[:limit]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or default_loc
        if err.get("type") == "finite_number":
            parts.append(f"{loc}: {err.get('input')!r} is not a number (NaN or infinite); give a finite value")
        else:
            parts.append(f"{loc}: {err.get('msg')}")
    more = len(errors) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")

"""A run's status as it stands: the stored status corrected for a process that is gone, and
whether (and as what) the run can be scored by Backtest and Compare. Part of
:mod:`synthwb.store.runs`, which re-exports these names.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthwb.core.errors import SpecError
from synthwb.store.run_record import ACTIVE, BEST

if TYPE_CHECKING:
    from synthwb.store.runs import Run


def _pid_alive(pid: Any) -> bool:
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def effective_status(info: dict) -> str:
    """The stored status, except that an 'active' run whose process is gone reads 'interrupted'."""
    status = info.get("status", "failed")
    if status in ACTIVE and not _pid_alive(info.get("pid")):
        return "interrupted"
    return status


# ---------------------------------------------------------------------------- usable for scoring


def scoring_state(info: dict, path: Path | None) -> tuple[bool, str]:
    """Whether a run can be backtested and compared, and its label for pickers and tables.

    A finished run can; so can an interrupted (stopped) path or Moirai run that saved best
    weights: it is scored from them, labelled ``"interrupted, best weights at step N"``. A run
    that is still active, failed, or stopped before its first validation cannot."""
    status = effective_status(info)
    if status == "finished":
        return True, "finished"
    if status != "interrupted":
        return False, status
    if info.get("kind", "path") == "ensemble" or path is None or not (path / BEST).is_file():
        return False, "interrupted, no best weights yet"
    step = (info.get("best") or {}).get("step")
    return True, "interrupted, best weights" + (f" at step {step}" if step is not None else "")


def check_scorable(run: Run) -> None:
    """Refuse, with the fix, a run that cannot be scored (:func:`scoring_state`)."""
    ok, label = scoring_state(run.info, run.path)
    if ok:
        return
    if run.status in ACTIVE:
        raise SpecError(f"run {run.run_id!r} is {run.status}: wait for it to finish, or stop it "
                        "(a stopped run is scored from its best weights)")
    if run.status == "interrupted":
        raise SpecError(f"run {run.run_id!r} was stopped before its first validation, so it has no best "
                        "weights to score; resume it (train --resume) until it validates")
    raise SpecError(f"run {run.run_id!r} {run.status}" + (f" ({run.error})" if run.error else "")
                    + ": it has nothing to score; resume it or train it again")


def scoring_label(run: Run) -> str | None:
    """The label a scored run carries in tables when it is not a plain finished run (e.g.
    ``"interrupted, best weights at step 40"``), else None."""
    ok, label = scoring_state(run.info, run.path)
    return label if ok and label != "finished" else None

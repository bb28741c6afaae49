"""The forward test as a background job of the app, and its resume after an app restart.

``JOB_KINDS["live"]`` runs :func:`synthwb.live.engine.run_live` with owner "app"; the state on
disk records that the app owns the test and that it should run (``desired``), so a restarted
app finds it (:func:`resumable`) and submits it again: it goes on from its saved clock and
requests. A test the user stopped (page or `synthwb live stop`) is not resumed, nor one a
live process (the CLI) holds.
"""
from __future__ import annotations

import threading
from typing import Any

from synthwb.core.errors import SynthwbError
from synthwb.jobs.adapters import JOB_KINDS
from synthwb.live.engine import LiveResult, run_live
from synthwb.live.state import list_live

__all__ = ["live_job", "resumable"]


@JOB_KINDS.register("live", help="a forward test on the validator's cadence (Live page)")
def live_job(progress, stop_event: threading.Event, *, name: str, spec: Any = None, root=None,
             store=None) -> dict:
    res: LiveResult = run_live(name, spec, root=root, store=store, owner="app", progress=progress,
                               stop_event=stop_event)
    return res.to_dict()


def resumable(store=None) -> list[str]:
    """Forward tests the app owns that should be running and that no process runs."""
    out = []
    for folder in list_live(store):
        try:
            state = folder.read()
        except SynthwbError:
            continue
        if state.get("owner") == "app" and state.get("desired") == "running" and folder.holder() is None:
            out.append(folder.name)
    return out

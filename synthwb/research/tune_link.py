"""A Ray Tune run driven by a background job: live rows and a Stop that reaches every trial.

Imported only when the ray backend runs (it imports Ray). :class:`TuneLink` is the driver's
side, :func:`stop_relay` the trial's:

- each trial's report reaches ``on_result(config, metrics)`` in the driver as it lands (a Tune
  callback), so the job's progress and table fill in trial by trial, not at the end;
- the job's stop request sets a flag (a tiny Ray actor) that every trial polls through
  :func:`stop_relay`: a running trial stops at its next training step as a local one does
  (run ``interrupted``, best weights kept) and a trial that starts afterwards returns at once;
- once stopped and no trial is running, Tune starts no more (a Tune stopper).

:func:`run_tune` runs a trainable that way; the search and the ablation both use it.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import ray
from ray import tune

from synthwb.core.logs import library_stream
from synthwb.research.backend import RayOptions, ray_session

POLL_SECONDS = 0.5


@ray.remote(num_cpus=0)
class StopFlag:
    """Set once by the driver, read by the trials."""

    def __init__(self) -> None:
        self.on = False

    def set(self) -> None:
        self.on = True

    def is_set(self) -> bool:
        return self.on


class _Linked:
    """Tune pickles its run config into the experiment's state files: a pickled copy is inert
    (the link holds the job's event and callback, which neither pickle nor mean anything
    elsewhere); the driver uses the original."""

    def __init__(self, link: TuneLink) -> None:
        self.link: TuneLink | None = link

    def __getstate__(self) -> dict:
        return {"link": None}


class _Relay(_Linked, tune.Callback):
    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if self.link is not None:
            self.link.step(trials)

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info: Any) -> None:
        if self.link is not None:
            self.link.on_result(dict(trial.config or {}), dict(result))


class _StopWhenIdle(_Linked, tune.Stopper):
    def __call__(self, trial_id: str, result: dict) -> bool:
        return False  # a trial is stopped by its own training loop, not killed here

    def stop_all(self) -> bool:
        link = self.link
        return link is not None and link.stopped and not any(t.status == "RUNNING" for t in link.trials)


class TuneLink:
    """Pass :attr:`flag` to the trials (in their setup), and :attr:`callbacks` and
    :attr:`stopper` to Tune's ``RunConfig``."""

    def __init__(self, stop_event: threading.Event | None, on_result: Callable[[dict, dict], None]) -> None:
        self.stop_event = stop_event or threading.Event()
        self.on_result = on_result
        self.flag = StopFlag.remote()
        self.trials: list = []
        self.stopped = False
        self.callbacks = [_Relay(self)]
        self.stopper = _StopWhenIdle(self)

    def step(self, trials: list) -> None:
        """Tune's loop, every 0.1 s or so: the job's stop request goes to the trials once."""
        self.trials = list(trials)
        if self.stop_event.is_set() and not self.stopped:
            self.flag.set.remote()
            self.stopped = True


@contextlib.contextmanager
def stop_relay(flag) -> Iterator[threading.Event]:
    """In a trial: an event set once the driver's job is stopped (already set when it was
    stopped before this trial began), polled twice a second; ``flag=None``: never set."""
    event, done = threading.Event(), threading.Event()
    if flag is not None:
        if ray.get(flag.is_set.remote()):
            event.set()
        else:
            def poll() -> None:
                while not done.wait(POLL_SECONDS):
                    try:
                        if ray.get(flag.is_set.remote(), timeout=10):
                            event.set()
                            return
                    except Exception:  # noqa: BLE001 - the driver is gone: nothing left to stop for
                        return

            threading.Thread(target=poll, name="synthwb-tune-stop", daemon=True).start()
    try:
        yield event
    finally:
        done.set()


def run_tune(name: str, fn: Callable[[dict, dict], None], setup: dict, options: RayOptions | None,
             stop_event: threading.Event | None, on_result: Callable[[dict, dict], None],
             **tuner_kwargs: Any) -> tuple[Any, TuneLink]:
    """``fn(config, setup)`` as Ray Tune trials on the cluster ``options`` names, each with its
    cpus/gpus and ``setup`` plus the stop flag (``setup["stop"]``, for :func:`stop_relay`);
    ``tuner_kwargs`` go to ``tune.Tuner`` (param_space, tune_config). Tune writes its own files
    in a temp folder, removed after (the results that matter land in models_store as runs).
    Returns Tune's result grid and the link (``link.stopped``: the job was stopped)."""
    opts = options or RayOptions()
    with ray_session(opts):
        link = TuneLink(stop_event, on_result)
        folder = tempfile.mkdtemp(prefix="synthwb-tune-")
        run_config = tune.RunConfig(storage_path=folder, name=name, verbose=0, log_to_file=True,
                                    callbacks=link.callbacks, stop=link.stopper)
        trainable = tune.with_resources(tune.with_parameters(fn, setup={**setup, "stop": link.flag}), opts.resources)
        try:
            with contextlib.redirect_stdout(library_stream()):  # Tune's tables: never on a --json stdout,
                # on stderr only with --verbose
                grid = tune.Tuner(trainable, run_config=run_config, **tuner_kwargs).fit()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return grid, link

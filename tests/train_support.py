"""Helpers for the train/store/jobs tests: a tiny saved feature set on the demo lake."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from synthwb.data.schema import Selection
from synthwb.features.featureset import create_featureset, save_featureset
from synthwb.features.registry import FeatureSpec

CONTEXT = 32
HORIZON = 8



def tiny_features(freq: str = "15min", har: bool = False) -> FeatureSpec:
    """Two features; with ``har`` also the HAR anchor the recommended preset reads."""
    return FeatureSpec(freq=freq, features=(
        {"name": "log_return", "params": {"periods": 1}},
        {"name": "rsi", "params": {"window": 14}},
        *([{"name": "har_anchor", "params": {}}] if har else []),
    ))


def make_featureset(root: Path, store: Path, name: str = "tiny", symbol: str = "BTC", freq: str = "15min",
                    har: bool = False):
    """A saved feature set (OHLCV + 2 features, 15-minute bars by default; ``har``: + the HAR
    anchor) of the demo lake's ``symbol``."""
    fs = create_featureset(name, Selection("crypto", symbol, freq), tiny_features(freq, har), root=root)
    save_featureset(fs, store)
    return fs


def tiny_config(**kw) -> dict:
    """A fast CPU config: small batches, few paths."""
    base = dict(epochs=1, batch_size=32, lr=3e-3, n_paths_train=32, n_paths_eval=64, log_every=1, loss="crps", stride=1,
                warmup_steps=2, device="cpu", max_val_batches=2, patience=0, seed=0)
    base.update(kw)
    return base



def train_stopped(store: Path, root: Path, name: str, featureset: str = "tiny", horizon: int = HORIZON,
                  stop_at: int = 3, **cfg) -> dict:
    """A real tiny run stopped by the user after training step ``stop_at`` (validation every 2
    steps, the anchored model validated at step 0 too): an ``interrupted`` run whose best weights
    are older than its last ones. Returns the run id, the step it stopped at and the step of the
    last improving validation (the best weights), read from the metric rows the loop reported."""
    import threading

    from synthwb.train import train

    stop, seen = threading.Event(), {}

    def cb(fraction=None, metrics=None, message=None):
        if metrics and metrics.get("kind") == "val" and metrics.get("improved"):
            seen["best_step"] = metrics["step"]
        if metrics and metrics.get("kind") == "train" and metrics["step"] >= stop_at:
            stop.set()

    info = train(name, featureset, "dlinear-gbm", tiny_config(**{"max_steps": 40, "val_every": 2, **cfg}),
                 store=store, root=root, progress=cb, stop_event=stop, context=CONTEXT, horizon=horizon)
    assert info.status == "interrupted", (info.status, info.error)
    return {"run_id": info.run_id, "best_step": seen["best_step"], "step": info.step}


@contextmanager
def held_training_job(store: Path, root: Path, name: str, hold_at: int = 3):
    """A real training job (tiny run, real thread) that holds inside its progress callback at
    step ``hold_at`` until released: the page is looked at while the job is mid-run. Yields the
    job; leaving the block stops and releases it, and it must then end ``interrupted``."""
    import threading

    from synthwb.jobs.adapters import train_job
    from synthwb.jobs.registry import get_registry

    reached, release = threading.Event(), threading.Event()

    def holding(progress, stop_event, **kw):
        def cb(fraction=None, metrics=None, message=None):
            progress(fraction, metrics, message)
            if metrics and metrics.get("kind") == "train" and metrics["step"] == hold_at:
                reached.set()
                release.wait(120)
        return train_job(cb, stop_event, **kw)

    job = get_registry().submit("train", name, holding, name=name, featureset="tiny", model_spec="dlinear-gbm",
                                config=tiny_config(max_steps=50, val_every=20, loss="crps"), store=str(store),
                                root=str(root), context=CONTEXT, horizon=HORIZON)
    assert reached.wait(180), "the job did not reach the held step"
    try:
        yield job
    finally:
        job.stop()
        release.set()
    assert job.wait(120) and job.status == "interrupted"


def wait_until(cond, seconds: float = 10.0, every: float = 0.01) -> bool:
    """Poll ``cond()`` until it is true (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(every)
    return False

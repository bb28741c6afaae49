"""Faults the training must survive: real threads, real tiny models, real files."""
from __future__ import annotations

import json
import math
import threading

import polars as pl
import pytest
import torch
from train_support import CONTEXT, HORIZON, make_featureset, tiny_config

from synthwb.core.errors import SpecError
from synthwb.forecast.run import load_model
from synthwb.jobs.adapters import train_job
from synthwb.jobs.registry import JobRegistry
from synthwb.store import runs
from synthwb.train import TrainingFailed, train


@pytest.fixture
def fs_env(lake_env, demo_lake):
    fs = make_featureset(demo_lake, lake_env.store)
    return lake_env, demo_lake, fs


def _kw(env, root, name, **cfg):
    return dict(name=name, featureset="tiny", model_spec="dlinear-gbm", config=tiny_config(**cfg),
                store=env.store, root=root, context=CONTEXT, horizon=HORIZON)


def _all_finite(path) -> bool:
    w = runs.read_weights(path)
    return all(bool(torch.isfinite(v).all()) for v in w.values())


def test_exception_in_training_thread_fails_only_that_job(fs_env):
    env, root, _ = fs_env
    reg = JobRegistry(max_running=2)

    def exploding(progress, stop_event, **kw):
        def cb(fraction=None, metrics=None, message=None):
            progress(fraction, metrics, message)
            if metrics and metrics.get("kind") == "train" and metrics["step"] == 12:
                raise RuntimeError("listener crashed at step 12")
        return train(progress=cb, stop_event=stop_event, **kw)

    bad = reg.submit("train", "bad", exploding, **_kw(env, root, "bad", val_every=5))
    good = reg.submit("train", "good", train_job, **_kw(env, root, "good", max_steps=20))
    assert reg.wait_all(300)
    assert bad.status == "failed"
    assert bad.error == "RuntimeError: listener crashed at step 12"
    assert "listener crashed" in bad.traceback and "Traceback" in bad.traceback
    assert good.status == "finished" and good.result.step == 20

    run = runs.load_run("bad", env.store)  # the folder stays loadable
    assert run.status == "failed" and "listener crashed at step 12" in run.error
    assert "Traceback" in run.info["traceback"]
    assert run.last["step"] == 10  # checkpoints at validations 5 and 10 survive
    model = load_model("bad", which="last", store=env.store)
    assert sum(p.numel() for p in model.parameters()) > 0
    assert runs.load_run("good", env.store).status == "finished"


def _poison(fs, rows, value=1e30):
    fr = fs.frame()
    col = fr["logret_1"].to_numpy().copy()
    col[rows] = value
    fs._frame = fr.with_columns(pl.Series("logret_1", col))
    return fs


def test_transient_nonfinite_loss_steps_are_skipped(fs_env):
    env, root, fs = fs_env
    _poison(fs, [600])  # one huge input value -> the ~32 windows that see it give an inf/NaN loss
    info = train("spiky", fs, "dlinear-gbm", tiny_config(max_bad_steps=30, val_every=5), store=env.store,
                 context=CONTEXT, horizon=HORIZON)
    rows = runs.read_metrics(info.run_id, env.store)
    skips = [r for r in rows if r["kind"] == "skip"]
    trains = [r for r in rows if r["kind"] == "train"]
    assert info.status == "finished"
    assert info.skipped_steps == len(skips) > 0
    assert len(trains) == info.step > 0
    assert all(math.isfinite(r["loss"]) for r in trains)
    assert all(s["reason"] == "non-finite loss or gradient" for s in skips)
    n_batches = math.ceil(len(fs.windows("train", CONTEXT, HORIZON)) / 32)
    assert info.step + info.skipped_steps == n_batches
    for f in ("weights.safetensors", "last.safetensors"):
        assert _all_finite(env.store / info.run_id / f)


def test_persistent_nonfinite_loss_stops_with_a_clear_reason(fs_env):
    env, root, fs = fs_env
    _poison(fs, list(range(0, 1300, 8)))  # every window sees a huge value
    with pytest.raises(TrainingFailed, match="5 consecutive steps with a NaN/inf loss"):
        train("doomed", fs, "dlinear-gbm", tiny_config(max_bad_steps=5), store=env.store,
              context=CONTEXT, horizon=HORIZON)
    run = runs.load_run("doomed", env.store)
    assert run.status == "failed"
    assert "consecutive steps with a NaN/inf loss" in run.info["stop_reason"]
    # nothing good came of training: the only weights saved are the untrained anchor's (step 0,
    # validated before the first step), never a poisoned state
    assert run.best["step"] == 0 and run.last["step"] == 0
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]


def test_stop_mid_epoch_then_resume_continues_exactly(fs_env):
    env, root, fs = fs_env
    n_batches = math.ceil(len(fs.windows("train", CONTEXT, HORIZON)) / 32)
    # reference: the same run without interruption
    ref = train("ref", "tiny", "dlinear-gbm", tiny_config(), store=env.store, root=root,
                context=CONTEXT, horizon=HORIZON)
    assert ref.step == n_batches

    reg = JobRegistry()
    stop_at = threading.Event()

    def watching(progress, stop_event, **kw):
        def cb(fraction=None, metrics=None, message=None):
            progress(fraction, metrics, message)
            if metrics and metrics.get("kind") == "train" and metrics.get("step") == 9:
                stop_at.set()
                stop_event.wait(60)  # hold here until the test has pressed Stop
        return train(progress=cb, stop_event=stop_event, **kw)

    job = reg.submit("train", "stopme", watching, **_kw(env, root, "stopme"))
    assert stop_at.wait(120)
    job.stop()
    assert job.wait(120)
    assert job.status == "interrupted"
    k = job.result.step
    assert k == 9 < n_batches  # stopped in the middle of the only epoch
    run = runs.load_run("stopme", env.store)
    assert run.status == "interrupted" and run.info["stop_reason"] == "stopped by the user"
    assert run.last["step"] == k
    state = torch.load(run.path / "last_state.pt", weights_only=True)
    assert state["step"] == k and state["epoch"] == 0 and 0 < state["batch_in_epoch"] < n_batches
    assert _all_finite(run.path / "last.safetensors")

    info = train("stopme", None, None, None, store=env.store, root=root, resume=True)
    assert info.status == "finished" and info.step == n_batches
    steps = [r["step"] for r in runs.read_metrics("stopme", env.store, kind="train")]
    assert steps == list(range(1, n_batches + 1))  # the step count continues, no repeats
    # optimizer, scheduler, data order and path noise were all restored: same weights as `ref`
    a = runs.read_weights(env.store / "stopme" / "last.safetensors")
    b = runs.read_weights(env.store / "ref" / "last.safetensors")
    assert all(torch.allclose(a[key], b[key], atol=1e-6) for key in a)


def test_two_jobs_at_once_keep_their_metrics_and_files_apart(fs_env):
    env, root, _ = fs_env
    make_featureset(root, env.store, name="tiny-eth", symbol="ETH")
    reg = JobRegistry(max_running=2)
    a = reg.submit("train", "a", train_job, **_kw(env, root, "twin", max_steps=15, seed=1))
    kw = _kw(env, root, "twin", max_steps=15, seed=2, lr=1e-3)
    kw["featureset"] = "tiny-eth"
    b = reg.submit("train", "b", train_job, **kw)
    assert reg.wait_all(300)
    assert a.status == b.status == "finished"
    ida, idb = a.result.run_id, b.result.run_id
    assert {ida, idb} == {"twin", "twin-2"}
    for job, rid, sym in ((a, ida, "BTC"), (b, idb, "ETH")):
        assert {m["run_id"] for m in job.metrics} == {rid}
        file_rows = runs.read_metrics(rid, env.store)
        assert {r["run_id"] for r in file_rows} == {rid}
        assert [r["step"] for r in file_rows if r["kind"] == "train"] == list(range(1, 16))
        meta = json.loads((env.store / rid / "run.json").read_text())
        assert meta["run_id"] == rid and meta["selection"]["symbol"] == sym
    la = [m["loss"] for m in a.metrics if m["kind"] == "train"]
    lb = [m["loss"] for m in b.metrics if m["kind"] == "train"]
    assert la != lb


def test_spec_weights_mismatch_is_refused(fs_env):
    env, root, _ = fs_env
    train("mm", "tiny", "dlinear-gbm", tiny_config(max_steps=2), store=env.store, root=root,
          context=CONTEXT, horizon=HORIZON)
    p = env.store / "mm" / "run.json"
    meta = json.loads(p.read_text())
    meta["model_spec"]["d_model"] = meta["model_spec"]["d_model"] * 2
    p.write_text(json.dumps(meta))
    with pytest.raises(SpecError, match="does not match its weights .*mm/weights.safetensors.*with other shapes"):
        load_model("mm", store=env.store)


def test_resume_without_checkpoint_is_a_clear_error(fs_env):
    env, root, _ = fs_env
    from synthwb.core.errors import NotFound

    rid = runs.create_run("empty", env.store)
    with pytest.raises((NotFound, SpecError)):
        train(rid, None, None, None, store=env.store, resume=True)
    with pytest.raises(NotFound, match="no run"):
        train("never-existed", None, None, None, store=env.store, resume=True)

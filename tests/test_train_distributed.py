"""DDP training through torch.distributed on CPU (gloo, 2 real processes), and the device checks
a CPU-only machine can make: cuda asked for is a clear error, never a silent CPU fallback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest
import torch
from train_support import CONTEXT, HORIZON, make_featureset, tiny_config

from synthwb.core.device import resolve_device
from synthwb.core.errors import SpecError
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.forecast.kinds import load_forecaster
from synthwb.models.presets import as_spec
from synthwb.store import runs
from synthwb.train import train, train_on_devices
from synthwb.train.distributed import World, shard_order

ROOT = Path(__file__).resolve().parents[1]
STEPS = 4


def _spec(n_features: int) -> dict:
    """The recommended preset (GRU + term head, anchored), tiny, dropout off (dropout masks are
    per process, so they could not match)."""
    d = as_spec("anchored-term", n_features, None, CONTEXT, HORIZON).model_dump(mode="json")
    d["dropout"] = 0.0
    return d


def _cfg(**kw) -> dict:
    return tiny_config(max_steps=STEPS, val_every=100, calibrate=False, schedule="constant", **kw)


def _weights(run_id: str, store) -> dict:
    return runs.read_weights(runs.run_dir(run_id, store) / "last.safetensors")


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_shard_order_gives_each_rank_its_rows_of_every_global_batch():
    order = torch.arange(100, 140)  # 40 windows, global batches of 2 x 8 = 16 -> 2 full ones, 8 left over
    r0 = shard_order(order, 8, World(rank=0, size=2))
    r1 = shard_order(order, 8, World(rank=1, size=2))
    assert r0.tolist() == [*range(100, 108), *range(116, 124)]
    assert r1.tolist() == [*range(108, 116), *range(124, 132)]
    assert shard_order(order, 8, World()).tolist() == order.tolist()  # one process: untouched


def test_two_processes_x16_train_the_model_one_process_x32_trains(lake_env, demo_lake):
    fs = make_featureset(demo_lake, lake_env.store)
    spec = _spec(len(fs.feature_cols))
    one = train("one", "tiny", spec, _cfg(batch_size=32), store=lake_env.store, root=demo_lake)
    two = train_on_devices(2, "two", "tiny", spec, _cfg(batch_size=16), store=lake_env.store, root=demo_lake)
    train("half", "tiny", spec, _cfg(batch_size=16), store=lake_env.store, root=demo_lake)
    assert one.status == two.status == "finished" and one.step == two.step == STEPS

    w1, w2, wh = (_weights(r, lake_env.store) for r in ("one", "two", "half"))
    assert torch.load(runs.run_dir("two", lake_env.store) / "last_state.pt", weights_only=True)["step"] == STEPS
    # 2 x 16 == 1 x 32 to float round-off; 1 x 16 (another batch) is far from it
    assert _max_diff(w1, w2) < 1e-6
    assert _max_diff(w1, wh) > 1e-4
    m1 = [(r["step"], r["loss"]) for r in runs.read_metrics("one", lake_env.store, "train")]
    m2 = [(r["step"], r["loss"]) for r in runs.read_metrics("two", lake_env.store, "train")]
    assert [s for s, _ in m2] == list(range(1, STEPS + 1))  # every row written once (rank 0 only)
    assert np.allclose([v for _, v in m1], [v for _, v in m2], rtol=1e-6)  # the loss of the global batch
    vals = [(r["step"], r["val_loss"]) for r in runs.read_metrics("two", lake_env.store, "val")]
    ref_vals = [(r["step"], r["val_loss"]) for r in runs.read_metrics("one", lake_env.store, "val")]
    assert [s for s, _ in vals] == [0, STEPS]  # validated by rank 0 alone, on the global batch size
    assert np.allclose([v for _, v in vals], [v for _, v in ref_vals], rtol=1e-6)

    # the run is written once, by rank 0, and loads like any other run
    assert sorted(p.name for p in lake_env.store.iterdir() if not p.name.startswith("_")) == ["half", "one", "two"]
    info = runs.read_info("two", lake_env.store)
    assert info["status"] == "finished" and info["distributed"] == {"world_size": 2, "global_batch_size": 32}
    assert info["best"]["step"] in (0, STEPS) and info["pid"] != os.getpid()
    f = load_forecaster("two", store=lake_env.store, device="cpu", root=demo_lake)
    w = fs.windows("all", CONTEXT, HORIZON, 1)
    origin = w.origin_ts[200].astype("datetime64[us]").item().replace(tzinfo=UTC)
    bars = read_bars(Selection("crypto", "BTC", "15min"), root=demo_lake)
    paths = f.forecast(bars, [origin], n_steps=HORIZON, step_seconds=900, n_paths=32, seed=1)
    assert paths.shape == (1, 32, HORIZON + 1) and np.isfinite(paths).all()


def _run(*args, env) -> subprocess.CompletedProcess:
    e = {**os.environ, **env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=e, cwd=ROOT, timeout=300)


def _train_args(name: str, steps: int, batch: int, tmp: Path) -> list[str]:
    return ["train", "--name", name, "--features", "tiny", "--spec", str(tmp / "spec.json"), "--config",
            str(tmp / "config.json"), "--loss", "crps",
            "--max-steps", str(steps), "--batch-size", str(batch), "--n-paths", "32", "--n-paths-eval", "64",
            "--device", "cpu", "--val-every", "100", "--schedule", "constant", "--warmup-steps", "2",
            "--seed", "0", "--no-progress", "--json"]


def test_torchrun_runs_train_unchanged_and_resumes(lake_env, demo_lake, tmp_path):
    fs = make_featureset(demo_lake, lake_env.store)
    (tmp_path / "spec.json").write_text(json.dumps(_spec(len(fs.feature_cols))))
    (tmp_path / "config.json").write_text(json.dumps({"log_every": 1, "calibrate": False, "stride": 1}))
    env = {"SYNTHWB_STORE_DIR": str(lake_env.store), "SYNTHWB_DATA_DIR": str(demo_lake)}
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "synthwb"]

    r = _run(*torchrun, *_train_args("tr", 2, 16, tmp_path), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)  # one JSON document: only rank 0 reports
    assert out["run_id"] == "tr" and out["step"] == 2 and out["status"] == "finished"
    r = _run(*torchrun, "train", "--name", "tr", "--resume", "--max-steps", str(STEPS), "--no-progress", "--json",
             env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["step"] == STEPS and out["status"] == "finished"
    assert [m["step"] for m in runs.read_metrics("tr", lake_env.store, "train")] == list(range(1, STEPS + 1))

    # 2 steps + resume to 4 under torchrun, 2 x 16 == 4 uninterrupted steps of 1 x 32
    ref = _run("-m", "synthwb", *_train_args("ref", STEPS, 32, tmp_path), env=env)
    assert ref.returncode == 0, ref.stderr
    assert _max_diff(_weights("tr", lake_env.store), _weights("ref", lake_env.store)) < 1e-6


def test_devices_launcher_and_cuda_on_a_cpu_machine_leave_no_run_behind(lake_env, demo_lake, tmp_path):
    make_featureset(demo_lake, lake_env.store)
    env = {"SYNTHWB_STORE_DIR": str(lake_env.store), "SYNTHWB_DATA_DIR": str(demo_lake)}
    base = ["-m", "synthwb", "train", "--name", "x", "--features", "tiny", "--preset", "dlinear-gbm", "--context",
            str(CONTEXT), "--horizon", str(HORIZON), "--loss", "crps", "--max-steps", "2"]
    cases = [(["--devices", "0"], "--devices must be at least 1"),
             (["--devices", "2", "--features", "missing"], "no feature set named 'missing'"),
             (["--devices", "2", "--moirai", "Salesforce/moirai-1.1-R-small"], "Moirai fine-tuning runs on one process")]
    if not torch.cuda.is_available():
        cases += [(["--device", "cuda"], "CUDA is not available"), (["--devices", "2", "--device", "cuda"],
                                                                     "CUDA is not available")]
    for extra, words in cases:
        r = _run(*base, *extra, env=env)
        assert r.returncode == 2, (extra, r.stderr)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and words in r.stderr, (extra, r.stderr)
        assert "Traceback" not in r.stderr
        assert [p.name for p in lake_env.store.iterdir() if not p.name.startswith("_")] == []  # no run folder


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the CPU-only refusal cannot occur")
def test_cuda_requested_without_cuda_is_refused_before_any_run_folder(lake_env, demo_lake):
    with pytest.raises(SpecError, match="CUDA is not available"):
        resolve_device("cuda")
    assert resolve_device("auto").type in ("cpu", "mps") and resolve_device("cpu").type == "cpu"
    make_featureset(demo_lake, lake_env.store)
    with pytest.raises(SpecError, match="CUDA is not available"):
        train("gpu", "tiny", "dlinear-gbm", tiny_config(device="cuda"), store=lake_env.store, root=demo_lake,
              context=CONTEXT, horizon=HORIZON)
    assert [p.name for p in lake_env.store.iterdir() if not p.name.startswith("_")] == []


def test_early_stopping_is_decided_once_for_every_rank(lake_env, demo_lake):
    """A learning rate that makes every validation worse than the untrained anchor's: rank 0
    decides to stop at the first bad validation and the other rank stops with it (no hang),
    at the step one process stops at."""
    fs = make_featureset(demo_lake, lake_env.store)
    spec = _spec(len(fs.feature_cols))
    cfg = tiny_config(max_steps=12, val_every=2, patience=1, lr=3.0, warmup_steps=0, calibrate=False)
    one = train("one", "tiny", spec, {**cfg, "batch_size": 32}, store=lake_env.store, root=demo_lake)
    two = train_on_devices(2, "two", "tiny", spec, {**cfg, "batch_size": 16}, store=lake_env.store, root=demo_lake)
    assert one.stop_reason.startswith("early stopping") and one.step < 12
    assert (two.status, two.step, two.stop_reason) == (one.status, one.step, one.stop_reason)
    assert [r["step"] for r in runs.read_metrics("two", lake_env.store, "val")] == \
        [r["step"] for r in runs.read_metrics("one", lake_env.store, "val")]


def test_a_ddp_job_streams_progress_stops_and_resumes(lake_env, demo_lake):
    """The Train page's path: a background job on 2 processes; rank 0's rows reach the job's
    progress in this process, Stop ends every rank at the next step (interrupted, resumable)."""
    from synthwb.jobs.adapters import train_job
    from synthwb.jobs.registry import JobRegistry

    make_featureset(demo_lake, lake_env.store)
    cfg = tiny_config(max_steps=100_000, epochs=1000, val_every=5, calibrate=False, batch_size=16)
    reg = JobRegistry()
    job = reg.submit("train", "ddp job", train_job, devices=2, name="ddp-job", featureset="tiny",
                     model_spec="dlinear-gbm", config=cfg, store=lake_env.store, root=demo_lake, context=CONTEXT,
                     horizon=HORIZON)
    deadline = time.time() + 240
    while time.time() < deadline and not any(m.get("kind") == "val" and m.get("step", 0) >= 5 for m in job.metrics):
        time.sleep(0.2)
    job.stop()
    assert job.wait(240) and job.status == "interrupted", (job.status, job.error)
    info = job.result
    assert info.stop_reason == "stopped by the user" and 5 <= info.step < 100_000
    train_rows = [m for m in job.metrics if m.get("kind") == "train"]
    assert train_rows and train_rows[-1]["step"] <= info.step  # rank 0's rows, relayed live
    assert runs.read_info("ddp-job", lake_env.store)["status"] == "interrupted"
    more = train_on_devices(2, "ddp-job", config={"max_steps": info.step + 3}, store=lake_env.store, root=demo_lake,
                            resume=True)
    assert more.status == "finished" and more.step == info.step + 3
    steps = [r["step"] for r in runs.read_metrics("ddp-job", lake_env.store, "train")]
    assert steps == list(range(1, info.step + 4))  # no step lost or repeated across the stop


def test_train_page_starts_a_two_process_run(lake_env, demo_lake, monkeypatch):
    from apptest_support import open_page, train_to_the_end


    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    make_featureset(demo_lake, lake_env.store)
    at = open_page("train")
    at.selectbox(key="tr_fs").select("tiny")
    at.selectbox(key="tr_model").select("preset: dlinear-gbm")
    at.number_input(key="tr_context").set_value(CONTEXT)
    at.number_input(key="tr_horizon").set_value(HORIZON)
    at.selectbox(key="tr_loss").select("crps")
    at.text_input(key="tr_name").input("two procs")
    at.number_input(key="tr_devices").set_value(2)
    at.number_input(key="tr_max_steps").set_value(4)
    at.number_input(key="tr_batch_size").set_value(16)
    at.selectbox(key="tr_device").select("cpu")
    train_to_the_end(at)
    assert any("two-procs" in s.value and "finished at step 4" in s.value for s in at.success)
    info = runs.read_info("two-procs", lake_env.store)
    assert info["distributed"] == {"world_size": 2, "global_batch_size": 32} and info["status"] == "finished"

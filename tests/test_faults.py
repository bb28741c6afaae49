"""Faults a user's store can hold, with real files, real processes and real threads: two writers of
one run, a stale writer lock, a wrong-shape run.json, NaN weights, a tampered checkpoint."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from train_support import CONTEXT, HORIZON, make_featureset, tiny_config

from synthwb.cli import main
from synthwb.core.errors import SynthwbError
from synthwb.forecast.run import load_model
from synthwb.store import runs
from synthwb.train import train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(lake_env, demo_lake):
    make_featureset(demo_lake, lake_env.store)
    info = train("done", "tiny", "dlinear-gbm", tiny_config(max_steps=4, val_every=2), store=lake_env.store,
                 root=demo_lake, context=CONTEXT, horizon=HORIZON)
    assert info.status == "finished"
    return lake_env, demo_lake


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------------------ one writer


def test_a_second_resume_of_a_run_being_trained_is_refused(env):
    """Two `train --resume` of one run: the first (a real process) trains and holds the lock with
    its pid and host; the second is refused naming them, and writes nothing."""
    lake_env, demo_lake = env
    store = lake_env.store
    run_dir = store / "done"
    e = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "SYNTHWB_STORE_DIR": str(store),
         "SYNTHWB_DATA_DIR": str(demo_lake)}
    first = subprocess.Popen([sys.executable, "-m", "synthwb", "train", "--name", "done", "--resume",
                              "--max-steps", "1000000", "--epochs", "100000", "--no-progress"],
                             env=e, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and runs.read_info("done", store)["status"] != "running":
            assert first.poll() is None, first.communicate()
            time.sleep(0.2)
        holder = json.loads((run_dir / runs.LOCK).read_text())
        assert holder["pid"] == first.pid and holder["host"] == socket.gethostname()
        assert runs.lock_holder("done", store)["pid"] == first.pid

        before = runs.read_info("done", store)
        code, out, err = cli("train", "--name", "done", "--resume", "--max-steps", "50", "--no-progress")
        line = one_error_line(err)
        assert code == 2
        assert f"run 'done' is being written by pid {first.pid} on host {socket.gethostname()}" in line
        assert "wait for it to finish or stop it first" in line
        # the refused resume wrote nothing: the first writer's status and pid stand
        after = runs.read_info("done", store)
        assert after["pid"] == first.pid == before["pid"] and after["status"] == "running"
        # nor may the run be deleted or renamed under its writer
        code, _, err = cli("runs", "delete", "done", "--yes")
        assert code == 2 and "done" in one_error_line(err)
        code, _, err = cli("runs", "rename", "done", "other")
        assert code == 2 and (run_dir / "run.json").is_file()
    finally:
        first.send_signal(signal.SIGINT)  # a cooperative stop: saved as interrupted
        _, ferr = first.communicate(timeout=120)
    assert first.returncode == 0, ferr
    assert runs.read_info("done", store)["status"] == "interrupted"
    assert not (run_dir / runs.LOCK).exists()  # released on the way out


def test_two_resumes_in_one_process_one_is_refused(env):
    """The app's jobs are threads of one process: the flock still lets only one of them write."""
    lake_env, demo_lake = env
    store = lake_env.store
    started = threading.Event()
    release = threading.Event()
    results: dict[str, object] = {}

    def slow(fraction=None, metrics=None, message=None):
        started.set()
        release.wait(60)

    def first():
        results["first"] = train("done", None, None, {"max_steps": 8}, store=store, root=demo_lake, resume=True,
                                 progress=slow)

    t = threading.Thread(target=first)
    t.start()
    assert started.wait(60)
    with pytest.raises(runs.RunLocked, match=rf"being written by pid {os.getpid()}"):
        train("done", None, None, {"max_steps": 8}, store=store, root=demo_lake, resume=True)
    release.set()
    t.join(120)
    assert results["first"].status == "finished" and results["first"].step == 8
    assert not (store / "done" / runs.LOCK).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(env):
    """A training killed with -9 leaves its lock file; on the same host its dead pid makes it stale."""
    lake_env, demo_lake = env
    store = lake_env.store
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"pid": dead.pid, "host": socket.gethostname(), "since": "2026-01-01T00:00:00+00:00", "run_id": "done"}
    (store / "done" / runs.LOCK).write_text(json.dumps(stale))
    assert runs.lock_holder("done", store) is None

    lock = runs.writer_lock("done", store)
    try:
        assert lock.took_over == stale
        assert json.loads((store / "done" / runs.LOCK).read_text())["pid"] == os.getpid()
    finally:
        lock.release()
    assert not (store / "done" / runs.LOCK).exists()

    (store / "done" / runs.LOCK).write_text(json.dumps(stale))
    info = train("done", None, None, {"max_steps": 6}, store=store, root=demo_lake, resume=True)
    assert info.status == "finished" and info.step == 6
    assert not (store / "done" / runs.LOCK).exists()


def test_a_lock_held_on_another_host_is_respected(env):
    lake_env, _ = env
    other = {"pid": 1, "host": "another-host.example", "since": "2026-01-01T00:00:00+00:00"}
    (lake_env.store / "done" / runs.LOCK).write_text(json.dumps(other))
    with pytest.raises(runs.RunLocked, match="pid 1 on host another-host.example.*If that process is gone, delete"):
        runs.writer_lock("done", lake_env.store)


# ------------------------------------------------------------------------------ damaged files


@pytest.mark.parametrize("content", ["[]", '{"selection": 5}', '"text"', '{"run_id": "bad", "status": "exploded"}'])
def test_a_wrong_shape_run_json_is_listed_as_broken_and_refused_clearly(env, content):
    lake_env, _ = env
    bad = lake_env.store / "bad"
    bad.mkdir()
    (bad / "run.json").write_text(content)
    code, out, err = cli("runs", "list", "--json")
    assert code == 0 and err == ""
    listed = {r["run_id"]: r for r in json.loads(out)}
    assert listed["done"]["status"] == "finished"  # every other run still lists
    assert listed["bad"]["status"] == "failed" and "run.json" in listed["bad"]["error"] and listed["bad"]["broken"]
    code, out, err = cli("runs", "list")
    assert code == 0 and "(broken run.json)" in out and "broken: bad: unreadable run.json: run 'bad'" in out
    for argv in (("runs", "show", "bad"), ("backtest", "--run", "bad", "--task", "1h"),
                 ("forecast", "--run", "bad", "--task", "1h", "--out", str(lake_env.root.parent / "r.json"))):
        code, _, err = cli(*argv)
        assert code == 2 and "run 'bad'" in one_error_line(err) and "run.json" in err


def test_nan_weights_are_refused_at_load(env):
    """All-NaN weights would forecast flat paths that score as valid: refused where they are read."""
    lake_env, _ = env
    store = lake_env.store
    path = store / "done" / runs.BEST
    state = runs.read_weights(path)
    save_file({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()},
              str(path))
    with pytest.raises(SynthwbError, match=r"weights weights.safetensors of run 'done' hold NaN/inf values"):
        load_model("done", store=store)
    before = digest(store)
    code, _, err = cli("backtest", "--run", "done", "--task", "1h", "--baseline", "none", "--origins", "3",
                       "--n-paths", "16")
    assert code == 2 and "hold NaN/inf values" in one_error_line(err) and "retrain the run" in err
    assert digest(store) == before  # no backtest folder saved beside the run


@pytest.mark.parametrize("tamper", ["garbage", "pickle", "empty-dict"])
def test_a_tampered_checkpoint_refuses_resume_and_keeps_the_run_as_it_was(env, tamper):
    lake_env, _ = env
    store = lake_env.store
    state_file = store / "done" / runs.LAST_STATE
    if tamper == "garbage":
        state_file.write_bytes(b"\x80\x04not a checkpoint" * 50)
    elif tamper == "pickle":  # an arbitrary object: torch.load(weights_only=True) must not run it
        torch.save({"step": 1, "optimizer": {}, "scheduler": {}, "evil": threading.Lock}, state_file)
    else:
        torch.save({}, state_file)
    before = digest(store)
    code, out, err = cli("train", "--name", "done", "--resume", "--epochs", "3", "--no-progress")
    line = one_error_line(err)
    assert code == 2
    assert "run 'done': its training state last_state.pt is damaged or not a synthwb checkpoint" in line
    assert len(line) < 300  # one short line, not torch's pages
    assert digest(store) == before  # status, run.json and every file untouched
    assert runs.read_info("done", store)["status"] == "finished"
    assert not (store / "done" / runs.LOCK).exists()

"""The forward test (synthwb.live): a replay of stored history through the simulated clock gives,
score for score, the validator-cadence backtest of the same requests; a restart resumes from the
state on disk without scoring anything twice; the CLI face (`synthwb live`)."""
from __future__ import annotations

import json
import os
import socket
import threading
from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pytest

from synthwb.core.errors import SpecError
from synthwb.evaluate.backtest import BacktestSpec, run_backtest
from synthwb.evaluate.validator import CORRECT, validate_response
from synthwb.live.engine import run_live
from synthwb.live.report import behind_baselines, reward_replay, rolling_scores
from synthwb.live.state import live_folder

BASELINES = ["gbm", "gbm_ewma"]


def _spec(name, start, end, **kw):
    return {"name": name, "baselines": BASELINES, "assets": ["BTC"], "clock": "simulated", "start": start,
            "end": end, "n_paths": 50, **kw}


def _live_scores(store, name) -> dict:
    state = live_folder(name, store).read()
    return {(r["origin"], m): v["total"] for r in state["requests"].values() if r["status"] == "scored"
            for m, v in r["models"].items()}


def _backtest_scores(root, start, end, validator=None) -> dict:
    """The validator-cadence backtest over the same requests: origins one bar before the replay's
    start (a request at the replay's start sits on the bar that closes there), results cut at
    its end."""
    spec = BacktestSpec.parse({
        "selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "1min"}, "task": "1h",
        "start": start,
        "end": "2024-01-12T03:00:00", "n_origins": 100_000, "n_paths": 50, "baselines": BASELINES,
        "keep_paths": 0, "cadence": True, "validator": validator})
    res = run_backtest(spec, root=root)
    po = res.per_origin
    cut = datetime.fromisoformat(end)  # requests (1-minute bars: origin + 1 min) before the replay's end
    return {(o.isoformat(), m): v for o, m, v in zip(po["origin"], po["model"], po["total"])
            if o + timedelta(minutes=1) < cut}


def test_a_replay_of_two_days_equals_the_validator_cadence_backtest(demo_lake, tmp_path):
    store = tmp_path / "store"
    res = run_live("two-days", _spec("two-days", "2024-01-10T00:00:00", "2024-01-12T00:00:00"), root=demo_lake,
                   store=store)
    assert res.status == "finished" and res.n_pending == 0
    live = _live_scores(store, "two-days")
    bt = _backtest_scores(demo_lake, "2024-01-09T23:59:00", "2024-01-12T00:00:00+00:00")
    # one scored request per (asset, 10 minutes) over two days, every one scored by both
    assert len(live) == len(bt) == 2 * 288
    assert set(live) == set(bt)
    assert all(live[k] == bt[k] for k in bt), "a replayed score differs from the backtest's"
    # the stored responses are in the validator's format, with their request metadata
    folder = live_folder("two-days", store)
    state = folder.read()
    rec = max((r for r in state["requests"].values() if r["status"] == "scored"), key=lambda r: r["request_time"])
    resp = folder.read_response(rec["key"], "gbm")
    assert validate_response(resp, "1h", rec["start_timestamp"], 50, "2026-09") == CORRECT
    assert rec["time_increment"] == 60 and rec["time_length"] == 3600 and rec["num_simulations"] == 50
    assert rec["models"]["gbm"]["verdict"].startswith("Number of paths")  # 50 paths: the validator wants 1000
    # the report: rolling scores (the validator's asset-weighted mean over the window), reward replay
    roll = rolling_scores(state)
    assert set(roll["model"]) == set(BASELINES) and (roll["n_requests"] == 288).all()
    gbm = [v for (o, m), v in live.items() if m == "gbm"]
    assert roll.filter(roll["model"] == "gbm")["rolling_score"][0] == pytest.approx(np.mean(gbm), rel=1e-12)
    rew = reward_replay(state)
    assert rew["summary"]["final_share"].sum() == pytest.approx(1.0)


def test_a_2026_05_replay_equals_its_backtest(demo_lake, tmp_path):
    store = tmp_path / "store"
    run_live("old", _spec("old", "2024-01-10T00:00:00", "2024-01-10T08:00:00", validator="2026-05",
                          competition="1h"), root=demo_lake, store=store)
    live = _live_scores(store, "old")
    bt = _backtest_scores(demo_lake, "2024-01-09T23:59:00", "2024-01-10T08:00:00+00:00", "2026-05")
    assert live and set(live) == set(bt) and all(live[k] == bt[k] for k in bt)


def test_a_restart_resumes_without_scoring_twice(demo_lake, tmp_path):
    store = tmp_path / "store"
    spec = _spec("resume", "2024-01-10T00:00:00", "2024-01-10T06:00:00")
    stop = threading.Event()

    def progress(fraction=None, metrics=None, message=None):
        if metrics and metrics["n_scored"] >= 12:
            stop.set()

    first = run_live("resume", spec, root=demo_lake, store=store, progress=progress, stop_event=stop)
    assert first.status == "interrupted" and 12 <= first.n_scored < 36 and first.n_pending > 0
    folder = live_folder("resume", store)
    assert folder.read()["desired"] == "stopped" and folder.holder() is None
    # a crash leaves a stale lock of a process that is gone: it does not block the resume
    folder.lock_file.write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname()}))
    again = run_live("resume", None, root=demo_lake, store=store)
    assert again.status == "finished" and again.n_pending == 0
    events = [e["key"] for e in folder.events()]
    assert len(events) == len(set(events)) == again.n_scored, Counter(events).most_common(2)
    # the same scores as one uninterrupted run
    run_live("straight", {**spec, "name": "straight"}, root=demo_lake, store=store)
    assert _live_scores(store, "resume") == _live_scores(store, "straight")
    # nothing is left pending on disk
    assert not any((folder.path / "pending").glob("*/*.npy"))


def test_one_runner_per_test_and_the_spec_must_match(demo_lake, tmp_path):
    store = tmp_path / "store"
    spec = _spec("one", "2024-01-10T00:00:00", "2024-01-10T01:00:00")
    folder = live_folder("one", store, create=True)
    folder.acquire("cli")  # this process holds it
    try:
        with pytest.raises(SpecError, match="already running"):
            run_live("one", spec, root=demo_lake, store=store)
    finally:
        folder.release()
    run_live("one", spec, root=demo_lake, store=store)
    with pytest.raises(SpecError, match="another spec"):
        run_live("one", {**spec, "n_paths": 60}, root=demo_lake, store=store)
    with pytest.raises(SpecError, match="simulated clock needs a start"):
        run_live("two", {"name": "two", "clock": "simulated"}, root=demo_lake, store=store)
    with pytest.raises(SpecError, match="does not count"):
        run_live("three", {"name": "three", "assets": ["XAU"], "clock": "simulated", "start": "2024-01-10"},
                 root=demo_lake, store=store)


def test_warning_when_a_run_falls_behind_a_baseline():
    import polars as pl

    roll = pl.DataFrame({"model": ["gbm", "my-run"], "kind": ["baseline", "run"], "rolling_score": [100.0, 110.0]})
    (w,) = behind_baselines(roll)
    assert "my-run" in w and "gbm" in w and "+10.0%" in w
    assert behind_baselines(roll.with_columns(pl.Series("rolling_score", [100.0, 90.0]))) == []


def _cli(capsys, *argv):
    from synthwb.cli import main

    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_live_start_status_stop(demo_lake, tmp_path, capsys):
    base = ["--root", str(demo_lake), "--store", str(tmp_path / "store")]
    rc, out, err = _cli(capsys, "live", "start", *base, "--name", "cli-test", "--clock", "simulated",
                        "--start", "2024-01-10", "--end", "2024-01-10T02:00", "--n-paths", "40", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["status"] == "finished" and data["n_scored"] == 36 and {r["model"] for r in data["rolling"]} == {"gbm"}
    rc, out, _ = _cli(capsys, "live", "status", *base)
    assert rc == 0 and "cli-test: finished" in out and "36 scored" in out
    rc, out, _ = _cli(capsys, "live", "status", *base, "--name", "cli-test")
    assert rc == 0 and "rolling score" in out and "gbm" in out
    rc, out, _ = _cli(capsys, "live", "stop", *base, "--name", "cli-test")
    assert rc == 0 and "was not running" in out
    rc, _, err = _cli(capsys, "live", "status", *base, "--name", "nope")
    assert rc == 2 and err.startswith("error: no forward test 'nope'") and len(err.strip().splitlines()) == 1
    rc, _, err = _cli(capsys, "live", "start", *base, "--name", "bad", "--competition", "nope")
    assert rc == 2 and "no competition 'nope'" in err


@pytest.mark.skipif(os.name != "posix", reason="detached processes: POSIX")
def test_cli_live_start_detached_then_stop(demo_lake, tmp_path, capsys):
    import time

    base = ["--root", str(demo_lake), "--store", str(tmp_path / "store")]
    rc, out, err = _cli(capsys, "live", "start", *base, "--name", "bg", "--clock", "simulated", "--start",
                        "2024-01-10", "--end", "2024-01-13", "--speed", "60", "--n-paths", "40", "--detach", "--json")
    assert rc == 0, err
    folder = live_folder("bg", tmp_path / "store")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not folder.exists() or folder.holder() is None):
        time.sleep(0.2)
    assert folder.holder() is not None, (folder.path / "log").read_text()
    rc, out, _ = _cli(capsys, "live", "stop", *base, "--name", "bg", "--json")
    assert rc == 0 and json.loads(out)["stopped"] is True
    assert folder.read()["status"] == "interrupted" and folder.read()["desired"] == "stopped"

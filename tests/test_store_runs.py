"""models_store: run folders, atomic checkpoints, listing, rename/delete, spec/weights checks."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from synthwb.core.errors import NotFound, SpecError, SynthwbError
from synthwb.store import runs


def test_create_run_unique_slug_ids_and_run_json(tmp_path):
    a = runs.create_run("My Run #1", tmp_path, config={"lr": 0.1})
    b = runs.create_run("My Run #1", tmp_path)
    assert a == "my-run-1" and b == "my-run-1-2"
    info = json.loads((tmp_path / a / "run.json").read_text())
    assert info["run_id"] == a and info["name"] == "My Run #1" and info["status"] == "queued"
    assert info["config"] == {"lr": 0.1}
    assert info["versions"]["torch"] == torch.__version__
    assert info["versions"]["python"].count(".") == 2


def test_create_run_in_parallel_never_collides(tmp_path):
    ids: list[str] = []
    lock = threading.Lock()

    def make():
        rid = runs.create_run("same", tmp_path)
        with lock:
            ids.append(rid)

    ts = [threading.Thread(target=make) for _ in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert len(set(ids)) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ids)


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "..", "-x", "UPPER", "_featuresets"])
def test_run_ids_from_user_input_are_validated(tmp_path, bad):
    with pytest.raises(SpecError):
        runs.run_dir(bad, tmp_path)


def test_bad_names_rejected(tmp_path):
    with pytest.raises(SpecError, match="invalid run name"):
        runs.create_run("///", tmp_path)
    runs.create_run("ok", tmp_path)
    with pytest.raises(SpecError):
        runs.rename_run("ok", "../../escape", tmp_path)


def test_list_update_rename_delete(tmp_path):
    a = runs.create_run("alpha", tmp_path, model_spec={"blocks": [{"name": "dlinear"}], "head": {"name": "gbm"}},
                        selection={"symbol": "BTC", "freq": "1h"})
    time.sleep(0.01)  # created has millisecond resolution
    b = runs.create_run("beta", tmp_path, model_name="hybrid-horizon")
    (tmp_path / "_featuresets").mkdir()
    (tmp_path / ".hidden").mkdir()
    rows = runs.list_runs(tmp_path)
    assert [r["run_id"] for r in rows] == [b, a]
    assert rows[1]["symbol"] == "BTC" and rows[1]["model"] == "dlinear/gbm"
    assert rows[0]["model"] == "hybrid-horizon"
    # the task a run targets, by name: a built-in one, a custom task dict's own name, none when unnamed
    for task, want in (("1h", "1h"), ({"name": "24x1h", "step_seconds": 3600, "n_points": 25}, "24x1h"),
                       ({"step_seconds": 3600}, None)):
        runs.update_run(b, tmp_path, config={"synth_task": task})
        assert runs.list_runs(tmp_path)[0]["task"] == want

    runs.update_run(a, tmp_path, status="finished", best={"val_crps": 3.0, "step": 10})
    runs.update_run(a, tmp_path, best={"sharpness": 2.0})
    info = runs.read_info(a, tmp_path)
    assert info["best"] == {"val_crps": 3.0, "step": 10, "sharpness": 2.0}

    new = runs.rename_run(a, "Alpha Renamed", tmp_path)
    assert new == "alpha-renamed"
    assert not (tmp_path / a).exists()
    assert runs.read_info(new, tmp_path)["run_id"] == new
    with pytest.raises(SpecError, match="already exists"):
        runs.rename_run(new, "beta", tmp_path)

    runs.update_run(b, tmp_path, status="running")  # this process is alive -> really active
    with pytest.raises(SpecError, match="stop it before deleting"):
        runs.delete_run(b, tmp_path)
    runs.delete_run(b, tmp_path, force=True)
    runs.delete_run(new, tmp_path)
    assert runs.list_runs(tmp_path) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".deleting")]
    with pytest.raises(NotFound, match="no run"):
        runs.load_run(new, tmp_path)


def test_active_run_of_a_dead_process_reads_interrupted(tmp_path):
    rid = runs.create_run("ghost", tmp_path)
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    runs.update_run(rid, tmp_path, status="running", pid=dead_pid)
    assert runs.read_info(rid, tmp_path)["status"] == "interrupted"
    assert runs.list_runs(tmp_path)[0]["status"] == "interrupted"
    runs.delete_run(rid, tmp_path)  # allowed: nobody is training it


def test_weights_roundtrip_refuse_nan_and_mismatch(tmp_path):
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    f = tmp_path / "w.safetensors"
    runs.save_weights(f, m.state_dict(), {"step": 7})
    state = runs.read_weights(f)
    assert set(state) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert torch.equal(state["0.weight"], m[0].weight.detach())

    bad = {k: v.clone() for k, v in m.state_dict().items()}
    bad["2.bias"][0] = float("nan")
    with pytest.raises(SynthwbError, match="NaN/inf.*2.bias"):
        runs.save_weights(f, bad)
    assert torch.equal(runs.read_weights(f)["0.weight"], m[0].weight.detach())  # previous file intact
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left

    other = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2), torch.nn.Linear(2, 2))
    with pytest.raises(SpecError) as ei:
        runs.check_weights_match(other, state)
    msg = str(ei.value)
    assert "does not match" in msg and "2 missing" in msg and "3.weight" in msg and "3.bias" in msg
    assert "0.weight: spec (5, 3) vs weights (4, 3)" in msg


def test_failure_inside_atomic_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    import safetensors.torch as st

    f = tmp_path / "last.safetensors"
    runs.save_weights(f, {"w": torch.ones(1000)})

    def torn_write(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\x00" * 123)  # half a file ...
        raise OSError("disk full")  # ... then the writer dies

    monkeypatch.setattr(st, "save_file", torn_write)
    with pytest.raises(OSError, match="disk full"):
        runs.save_weights(f, {"w": torch.full((1000,), 2.0)})
    assert torch.equal(runs.read_weights(f)["w"], torch.ones(1000))
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]


def test_process_killed_during_checkpoint_writes_leaves_a_loadable_file(tmp_path):
    """SIGKILL a process that rewrites a 16 MB checkpoint in a loop: the file always loads and
    holds one complete version (all elements equal), never a torn mix."""
    f = tmp_path / "last.safetensors"
    marker = tmp_path / "wrote"
    script = textwrap.dedent(f"""
        import torch
        from pathlib import Path
        from synthwb.store.runs import save_weights
        i = 0
        while True:
            save_weights({str(f)!r}, {{"w": torch.full((4_000_000,), float(i))}}, {{"i": i}})
            if i == 1:
                Path({str(marker)!r}).write_text("1")
            i += 1
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "writer never got going"
        time.sleep(0.15)  # very likely in the middle of the next write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    w = runs.read_weights(f)["w"]
    assert w.shape == (4_000_000,)
    assert bool((w == w[0]).all()) and float(w[0]) >= 1.0


@pytest.mark.parametrize("content", ["[]", '"text"', '{"run_id": "bad", "name": "bad", "selection": 5}',
                                     '{"run_id": "bad", "name": "bad", "best": [1, 2]}'])
def test_a_wrong_shape_run_json_is_listed_as_broken_not_a_crash(tmp_path, content):
    good = runs.create_run("good", tmp_path, selection={"asset_class": "crypto", "symbol": "BTC", "freq": "5min"})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / runs.RUN_JSON).write_text(content)
    listed = {r["run_id"]: r for r in runs.list_runs(tmp_path)}
    assert listed[good]["status"] == "queued" or listed[good]["status"] == "interrupted"
    assert listed["bad"]["status"] == "failed" and "run.json" in listed["bad"]["error"]
    with pytest.raises(SynthwbError, match="bad"):
        runs.read_info("bad", tmp_path)


def test_the_app_listens_on_localhost_only():
    import tomllib
    from pathlib import Path

    cfg = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1"


def test_the_upload_limit_is_near_streamlits_default():
    import tomllib
    from pathlib import Path

    cfg = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["maxUploadSize"] <= 200  # MB; Streamlit's default

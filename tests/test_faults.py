"""Faults a user's store can hold, with real files, real processes and real threads: two writers of
one run, a stale writer lock, a wrong-shape run.json, NaN weights, a tampered checkpoint."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
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
    code, _, err = cli("backtest", "--classical", "none", "--run", "done", "--task", "1h", "--baseline", "none", "--origins", "3",
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


# ------------------------------------------------------------------------------ full disks


@contextlib.contextmanager
def tiny_tmpfs(folder: Path, size: str):
    """A real filesystem of ``size`` mounted at ``folder`` (needs root: skipped without it)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()[:80]})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


BACKTEST = ("backtest", "--classical", "none", "--asset-class", "crypto", "--symbol", "BTC", "--freq", "1min", "--task", "1h",
            "--origins", "40", "--n-paths", "100", "--no-save")


def test_a_full_disk_refuses_the_csvs_before_writing_any(env, tmp_path):
    """The space check: the CSVs' size against the disk's free space, one line, nothing written."""
    _, demo_lake = env
    with tiny_tmpfs(tmp_path / "full", "64k") as full:
        code, out, err = cli(*BACKTEST, "--csv", str(full / "out"), "--root", str(demo_lake))
        line = one_error_line(err)
        assert code == 2
        assert re.search(r"cannot write backtest CSVs '.*/out': it needs about [\d.]+ [kM]B but only [\d.]+ kB is "
                         r"free on that disk; free some space or choose another folder", line), line
        assert listing(full) == []


def test_a_disk_that_fills_mid_write_leaves_no_csv_half_written(env, tmp_path, monkeypatch):
    """The write path itself (the space check passed, the disk filled meanwhile): every file of
    the set is written beside its name first, so a full disk leaves none of them, no temp file."""
    _, demo_lake = env
    monkeypatch.setattr("synthwb.core.io.check_free_space", lambda *a, **k: None)
    with tiny_tmpfs(tmp_path / "full", "64k") as full:
        code, out, err = cli(*BACKTEST, "--csv", str(full / "out"), "--root", str(demo_lake))
        line = one_error_line(err)
        assert code == 2
        assert re.search(r"cannot write backtest CSVs '.*per_origin\.csv': no space left on the device \([\d.]+ kB "
                         r"free there\); nothing was written", line), line
        assert listing(full) in ([], ["out"])  # at most the empty folder: no per_origin.csv, no temp file


def test_a_response_to_a_full_disk_is_one_error_and_no_file(env, tmp_path):
    lake_env, demo_lake = env
    with tiny_tmpfs(tmp_path / "full", "4k") as full:
        code, out, err = cli("fit", "--name", "g", "--model", "garch", "--asset-class", "crypto", "--symbol", "BTC",
                             "--freq", "5min", "--root", str(demo_lake))
        assert code == 0, err
        code, out, err = cli("forecast", "--run", "g", "--task", "24h", "--out", str(full / "r.json"),
                             "--at", "2024-01-19T06:00", "--root", str(demo_lake))
        line = one_error_line(err)
        assert code == 2 and re.search(r"cannot write file '.*r\.json': no space left on the device", line), line
        assert listing(full) == []


def test_training_into_a_full_store_is_refused_before_it_starts(env, tmp_path):
    """The run's weights, checkpoints and metrics are sized before the first step; the run
    folder made for it goes again."""
    lake_env, demo_lake = env
    with tiny_tmpfs(tmp_path / "small_store", "140k") as store:
        import shutil

        shutil.copytree(lake_env.store / "_featuresets", store / "_featuresets")
        code, out, err = cli("train", "--name", "t", "--features", "tiny", "--preset", "dlinear-gbm", "--loss", "crps",
                             "--context", "32", "--horizon", "8", "--max-steps", "4", "--store", str(store),
                             "--root", str(demo_lake), "--no-progress")
        line = one_error_line(err)
        assert code == 2
        assert re.search(r"cannot write run 't' \(weights, checkpoints and metrics\) into '.*/t': it needs about "
                         r"[\d.]+ kB but only [\d.]+ kB is free on that disk", line), line
        assert not (store / "t").exists() and sorted(p.name for p in store.iterdir()) == ["_featuresets"]


def test_the_space_check_reads_the_disk_it_writes_to(tmp_path, monkeypatch):
    """No root needed: the disk's free space as shutil reports it decides, with both numbers."""
    from synthwb.core import io as core_io
    from synthwb.core.errors import WriteFailed

    monkeypatch.setattr(core_io.shutil, "disk_usage", lambda p: shutil_usage(total=10**9, used=10**9 - 500_000,
                                                                             free=500_000))
    with pytest.raises(WriteFailed, match=r"it needs about 2\.0 MB but only 0\.5 MB is free on that disk"):
        core_io.atomic_write_all({tmp_path / "a.csv": "x" * 1_000_000, tmp_path / "b.csv": "y" * 1_000_000}, "CSVs")
    assert list(tmp_path.iterdir()) == []


def shutil_usage(total: int, used: int, free: int):
    import shutil

    return shutil._ntuple_diskusage(total, used, free)


# ------------------------------------------------------------------------------ clusters and pipes


@contextlib.contextmanager
def listener(reply: bytes | None):
    """A TCP server on a free loopback port that accepts and then says ``reply`` (None: nothing)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            held.append(conn)
            if reply:
                with contextlib.suppress(OSError):
                    conn.sendall(reply)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield f"127.0.0.1:{srv.getsockname()[1]}"
    finally:
        srv.close()
        for c in held:
            c.close()


@pytest.mark.parametrize("reply, said", [(None, r"it sent nothing back in 2 s"),
                                         (b"HTTP/1.0 400 Bad Request\r\n\r\n", r"it answered b'HTTP/1\.0 400")])
def test_a_ray_address_that_answers_but_is_not_ray_fails_within_10_s(lake_env, demo_lake, reply, said):
    make_featureset(demo_lake, lake_env.store)
    with listener(reply) as address:
        for prefix in ("", "ray://"):
            t0 = time.monotonic()
            code, out, err = cli("search", "--name", "s", "--features", "tiny", "--preset", "dlinear-gbm",
                                 "--space", "config.lr=1e-3,2e-3", "--backend", "ray", "--ray-address",
                                 prefix + address, "--root", str(demo_lake))
            took = time.monotonic() - t0
            line = one_error_line(err)
            assert code == 2 and took < 10, (took, line)
            assert re.search(rf"{address} \(--ray-address {prefix}{address}\) accepts connections but is not a Ray "
                             rf"cluster: {said}", line), line
    assert not [p for p in lake_env.store.iterdir() if p.name != "_featuresets"]


def test_an_unreachable_ray_address_says_what_was_tried(lake_env, demo_lake):
    make_featureset(demo_lake, lake_env.store)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    srv.close()  # nothing listens there now
    code, out, err = cli("ablation", "--name", "a", "--features", "tiny", "--preset", "dlinear-gbm", "--backend", "ray",
                         "--ray-address", f"ray://127.0.0.1:{port}", "--root", str(demo_lake))
    line = one_error_line(err)
    assert code == 2
    assert f"cannot reach a Ray cluster at ray://127.0.0.1:{port} (tried 127.0.0.1:{port} for 2 s: " in line


def test_an_other_miners_csv_from_a_fifo_is_refused_not_read(tmp_path):
    """Opening a FIFO for reading blocks until a writer comes: it must never be opened."""
    from synthwb.evaluate.reward import read_population_csv

    fifo = tmp_path / "miners.csv"
    os.mkfifo(fifo)
    box: dict[str, BaseException] = {}

    def read():
        try:
            read_population_csv(str(fifo))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            box["exc"] = exc

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader so the suite goes on, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("reading the population CSV from a FIFO blocked")
    assert isinstance(box.get("exc"), SynthwbError)
    assert "the population CSV" in str(box["exc"]) and "is not a regular file (a pipe, socket or device)" in str(box["exc"])


# ------------------------------------------------------------------------------ links and library noise


def test_deleting_a_run_through_a_symlinked_store_entry_leaves_nothing_behind(env, tmp_path):
    lake_env, _ = env
    store = lake_env.store
    elsewhere = tmp_path / "elsewhere" / "done"
    elsewhere.parent.mkdir()
    os.rename(store / "done", elsewhere)
    (store / "done").symlink_to(elsewhere, target_is_directory=True)
    code, out, err = cli("runs", "delete", "done", "--yes")
    assert code == 0, err
    assert "a link: removed it from the store" in out
    assert [p.name for p in store.iterdir() if p.name != "_featuresets"] == []  # no link, no .deleting-* entry
    assert (elsewhere / "run.json").is_file()  # the link's target is not the store's to delete


def test_library_log_lines_stay_off_stderr_unless_verbose(capsys):
    """Library log records, Python warnings and a library's prints while a command runs: dropped
    without --verbose, on stderr with it; the logging state is restored afterwards."""
    import logging
    import warnings

    from synthwb.cli import library_output
    from synthwb.core.logs import library_stream

    before = logging.root.manager.disable
    for verbose in (False, True):
        with library_output(verbose, capture_stdout=True):
            logging.getLogger("optuna").warning("Trial 0 finished with value: 1.0")
            logging.getLogger("ray").info("Started a local Ray instance.")
            warnings.warn("torch.Size([1, 9, 32, 4]) tensor sizes", UserWarning, stacklevel=1)
            print("Loading weights from local directory")
            with contextlib.redirect_stdout(library_stream()):  # how a library's prints are sent aside
                print("+----- Configuration for experiment -----+")
        out, err = capsys.readouterr()
        assert out == ""
        if verbose:
            assert "Loading weights from local directory" in err and "Configuration for experiment" in err
        else:
            assert err == ""
    assert logging.root.manager.disable == before
    assert library_stream() is sys.stderr  # the default again (the app's jobs, library use)
    code = main(["--verbose", "validators", "--json"])
    assert code == 0
    capsys.readouterr()

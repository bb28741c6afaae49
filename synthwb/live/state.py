"""A forward test's folder under the store: ``models_store/_live/<name>/``.

    state.json          the spec, the clock's position and one record per scored request of the
                        validator's cadence (written atomically after every change)
    events.jsonl        one line per request scored (appended after the state is saved)
    responses/<key>/<model>.json.gz   the response in the validator's format, as sent
    pending/<key>/<model>.npy         the paths (float64) until the request is scored
    charts/<key>.json   quantile rows of each model and the realised path (the newest kept)
    lock                the runner's pid and host while one runs (one runner per test)
    stop                present when a stop was asked for (`synthwb live stop`, the page)

A request's record moves ``pending`` -> ``scored`` | ``dropped`` (no final realised price) |
``failed`` (a forecaster raised) exactly once; a restart re-reads the state and goes on from
there, so nothing is scored twice.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from synthwb.core.config import store_dir, writable_store_dir
from synthwb.core.errors import NotFound, SpecError
from synthwb.core.io import (
    append_jsonl,
    atomic_write_text,
    check_slug,
    read_jsonl,
)
from synthwb.live.spec import LiveSpec

__all__ = ["LIVE_DIR", "LiveFolder", "list_live", "live_folder", "pid_alive"]

LIVE_DIR = "_live"
STATE_VERSION = 1


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    return True


def live_folder(name: str, store=None, create: bool = False) -> LiveFolder:
    check_slug(name, "forward test name")
    base = (writable_store_dir(store) if create else store_dir(store)) / LIVE_DIR / name
    return LiveFolder(base)


def list_live(store=None) -> list[LiveFolder]:
    """Every forward test of the store that has a state file, by name."""
    base = store_dir(store) / LIVE_DIR
    if not base.is_dir():
        return []
    return [LiveFolder(p) for p in sorted(base.iterdir()) if (p / "state.json").is_file()]


class LiveFolder:
    """The files of one forward test (see the module doc)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name

    # -- state ------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    def exists(self) -> bool:
        return self.state_file.is_file()

    def new_state(self, spec: LiveSpec, symbols: dict[str, str], owner: str) -> dict:
        return {"version": STATE_VERSION, "name": spec.name, "spec": json.loads(spec.model_dump_json()),
                "symbols": symbols, "owner": owner, "desired": "running", "created": _now_iso(),
                "updated": _now_iso(), "clock_ns": None, "scheduled_until_ns": None, "requests": {},
                "status": "starting", "message": "", "error": None, "n_updates": 0}

    def read(self) -> dict:
        if not self.exists():
            raise NotFound(f"no forward test {self.name!r} (start one with `synthwb live start --name {self.name}`)")
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SpecError(f"forward test {self.name!r}: its state file cannot be read ({exc})") from None
        if not isinstance(state, dict) or "spec" not in state or "requests" not in state:
            raise SpecError(f"forward test {self.name!r}: its state file is not a forward test's state")
        return state

    def write(self, state: dict) -> None:
        state["updated"] = _now_iso()
        atomic_write_text(self.state_file, json.dumps(state, separators=(",", ":"), default=str))

    def spec(self, state: dict | None = None) -> LiveSpec:
        return LiveSpec.parse((state or self.read())["spec"])

    def set_desired(self, desired: str, owner: str | None = None) -> None:
        """Record whether the test should run (a resume after an app restart reads it)."""
        if not self.exists():
            return
        state = self.read()
        state["desired"] = desired
        if owner:
            state["owner"] = owner
        self.write(state)

    # -- events -----------------------------------------------------------------------
    def log_event(self, record: dict) -> None:
        append_jsonl(self.path / "events.jsonl", {"at": _now_iso(), **record})

    def log_events(self, records: list[dict]) -> None:
        for r in records:
            self.log_event(r)

    def events(self) -> list[dict]:
        return read_jsonl(self.path / "events.jsonl")

    # -- responses, pending paths, chart rows ------------------------------------------
    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        """Atomic (temp file + rename) without fsync: these files can be made again; the state
        file, which says what exists, is fsynced."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _safe(self, model: str) -> str:
        return "".join(c if c.isalnum() or c in "-_.=," else "_" for c in model)[:120]

    def write_response(self, key: str, model: str, response: list) -> Path:
        path = self.path / "responses" / key / f"{self._safe(model)}.json.gz"
        text = json.dumps(response, allow_nan=False, separators=(",", ":")).encode()
        self._put(path, gzip.compress(text, compresslevel=1))
        return path

    def read_response(self, key: str, model: str) -> list:
        path = self.path / "responses" / key / f"{self._safe(model)}.json.gz"
        if not path.is_file():
            raise NotFound(f"no stored response of {model!r} for request {key}")
        return json.loads(gzip.decompress(path.read_bytes()))

    def write_paths(self, key: str, model: str, paths: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.asarray(paths, dtype=np.float64))
        self._put(self.path / "pending" / key / f"{self._safe(model)}.npy", buf.getvalue())

    def read_paths(self, key: str, model: str) -> np.ndarray | None:
        path = self.path / "pending" / key / f"{self._safe(model)}.npy"
        return np.load(path) if path.is_file() else None

    def drop_paths(self, key: str) -> None:
        shutil.rmtree(self.path / "pending" / key, ignore_errors=True)

    def write_chart(self, key: str, rows: dict) -> None:
        self._put(self.path / "charts" / f"{key}.json", json.dumps(rows, separators=(",", ":")).encode())

    def read_chart(self, key: str) -> dict | None:
        path = self.path / "charts" / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def prune(self, scored_keys: list[str], keep_responses: int, keep_charts: int) -> None:
        """Keep the responses and chart rows of the newest scored requests only (each key is
        pruned once per process)."""
        done = self.__dict__.setdefault("_pruned", set())
        old_resp = scored_keys[:-keep_responses] if keep_responses else scored_keys
        old_charts = set(scored_keys[:-keep_charts])
        for key in old_resp:
            if key in done:
                continue
            d = self.path / "responses" / key
            if d.exists():
                shutil.rmtree(d, ignore_errors=True)
        for key in old_charts - done:
            (self.path / "charts" / f"{key}.json").unlink(missing_ok=True)
        done.update(k for k in old_resp if k in old_charts)

    # -- the runner's lock and the stop request ------------------------------------------
    @property
    def lock_file(self) -> Path:
        return self.path / "lock"

    def holder(self) -> dict | None:
        """Who runs the test now ({pid, host, started}), or None (a dead holder is no holder)."""
        try:
            info = json.loads(self.lock_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if info.get("host") == socket.gethostname() and not pid_alive(info.get("pid", -1)):
            return None
        return info

    def acquire(self, owner: str) -> None:
        """Take the runner's lock; refused while a live process holds it."""
        self.path.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = self.holder()
                if held is not None:
                    raise SpecError(f"forward test {self.name!r} is already running (pid {held.get('pid')} on "
                                    f"{held.get('host')}, {held.get('owner', '?')}); stop it first with "
                                    f"`synthwb live stop --name {self.name}`") from None
                self.lock_file.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(), "owner": owner,
                           "started": _now_iso()}, fh)
            return
        raise SpecError(f"forward test {self.name!r}: could not take its lock file {self.lock_file}")

    def release(self) -> None:
        info = self.holder()
        if info is not None and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
            self.lock_file.unlink(missing_ok=True)

    @property
    def stop_file(self) -> Path:
        return self.path / "stop"

    def ask_stop(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.stop_file.write_text(_now_iso())
        self.set_desired("stopped")

    def stop_asked(self) -> bool:
        return self.stop_file.exists()

    def clear_stop(self) -> None:
        self.stop_file.unlink(missing_ok=True)

    def wait_released(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.holder() is None:
                return True
            time.sleep(0.1)
        return self.holder() is None

    def status(self, state: dict | None = None) -> dict[str, Any]:
        """A one-line summary: running or not, counts, the clock."""
        state = state or self.read()
        reqs = state["requests"].values()
        held = self.holder()
        count = {s: sum(1 for r in reqs if r["status"] == s) for s in ("pending", "scored", "dropped", "failed")}
        clock = state.get("clock_ns")
        spec = state["spec"]
        return {"name": self.name, "running": held is not None, "holder": held, "desired": state.get("desired"),
                "owner": state.get("owner"), "clock": spec.get("clock"),
                "now": datetime.fromtimestamp(clock / 1e9, UTC).isoformat() if clock else None,
                "competition": spec.get("competition"), "validator": spec.get("validator"),
                "status": state.get("status"), "message": state.get("message"), "error": state.get("error"),
                "n_requests": len(state["requests"]), **{f"n_{k}": v for k, v in count.items()},
                "n_skipped": (state.get("skipped") or {}).get("n", 0),
                "skipped_reason": (state.get("skipped") or {}).get("reason"),
                "update_error": state.get("update_error"),
                "updated": state.get("updated")}

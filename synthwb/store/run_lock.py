"""One writer per run: ``writer.lock`` in the run folder, held with an exclusive ``flock`` by
the process that trains the run. Part of :mod:`synthwb.store.runs`, which re-exports these names.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from synthwb.core.errors import SpecError
from synthwb.store.run_record import LOCK, now_iso, run_dir
from synthwb.store.run_status import _pid_alive


class RunLocked(SpecError):
    """Another process (or job) is writing the run."""


def _read_lock(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _holder_text(run_id: str, holder: dict, path: Path) -> str:
    return (f"run {run_id!r} is being written by pid {holder.get('pid', '?')} on host {holder.get('host', '?')} "
            f"(since {holder.get('since', '?')}); wait for it to finish or stop it first. If that process is "
            f"gone, delete {path}")


class WriterLock:
    """The one-writer lock of a run folder: ``writer.lock`` holds the writer's pid, host and
    start time, and the writer holds an exclusive ``flock`` on it while it writes.

    A second writer is refused (:class:`RunLocked`) while the flock is held, or while the file
    names a live process on this host other than this one (or any process on another host,
    whose liveness cannot be checked from here). A lock left by a dead process on this host
    (a killed training) is stale: it is detected and taken over (``took_over`` names it).
    The lock is released (file removed) by :meth:`release`, or by the OS when the process dies."""

    def __init__(self, run_id: str, store=None):
        import fcntl  # lazy: POSIX only, needed by writers alone

        self.run_id = run_id
        self.path = run_dir(run_id, store) / LOCK
        self.took_over: dict | None = None
        host = socket.gethostname()
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise RunLocked(_holder_text(run_id, _read_lock(self.path), self.path)) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder removed the file between our open and flock: retry
                os.close(fd)
                continue
            holder = _read_lock(self.path)
            pid = holder.get("pid")
            if holder and (holder.get("host") != host or (_pid_alive(pid) and pid != os.getpid())):
                os.close(fd)
                raise RunLocked(_holder_text(run_id, holder, self.path))
            self.took_over = holder or None
            self.fd = fd
            text = json.dumps({"pid": os.getpid(), "host": host, "since": now_iso(), "run_id": run_id})
            os.ftruncate(fd, 0)
            os.pwrite(fd, text.encode(), 0)
            os.fsync(fd)
            return
        raise RunLocked(f"run {run_id!r}: could not take its writer lock {self.path}; try again")

    def release(self) -> None:
        fd = getattr(self, "fd", None)
        if fd is None:
            return
        self.fd = None
        try:
            if _read_lock(self.path).get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def writer_lock(run_id: str, store=None) -> WriterLock:
    """Take the run's writer lock (see :class:`WriterLock`); raises :class:`RunLocked`."""
    return WriterLock(run_id, store)


def lock_holder(run_id: str, store=None) -> dict | None:
    """Who holds the run's writer lock now (pid, host, since), or None when nobody does."""
    import fcntl  # lazy: POSIX only

    path = run_dir(run_id, store) / LOCK
    if not path.is_file():
        return None
    holder = _read_lock(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return holder or {"pid": None, "host": None}
    finally:
        os.close(fd)  # a probe's shared flock ends with its descriptor
    if holder and (holder.get("host") != socket.gethostname() or _pid_alive(holder.get("pid"))):
        return holder
    return None

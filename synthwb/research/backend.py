"""Where research jobs run: ``local`` (this process, one trial after another, as the app's
background jobs do) or ``ray`` (a Ray cluster: trials as Ray Tune trials, backtests as Ray
tasks, each with its own resources).

:class:`RayOptions` says which cluster (``address``: ``None`` starts a local Ray sized to this
machine, ``"auto"`` joins the one ``ray start`` made here, ``"ray://host:10001"`` a remote one
through Ray Client) and what each trial gets (``cpus``, ``gpus``). :func:`ray_session` joins or
starts it (a Ray already initialised by the caller is used as it is). Trial workers read and
write the same models_store and lake as local trials, by absolute path: on a multi-machine
cluster both must be on a shared filesystem at the same path.

:func:`run_backtests` runs several backtests (one per asset) either way and returns their
results in order.
"""
from __future__ import annotations

import contextlib
import math
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthwb.core.config import cache_dir, data_dir, store_dir
from synthwb.core.errors import SpecError, SynthwbError
from synthwb.evaluate.backtest import BacktestSpec, run_backtest

BACKENDS = ("local", "ray")
MAX_CPUS_PER_TRIAL = 1024
MAX_GPUS_PER_TRIAL = 64
CONNECT_TIMEOUT_S = 2.0   # a connection, then a reply: a cluster that does not answer is refused within ~4 s


@dataclass(frozen=True)
class RayOptions:
    """A Ray cluster and the resources of each trial or task."""

    address: str | None = None      # None: start a local Ray (num_cpus from the machine)
    cpus: float = 1.0               # per trial / task
    gpus: float = 0.0               # per trial / task (fractions share a GPU)
    num_cpus: int | None = None     # a local Ray's CPUs (default: this machine's)

    def __post_init__(self) -> None:
        for flag, value, low in (("--cpus-per-trial", self.cpus, "> 0"), ("--gpus-per-trial", self.gpus, ">= 0")):
            if not math.isfinite(value):
                raise SpecError(f"Ray resources: {flag} {value} is not a number (NaN or infinite); give a finite "
                                f"count {low}, e.g. 1")
        if not (self.cpus > 0):
            raise SpecError(f"Ray resources: cpus per trial must be > 0 (--cpus-per-trial), got {self.cpus}")
        if self.gpus < 0:
            raise SpecError(f"Ray resources: gpus per trial must be >= 0 (--gpus-per-trial), got {self.gpus}")
        if self.cpus > MAX_CPUS_PER_TRIAL or self.gpus > MAX_GPUS_PER_TRIAL:
            raise SpecError(f"Ray resources: {self.cpus:g} CPUs and {self.gpus:g} GPUs per trial is more than any "
                            f"machine has (at most {MAX_CPUS_PER_TRIAL} CPUs, {MAX_GPUS_PER_TRIAL} GPUs per trial)")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise SpecError(f"Ray resources: num_cpus must be at least 1, got {self.num_cpus}")

    @property
    def resources(self) -> dict[str, float]:
        return {"cpu": float(self.cpus), "gpu": float(self.gpus)}


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise SpecError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    return backend


def _import_ray():
    try:
        import ray  # lazy: ray is heavy
    except ImportError:
        raise SpecError('the ray backend needs Ray: pip install "ray[tune]==2.60.0"') from None
    return ray


@contextlib.contextmanager
def ray_session(options: RayOptions | None = None) -> Iterator[Any]:
    """The ``ray`` module, connected: to a Ray the caller already initialised, else to
    ``options.address``, else to a new local Ray (shut down again on exit)."""
    ray = _import_ray()
    opts = options or RayOptions()
    if ray.is_initialized():
        check_fits(opts, ray.cluster_resources(), "the Ray already running in this process")
        yield ray
        return
    check_cluster(opts)
    here = str(Path(__file__).resolve().parents[2])  # workers import this synthwb, not another install
    paths = [here, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != here]]
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                          "runtime_env": {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}}
    if opts.address:
        kw["address"] = opts.address
    else:
        kw["num_cpus"] = opts.num_cpus or os.cpu_count() or 1
    try:
        ray.init(**kw)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = opts.address or "a local Ray"
        raise SpecError(f"cannot start or reach {where}: {' '.join(str(exc).split())[:200]} "
                        "(check --ray-address, e.g. auto or ray://HOST:10001)") from None
    try:
        check_fits(opts, ray.cluster_resources(), f"the Ray cluster at {opts.address}" if opts.address
                   else "the local Ray")
        yield ray
    finally:
        ray.shutdown()


def _local_gpus() -> int:
    try:
        import torch  # lazy: the CLI's start-up stays free of torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_fits(opts: RayOptions, have: dict, where: str) -> None:
    """A trial that asks for more CPUs or GPUs than the whole cluster has would wait forever:
    refused with both numbers."""
    cpus, gpus = float(have.get("CPU", 0) or 0), float(have.get("GPU", 0) or 0)
    if opts.cpus > cpus or opts.gpus > gpus:
        raise SpecError(f"each trial asks for {opts.cpus:g} CPU(s) and {opts.gpus:g} GPU(s) but {where} has "
                        f"{cpus:g} CPU(s) and {gpus:g} GPU(s) in all, so no trial could start; lower "
                        "--cpus-per-trial / --gpus-per-trial")


def check_cluster(opts: RayOptions) -> None:
    """Before Ray is imported or started: the trials must fit this machine when Ray is started
    here, and an address must answer as Ray does (each check bounded by a few seconds)."""
    if opts.address is None:
        check_fits(opts, {"CPU": opts.num_cpus or os.cpu_count() or 1, "GPU": _local_gpus()}, "this machine")
    else:
        _check_reachable(opts.address)


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A ``HOST:PORT`` or ``ray://HOST:PORT`` address must accept a connection and answer as a
    Ray GCS or Ray Client server does (gRPC: an HTTP/2 SETTINGS frame), each within ``timeout``
    seconds; Ray itself retries an unreachable or foreign address for minutes. ``auto`` is
    Ray's to resolve."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SpecError(f"--ray-address {address!r}: use auto, HOST:PORT (a `ray start --head` GCS, port 6379) "
                        "or ray://HOST:10001 (Ray Client)")
    try:
        conn = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise SpecError(f"cannot reach a Ray cluster at {address} (tried {host}:{port} for {timeout:g} s: {why}); "
                        "start one with `ray start --head` or fix --ray-address") from None
    reply = b""
    try:
        conn.settimeout(timeout)
        conn.sendall(_H2_PREFACE)
        while len(reply) < 9:
            chunk = conn.recv(9 - len(reply))
            if not chunk:
                break
            reply += chunk
        if len(reply) >= 9 and reply[3] != 0x04:  # not Ray: a little more of what it said, for the message
            conn.settimeout(0.2)
            with contextlib.suppress(OSError):
                reply += conn.recv(15)
    except OSError:
        pass
    finally:
        conn.close()
    if len(reply) < 9 or reply[3] != 0x04:
        said = f"it answered {reply[:24]!r}" if reply else f"it sent nothing back in {timeout:g} s"
        raise SpecError(f"{host}:{port} (--ray-address {address}) accepts connections but is not a Ray cluster: "
                        f"{said}, where Ray's gRPC would greet; give the GCS address of `ray start --head` "
                        "(HOST:6379) or ray://HOST:10001")


def absolute_paths(store=None, root=None) -> dict[str, str]:
    """The store, lake and cache as absolute paths (Ray workers run in other folders)."""
    return {"store": str(store_dir(store).resolve()), "root": str(data_dir(root).resolve()),
            "cache": str(cache_dir().resolve())}


def in_worker(paths: dict[str, str]) -> None:
    """A Ray worker reads and writes the driver's store, lake and cache."""
    os.environ["SYNTHWB_STORE_DIR"] = paths["store"]
    os.environ["SYNTHWB_DATA_DIR"] = paths["root"]
    os.environ["SYNTHWB_CACHE_DIR"] = paths["cache"]


# ------------------------------------------------------------------------------ backtests


def _backtest_task(spec: dict, paths: dict[str, str]) -> Any:
    in_worker(paths)
    try:
        return run_backtest(BacktestSpec.parse(spec), root=paths["root"], store=paths["store"])
    except SynthwbError as exc:  # a user error comes back as one, not as a remote traceback
        return SpecError(str(exc))


def run_backtests(specs: Sequence[BacktestSpec | dict], root=None, store=None, backend: str = "local",
                  ray: RayOptions | None = None, progress=None) -> list:
    """One :class:`~synthwb.evaluate.backtest.BacktestResult` per spec (e.g. one per asset), in
    order: one after another here, or as Ray tasks of ``ray.cpus`` / ``ray.gpus`` each."""
    check_backend(backend)
    specs = [BacktestSpec.parse(s) for s in specs]
    if not specs:
        raise SpecError("no backtests to run")
    if backend == "local":
        out = []
        for i, s in enumerate(specs):
            out.append(run_backtest(s, root=root, store=store))
            if progress is not None:
                progress((i + 1) / len(specs), message=f"backtest {i + 1}/{len(specs)} done")
        return out
    paths = absolute_paths(store, root)
    opts = ray or RayOptions()
    check_cluster(opts)
    with ray_session(opts) as rt:
        task = rt.remote(num_cpus=opts.cpus, num_gpus=opts.gpus)(_backtest_task)
        refs = [task.remote(s.model_dump(mode="json"), paths) for s in specs]
        out = []
        for i, ref in enumerate(refs):
            res = rt.get(ref)
            if isinstance(res, SynthwbError):
                raise res
            out.append(res)
            if progress is not None:
                progress((i + 1) / len(specs), message=f"backtest {i + 1}/{len(specs)} done")
    return out


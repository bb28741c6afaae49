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


@dataclass(frozen=True)
class RayOptions:
    """A Ray cluster and the resources of each trial or task."""

    address: str | None = None      # None: start a local Ray (num_cpus from the machine)
    cpus: float = 1.0               # per trial / task
    gpus: float = 0.0               # per trial / task (fractions share a GPU)
    num_cpus: int | None = None     # a local Ray's CPUs (default: this machine's)

    def __post_init__(self) -> None:
        if not (self.cpus > 0):
            raise SpecError(f"Ray resources: cpus per trial must be > 0, got {self.cpus}")
        if self.gpus < 0:
            raise SpecError(f"Ray resources: gpus per trial must be >= 0, got {self.gpus}")
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
        yield ray
        return
    here = str(Path(__file__).resolve().parents[2])  # workers import this synthwb, not another install
    paths = [here, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != here]]
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                          "runtime_env": {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}}
    if opts.address:
        _check_reachable(opts.address)
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
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A ``HOST:PORT`` or ``ray://HOST:PORT`` address must accept a connection (Ray itself
    retries an unreachable one for minutes); ``auto`` is Ray's to resolve."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise SpecError(f"--ray-address {address!r}: use auto, HOST:PORT (a `ray start --head` GCS, port 6379) "
                        "or ray://HOST:10001 (Ray Client)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise SpecError(f"cannot reach a Ray cluster at {address} ({exc.strerror or exc}); start one with "
                        "`ray start --head` or fix --ray-address") from None


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


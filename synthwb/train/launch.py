"""``synthwb train --devices N``: N local training processes through torch's elastic launcher
(what ``torchrun --standalone --nproc-per-node N`` runs), each one rank of a DDP run
(:mod:`synthwb.train.distributed`). Rank 0's progress rows and the caller's stop request cross
the process boundary through a multiprocessing manager (a queue and an event), so a background
job (the Train page) and the CLI's progress bar and Ctrl-C work as for one process."""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import uuid
from typing import Any

import torch
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from synthwb.core.device import resolve_device
from synthwb.core.errors import SpecError, SynthwbError
from synthwb.store import runs as store_runs
from synthwb.train.config import TrainConfig
from synthwb.train.distributed import env_world_size
from synthwb.train.loop import RunInfo, TrainingFailed, _config_overrides, _cpu_count, prepare, train


class _Relay:
    """Rank 0's ``progress``: every call goes onto a manager queue the launching process drains."""

    def __init__(self, q) -> None:
        self.q = q

    def __call__(self, fraction=None, metrics=None, message=None) -> None:
        self.q.put((fraction, metrics, message))


def _worker(kwargs: dict) -> dict:
    """One rank of :func:`train_on_devices` (the environment names its rank)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the launching process's: it stops every rank
    progress = kwargs.pop("progress", None)
    rank = int(os.environ.get("RANK", "0") or 0)
    try:
        info = train(progress=progress if rank == 0 else None, **kwargs)
    except SynthwbError as exc:  # a user error: the parent says it in one line
        return {"error": str(exc), "type": type(exc).__name__}
    return {"info": info.to_dict()}


GB = 1 << 30
RANK_MEMORY = GB // 2  # a rank's torch, data and model: about half a gigabyte on the CPU


def _available_memory() -> int | None:
    """The memory new processes can get (Linux's MemAvailable: free plus reclaimable cache);
    None where unknown (no check then)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_process_count(devices: int) -> None:
    """Refuse, with the numbers, more training processes than this machine can run: more than
    its CPU cores and GPUs, or more than its free memory holds (about 0.5 GB a process)."""
    cores = _cpu_count()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    most = max(cores, gpus)
    if devices > most:
        shown = f"{devices:,}" if devices < 10**12 else f"a {len(str(devices))}-digit number of"
        raise SpecError(f"--devices {str(devices)[:20]}: that is {shown} training processes but this machine has "
                        f"{cores} CPU core(s){f' and {gpus} GPU(s)' if gpus else ' and no GPU'}; "
                        f"use --devices {most} or fewer")
    free = _available_memory()
    if free is not None and devices * RANK_MEMORY > free:
        raise SpecError(f"--devices {devices} needs about {devices * RANK_MEMORY / GB:.1f} GB of memory "
                        f"({RANK_MEMORY / GB:.1f} GB a process) but {free / GB:.1f} GB is free; "
                        f"use --devices {max(1, int(free // RANK_MEMORY))} or fewer")


def train_on_devices(devices: int, name: str, featureset: Any = None, model_spec: Any = None, config: Any = None,
                     store=None, root=None, resume: bool = False, context: int | None = None,
                     horizon: int | None = None, progress=None, stop_event: threading.Event | None = None):
    """Train on ``devices`` local processes (DDP): torch's elastic launcher (what ``torchrun
    --standalone --nproc-per-node N`` runs) starts them and returns rank 0's
    :class:`~synthwb.train.loop.RunInfo`. ``progress(fraction, metrics, message)`` is called
    here, in this process, with rank 0's rows; ``stop_event`` set stops every rank at the next
    step (the run ends ``interrupted`` with its last good weights saved, as for one process).

    The setup is checked here first (feature set, spec, config, device) so bad input is refused
    before any process starts and before any run folder exists."""
    devices = int(devices)
    if devices < 1:
        raise SpecError(f"--devices must be at least 1, got {devices}")
    check_process_count(devices)  # before anything is read or started: --devices 1000 on 2 cores
    if env_world_size() > 1:
        raise SpecError("already running under torchrun: drop --devices (torchrun's --nproc-per-node sets it)")
    if resume:
        run = store_runs.load_run(name, store)
        device = resolve_device(TrainConfig.parse(run.info.get("config") or {}, **_config_overrides(config)).device)
    else:
        _, _, cfg = prepare(featureset, model_spec, config, store, context=context, horizon=horizon)
        device = resolve_device(cfg.device)
    if device.type == "cpu" and devices > _cpu_count():
        raise SpecError(f"--devices {devices} asks for {devices} CPU training processes but this machine gives "
                        f"this process {_cpu_count()} CPU core(s); use --devices {_cpu_count()} or fewer")
    if device.type == "cuda" and devices > torch.cuda.device_count():
        raise SpecError(f"--devices {devices} asks for more GPUs than this machine has ({torch.cuda.device_count()})")
    if device.type not in ("cpu", "cuda"):
        raise SpecError(f"--devices runs on cpu (gloo) or cuda (nccl), not {device.type}")
    kwargs = {"name": name, "featureset": featureset, "model_spec": model_spec, "config": config, "store": store,
              "root": root, "resume": resume, "context": context, "horizon": horizon}
    lc = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=devices, run_id=str(uuid.uuid4()),
                      rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, start_method="spawn",
                      signals_to_handle="SIGTERM,SIGHUP,SIGQUIT")  # SIGINT: the caller's cooperative stop
    env_keys = ("OMP_NUM_THREADS",)
    saved = {k: os.environ.get(k) for k in env_keys}
    if device.type == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        os.environ["OMP_NUM_THREADS"] = str(max(1, _cpu_count() // devices))  # no oversubscribed cores
    manager = multiprocessing.get_context("spawn").Manager()
    try:
        out = _launch_relayed(lc, kwargs, manager, progress, stop_event or threading.Event())
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        msg = " ".join(str(getattr(failure, "message", "") or "").split())[:300]
        raise TrainingFailed(f"rank {rank} of {devices} failed (exit code {failure.exitcode})"
                             + (f": {msg}" if msg else "; see the lines above")) from None
    finally:
        manager.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    first = out.get(0) or {}
    if "error" in first:
        raise SynthwbError(first["error"])
    d = first["info"]
    return RunInfo(d["run_id"], store_runs.run_dir(d["run_id"], store), d["status"], d["step"], d["epoch"],
                   d["best"], d["stop_reason"], d["error"], d["skipped_steps"])


def _launch_relayed(lc: LaunchConfig, kwargs: dict, manager, progress, stop_event: threading.Event) -> dict:
    """``elastic_launch`` in the caller's thread (the main thread on the command line, where the
    launcher can install its signal handlers) while a helper thread relays rank 0's progress and
    the stop request."""
    rows, stop = manager.Queue(), manager.Event()
    kwargs = {**kwargs, "progress": _Relay(rows), "stop_event": stop}
    done = threading.Event()

    def relay() -> None:
        while True:
            if stop_event.is_set() and not stop.is_set():
                stop.set()
            try:
                item = rows.get(timeout=0.2)
            except queue.Empty:
                if done.is_set():
                    return
                continue
            except (EOFError, OSError):  # the manager is gone
                return
            if progress is not None:
                progress(*item)

    th = threading.Thread(target=relay, name="synthwb-ddp-relay", daemon=True)
    th.start()
    try:
        return elastic_launch(lc, _worker)(kwargs)
    finally:
        done.set()
        th.join(10)

"""``synthwb train --devices N``: N local training processes through torch's elastic launcher
(what ``torchrun --standalone --nproc-per-node N`` runs), each one rank of a DDP run
(:mod:`synthwb.train.distributed`)."""
from __future__ import annotations

import os
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


def _worker(kwargs: dict) -> dict:
    """One rank of :func:`train_on_devices` (the environment names its rank)."""
    progress = kwargs.pop("progress", None)
    rank = int(os.environ.get("RANK", "0") or 0)
    try:
        info = train(progress=progress if rank == 0 else None, **kwargs)
    except SynthwbError as exc:  # a user error: the parent says it in one line
        return {"error": str(exc), "type": type(exc).__name__}
    return {"info": info.to_dict()}


def train_on_devices(devices: int, name: str, featureset: Any = None, model_spec: Any = None, config: Any = None,
                     store=None, root=None, resume: bool = False, context: int | None = None,
                     horizon: int | None = None, progress=None):
    """Train on ``devices`` local processes (DDP): torch's elastic launcher (what ``torchrun
    --standalone --nproc-per-node N`` runs) starts them and returns rank 0's
    :class:`~synthwb.train.loop.RunInfo`. ``progress`` must be picklable (it runs in rank 0).

    The setup is checked here first (feature set, spec, config, device) so bad input is refused
    before any process starts and before any run folder exists."""
    devices = int(devices)
    if devices < 1:
        raise SpecError(f"--devices must be at least 1, got {devices}")
    if env_world_size() > 1:
        raise SpecError("already running under torchrun: drop --devices (torchrun's --nproc-per-node sets it)")
    if resume:
        run = store_runs.load_run(name, store)
        device = resolve_device(TrainConfig.parse(run.info.get("config") or {}, **_config_overrides(config)).device)
    else:
        _, _, cfg = prepare(featureset, model_spec, config, store, context=context, horizon=horizon)
        device = resolve_device(cfg.device)
    if device.type == "cuda" and devices > torch.cuda.device_count():
        raise SpecError(f"--devices {devices} asks for more GPUs than this machine has ({torch.cuda.device_count()})")
    if device.type not in ("cpu", "cuda"):
        raise SpecError(f"--devices runs on cpu (gloo) or cuda (nccl), not {device.type}")
    kwargs = {"name": name, "featureset": featureset, "model_spec": model_spec, "config": config, "store": store,
              "root": root, "resume": resume, "context": context, "horizon": horizon, "progress": progress}
    lc = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=devices, run_id=str(uuid.uuid4()),
                      rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, start_method="spawn")
    env_keys = ("OMP_NUM_THREADS",)
    saved = {k: os.environ.get(k) for k in env_keys}
    if device.type == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        os.environ["OMP_NUM_THREADS"] = str(max(1, _cpu_count() // devices))  # no oversubscribed cores
    try:
        out = elastic_launch(lc, _worker)(kwargs)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        msg = " ".join(str(getattr(failure, "message", "") or "").split())[:300]
        raise TrainingFailed(f"rank {rank} of {devices} failed (exit code {failure.exitcode})"
                             + (f": {msg}" if msg else "; see the lines above")) from None
    finally:
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

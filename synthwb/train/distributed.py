"""Data-parallel training through ``torch.distributed`` (DDP).

``synthwb train`` joins a process group when it runs under ``torchrun`` (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT`` in the environment), or when
:func:`train_on_devices` (``synthwb train --devices N``) launches N local processes itself
through torch's elastic launcher (the one behind ``torchrun``; :mod:`synthwb.train.launch`). The backend is NCCL on CUDA
(one GPU per local rank) and gloo on CPU.

The contract the loop keeps (:mod:`synthwb.train.loop`):

- every rank builds the same model (same seed; DDP also broadcasts rank 0's weights) and
  holds rows ``rank * B .. (rank + 1) * B`` of each global batch of ``world * B`` windows
  taken from the one shuffled epoch order (:func:`shard_order`, the equivalent of a
  ``DistributedSampler`` over the loop's window order; a trailing partial global batch is
  dropped so every rank steps in lockstep);
- noise is drawn for the global batch and sliced per rank
  (:func:`synthwb.models.simulate.noise_shard`), so N processes x batch B give the model
  1 process x batch N*B gives, up to float summation order;
- only rank 0 writes the run folder, metrics.jsonl, TensorBoard events and checkpoints, and
  validates; its early-stop decision, a user's stop request and a non-finite loss on any
  rank are agreed by every rank (one tiny all-reduce), so no rank waits on another forever;
- ``--resume`` works as for one process: every rank reads the last checkpoint (on several
  nodes the store must be on a shared filesystem for a resume).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from synthwb.core.errors import SpecError

#: how long a rank waits for the others at a collective before giving up
TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class World:
    """Where this process stands in the process group (``size == 1``: not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    owned: bool = field(default=False, compare=False)  # set up here: torn down here

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = World()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise SpecError(f"environment variable {name}={raw!r} is not a whole number (set by torchrun)") from None


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when unset): > 1 under torchrun."""
    return _env_int("WORLD_SIZE", 1)


def setup(device: torch.device) -> World:
    """Join the process group the environment describes (a no-op outside torchrun); a group the
    caller already initialised is used as it is."""
    local_rank, local_size = _env_int("LOCAL_RANK", 0), _env_int("LOCAL_WORLD_SIZE", 1)
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), local_rank, local_size)
    size = env_world_size()
    if size <= 1:
        return SINGLE
    if not dist.is_available():
        raise SpecError("WORLD_SIZE > 1 but this torch build has no torch.distributed; train on one process")
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing:
        raise SpecError(f"WORLD_SIZE={size} but {', '.join(missing)} not set; launch with torchrun "
                        "(or synthwb train --devices N)")
    if device.type not in ("cpu", "cuda"):
        raise SpecError(f"multi-process training runs on cpu (gloo) or cuda (nccl), not {device.type}")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, timeout=TIMEOUT)
    return World(dist.get_rank(), dist.get_world_size(), local_rank, local_size, owned=True)


_left = False  # this process set up a process group and left it (see left_process_group)


def teardown(world: World) -> None:
    global _left
    if world.owned and dist.is_initialized():
        dist.destroy_process_group()
        _left = True


def left_process_group() -> bool:
    """True once this process has left a process group it set up: its gloo/NCCL threads may
    still hold tensors, so it should end with ``os._exit`` (:func:`synthwb.cli.main`)."""
    return _left


def rank_device(device: torch.device, world: World) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` on CUDA, else ``device``."""
    if not world.active or device.type != "cuda":
        return device
    n = torch.cuda.device_count()
    if world.local_rank >= n:
        raise SpecError(f"local rank {world.local_rank} has no GPU: this node has {n}; use --nproc-per-node <= {n}")
    return torch.device("cuda", world.local_rank)


def _flag_device(device: torch.device) -> torch.device:
    return device if dist.get_backend() == "nccl" else torch.device("cpu")


def agree_any(flag: bool, world: World, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any rank."""
    if not world.active:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=_flag_device(device))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(values: list[float], world: World, device: torch.device) -> list[float]:
    """The mean of each value over the ranks (the loss of the global batch)."""
    if not world.active:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_flag_device(device))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return (t / world.size).tolist()


def broadcast(obj: Any, world: World) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not world.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard_order(order: torch.Tensor, batch_size: int, world: World) -> torch.Tensor:
    """This rank's share of an epoch order: rows ``rank * B .. (rank + 1) * B`` of every global
    batch of ``world * B`` (the trailing partial global batch dropped)."""
    if not world.active:
        return order
    gb = batch_size * world.size
    n = (len(order) // gb) * gb
    return order[:n].reshape(-1, world.size, batch_size)[:, world.rank, :].reshape(-1)


def wrap(model: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """``model`` in DistributedDataParallel (rank 0's weights broadcast to all), or as it is."""
    if not world.active:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP  # lazy: only multi-process runs need it

    ids = [device.index] if device.type == "cuda" else None
    return DDP(model, device_ids=ids, output_device=ids[0] if ids else None)

"""A run's weights and resumable checkpoint: safetensors written atomically and never with
NaN/inf, read back checked, matched against a model; ``last.safetensors`` + ``last_state.pt``
for resume. Part of :mod:`synthwb.store.runs`, which re-exports these names.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from synthwb.core.errors import NotFound, SpecError, SynthwbError
from synthwb.core.io import atomic_path
from synthwb.store.run_record import BEST, LAST, LAST_STATE


def weights_file(which: str) -> str:
    if which == "best":
        return BEST
    if which == "last":
        return LAST
    raise SpecError(f"which must be 'best' or 'last', not {which!r}")


def nonfinite_tensors(state_dict: dict) -> list[str]:
    """Names of floating-point tensors holding NaN or inf."""
    import torch

    bad = []
    for k, v in state_dict.items():
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad.append(k)
    return bad


def save_weights(path: str | os.PathLike, state_dict: dict, metadata: dict | None = None) -> None:
    """Write a state dict as safetensors, atomically; refuses NaN/inf tensors."""
    from safetensors.torch import save_file

    bad = nonfinite_tensors(state_dict)
    if bad:
        raise SynthwbError(f"refusing to save weights with NaN/inf values in {bad[:5]}")
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_weights(path: str | os.PathLike, device: str = "cpu") -> dict:
    """A weights file, checked finite: NaN/inf weights (a damaged or tampered file; synthwb
    never saves them) would forecast flat paths that score as valid, so they are refused."""
    from safetensors.torch import load_file

    p = Path(path)
    try:
        state = load_file(str(p), device=device)
    except Exception as exc:  # noqa: BLE001 - a corrupt file must read as a clear error
        raise SynthwbError(f"cannot read weights {p.name}: {_first_line(exc)}") from None
    bad = nonfinite_tensors(state)
    if bad:
        run = p.parent.name
        raise SynthwbError(f"weights {p.name} of run {run!r} hold NaN/inf values (in {len(bad)} tensor(s), e.g. "
                           f"{bad[0]}): the file is damaged; retrain the run or delete it")
    return state


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's text as one short line (torch's load errors run to many lines)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_weights_match(model, state: dict, what: str = "weights") -> None:
    """Raise SpecError naming missing/unexpected keys and shape mismatches."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [f"{k}: spec {expected[k]} vs weights {got[k]}" for k in sorted(set(expected) & set(got))
              if expected[k] != got[k]]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if shapes:
            parts.append(f"{len(shapes)} with other shapes (e.g. {shapes[:3]})")
        raise SpecError(f"the model spec does not match its {what}: " + "; ".join(parts))


def save_last(path: Path, state_dict: dict, state: dict, metadata: dict | None = None) -> None:
    """A run's resumable checkpoint: ``last.safetensors`` (weights, never NaN) and
    ``last_state.pt`` (optimizer, scheduler, step, RNG: tensors and plain types only)."""
    import torch  # lazy: the store reads run.json without torch

    save_weights(path / LAST, state_dict, metadata)
    with atomic_path(path / LAST_STATE) as tmp:
        torch.save(state, tmp)


def load_last(path: Path, model, run_id: str) -> dict:
    """Load ``last.safetensors`` into ``model`` (keys and shapes checked) and return the
    training state of ``last_state.pt`` (read with ``weights_only=True``)."""
    import torch  # lazy: the store reads run.json without torch

    wpath, spath = path / LAST, path / LAST_STATE
    if not wpath.is_file() or not spath.is_file():
        raise NotFound(f"run {run_id!r} has no last checkpoint to resume from")
    weights = read_weights(wpath)
    check_weights_match(model, weights, f"last weights ({run_id})")
    model.load_state_dict(weights)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on a foreign pickle protocol: the refusal says it
            state = torch.load(spath, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a torn/corrupt/tampered file is a clear error, not torch's pages
        state = None
    if not isinstance(state, dict) or not {"step", "optimizer", "scheduler"} <= set(state):
        raise SynthwbError(f"run {run_id!r}: its training state {spath.name} is damaged or not a synthwb "
                           "checkpoint, so it cannot be resumed; its saved weights still forecast (backtest it), "
                           "or train a new run")
    return state

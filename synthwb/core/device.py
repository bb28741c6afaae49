"""Which torch device to run on."""
from __future__ import annotations

from synthwb.core.errors import SpecError


def resolve_device(device: str | None = "auto"):
    """'auto' -> CUDA, then MPS, then CPU; an unavailable explicit device is a clear error."""
    import torch  # lazy: keeps the core (and the CLI's --help) free of torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise SpecError("device 'cuda' requested but CUDA is not available here (use auto or cpu)")
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise SpecError("device 'mps' requested but MPS is not available here (use auto or cpu)")
    try:
        return torch.device(device)
    except RuntimeError:
        raise SpecError(f"unknown device {device!r}; use auto, cpu, cuda or mps") from None

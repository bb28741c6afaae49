"""Forward + backward speed of the hybrid-horizon preset on CPU (issue #4).

    OMP_NUM_THREADS=2 python bench/bench_models.py [--threads 2] [--steps 3] [--batch 32] [--context 256]
        [--features 16] [--d-model 64] [--paths 1000] [--horizon 288] [--preset hybrid-horizon]

Each step: model(x, last_close, n_paths) -> paths (B, n_paths, H+1), a CRPS-style energy
loss on the paths (mean |path - realised| minus half the mean pairwise spread, per step,
like the ensemble CRPS), backward, optimizer step. Prints steps/second, seconds per step,
the split forward/backward, the process CPU time per step (steadier than wall time on a
shared machine), and peak resident memory (ru_maxrss) of the process.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from synthwb.models import build_model, get_preset  # noqa: E402


def crps_like(paths: torch.Tensor, realised: torch.Tensor) -> torch.Tensor:
    """Energy-form ensemble CRPS of the final-step returns, with a split-half spread term (O(n))."""
    r = paths[..., 1:] / paths[..., :1] - 1.0                        # (B, N, H) returns vs t0
    y = realised[:, None, :] / paths[:, :1, :1].squeeze(-1)[..., None] - 1.0
    n = r.shape[1] // 2
    return ((r - y).abs().mean() - 0.5 * (r[:, :n] - r[:, n:2 * n]).abs().mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--horizon", type=int, default=288)
    ap.add_argument("--preset", default="hybrid-horizon")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    spec = get_preset(a.preset, a.features, a.context, a.horizon, d_model=a.d_model)
    model = build_model(spec)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.batch, a.context, a.features, generator=g)
    last = 100.0 + torch.rand(a.batch, generator=g)
    realised = last[:, None] * torch.exp(0.002 * torch.randn(a.batch, a.horizon, generator=g).cumsum(-1))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"preset {a.preset}: {[b.name for b in spec.blocks]} + {spec.head.name}, {n_params:,} parameters")
    print(f"batch {a.batch}, context {a.context}, features {a.features}, d_model {a.d_model}, "
          f"paths {a.paths}, horizon {a.horizon}, torch threads {torch.get_num_threads()}")
    fwd, bwd, cpu = [], [], []
    for step in range(a.warmup + a.steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        out = model(x, last, n_paths=a.paths, generator=g)
        loss = crps_like(out.paths, realised)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        if step >= a.warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            cpu.append(time.process_time() - c0)
        assert torch.isfinite(loss), "loss is not finite"
    per_step = (sum(fwd) + sum(bwd)) / len(fwd)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"forward {sum(fwd) / len(fwd):.3f} s, backward+step {sum(bwd) / len(bwd):.3f} s")
    print(f"steps/second: {1.0 / per_step:.3f}  ({per_step:.2f} s/step over {len(fwd)} timed steps)")
    print(f"CPU time per step: {sum(cpu) / len(cpu):.2f} s (all threads; less sensitive to a busy machine)")
    print(f"peak RSS: {peak_mb:,.0f} MiB")


if __name__ == "__main__":
    main()

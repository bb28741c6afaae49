"""Neural SDE head: learned drift and diffusion integrated with torchsde.

The cumulative log return y follows the Itô SDE dy = f(t, y, c) dt + g(t, y, c) dW on
t in [0, H] (one unit per bar), with f and g small MLPs of (y / (init_vol sqrt(H)), t / H,
c), where c is a per-sample context vector from the pooled backbone output. f is bounded
to |f| < 3 init_vol, g to init_vol * [e^-6, e^6] (smooth). Integrated with
``torchsde.sdeint`` (Euler-Maruyama, dt = 1 bar by default) over B * n_paths independent
paths; the Brownian motion is a ``torchsde.BrownianInterval`` seeded from the generator
(reproducible). Gradients flow by back-propagating through the solver (reparameterised).
extras "drift"/"vol" (B, H) are the across-path mean and std of each step's increment
(empirical, detached). Cost grows with horizon x paths; it is the slowest head.
"""
from __future__ import annotations

import math

import torch
import torchsde
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.heads.base import INIT_VOL, HeadOutput, mlp, pool
from synthwb.models.registry import HEADS
from synthwb.models.simulate import DRIFT_VOL_RATIO, bounded_drift, bounded_vol, sim_dtype, sub_generator_seed


class _SDE(nn.Module):
    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, ctx_dim: int, hidden: int, init_vol: float, horizon: int):
        super().__init__()
        self.f_net = mlp(ctx_dim + 2, hidden, 1)
        self.g_net = mlp(ctx_dim + 2, hidden, 1)
        self.init_vol, self.horizon = init_vol, horizon
        self.y_scale = init_vol * math.sqrt(horizon)
        self.ctx: Tensor | None = None

    def _inp(self, t: Tensor, y: Tensor) -> Tensor:
        tt = (t / self.horizon).expand(y.shape[0], 1).to(y.dtype)
        return torch.cat([y / self.y_scale, tt, self.ctx], dim=-1)

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        return bounded_drift(self.f_net(self._inp(t, y)), DRIFT_VOL_RATIO * self.init_vol)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        return bounded_vol(self.g_net(self._inp(t, y)), self.init_vol)


@HEADS.register(
    "neural_sde", category="sde",
    params=[INIT_VOL, Param("hidden", int, 32, low=4, high=1024), Param("ctx_dim", int, 16, low=1, high=256),
            Param("dt", float, 1.0, low=0.05, high=1.0, help="solver step in bars")],
    min_horizon=1,
)
class NeuralSDEHead(nn.Module):
    """Neural SDE: learned drift and diffusion of the log return, integrated with torchsde (Euler)."""

    def __init__(self, d_model: int, seq_len: int, horizon: int, init_vol: float = 0.002, hidden: int = 32,
                 ctx_dim: int = 16, dt: float = 1.0):
        super().__init__()
        self.horizon, self.dt = horizon, dt
        self.ctx = nn.Sequential(nn.LayerNorm(2 * d_model), nn.Linear(2 * d_model, ctx_dim), nn.Tanh())
        self.sde = _SDE(ctx_dim, hidden, init_vol, horizon)

    def forward(self, h: Tensor, n_paths: int, generator: torch.Generator | None = None) -> HeadOutput:
        B, H = h.shape[0], self.horizon
        dt_ = sim_dtype(h.dtype)                                               # fp32 under autocast
        c = self.ctx(pool(h)).to(dt_)                                          # (B, c)
        self.sde.ctx = c.repeat_interleave(n_paths, dim=0)                     # (B*N, c)
        y0 = torch.zeros(B * n_paths, 1, device=h.device, dtype=dt_)
        ts = torch.arange(H + 1, device=h.device, dtype=dt_)
        bm = torchsde.BrownianInterval(t0=0.0, t1=float(H), size=(B * n_paths, 1), dtype=dt_, device=h.device,
                                       entropy=sub_generator_seed(generator) % (2**31), levy_area_approximation="none")
        ys = torchsde.sdeint(self.sde, y0, ts, bm=bm, method="euler", dt=self.dt)   # (H+1, B*N, 1)
        self.sde.ctx = None
        logret = ys[1:, :, 0].T.reshape(B, n_paths, H)
        inc = torch.diff(logret.detach(), dim=-1, prepend=torch.zeros_like(logret[..., :1]))
        return HeadOutput(logret, {"drift": inc.mean(1), "vol": inc.std(1)})

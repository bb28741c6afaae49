"""Student-t horizon head: fat-tailed steps with learned degrees of freedom.

Same trunk as the Horizon head (learned horizon queries cross-attending to the backbone)
giving drift_t and vol_t per step; a pooled MLP gives each sample's degrees of freedom
nu in (2.05, 100) (starting near 5). Steps are drift_t + vol_t * e_t with e_t a Student-t
scaled to unit variance: e = z / sqrt(chi2 / nu) * sqrt((nu - 2) / nu), z ~ N(0, 1),
chi2 = 2 * Gamma(nu / 2, 1). Both draws are reparameterised: z trivially, the Gamma by
torch's implicit-reparameterisation ``rsample`` (so gradients reach nu too). The Gamma
sampler takes no generator, so it runs under a torch seed drawn from the given generator
(reproducible). |e| is clamped at 50 to guard against nu near 2.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.heads.base import INIT_VOL, HeadOutput, HorizonDecoder, mlp, pool
from synthwb.models.registry import HEADS
from synthwb.models.simulate import (
    DRIFT_VOL_RATIO,
    bounded_drift,
    bounded_vol,
    normal,
    sim_dtype,
    sub_generator_seed,
)

NU_MIN, NU_MAX = 2.05, 100.0


def gamma_rsample(concentration: Tensor, generator: torch.Generator | None) -> Tensor:
    """Reparameterised Gamma(concentration, 1) draws, reproducible under ``generator``."""
    seed = sub_generator_seed(generator)
    devices = [concentration.device] if concentration.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return torch.distributions.Gamma(concentration, torch.ones_like(concentration)).rsample()


@HEADS.register(
    "student_t", category="fat-tailed",
    params=[INIT_VOL, Param("n_heads", int, 4, low=1, high=32, help="attention heads (must divide d_model)"),
            Param("hidden", int, 64, low=4, high=2048), Param("init_dof", float, 5.0, low=2.5, high=50.0)],
    min_horizon=1,
)
class StudentTHead(nn.Module):
    """Student-t horizon: drift and vol per step via horizon queries, learned degrees of freedom."""

    def __init__(self, d_model: int, seq_len: int, horizon: int, init_vol: float = 0.002, n_heads: int = 4,
                 hidden: int = 64, init_dof: float = 5.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.init_vol = init_vol
        self.decoder = HorizonDecoder(d_model, horizon, n_heads)
        self.net = mlp(d_model, hidden, 2)
        self.dof = mlp(2 * d_model, hidden, 1)
        # nu = NU_MIN + (NU_MAX - NU_MIN) * sigmoid(raw + b0), with b0 so that raw = 0 gives init_dof
        p = (init_dof - NU_MIN) / (NU_MAX - NU_MIN)
        self.dof_bias = float(torch.logit(torch.tensor(p)))

    def forward(self, h: Tensor, n_paths: int, generator: torch.Generator | None = None) -> HeadOutput:
        raw = self.net(self.decoder(h))                                   # (B, H, 2)
        drift = bounded_drift(raw[..., 0], DRIFT_VOL_RATIO * self.init_vol)
        vol = bounded_vol(raw[..., 1], self.init_vol)
        raw_nu = self.dof(pool(h))[:, 0].to(sim_dtype(h.dtype))          # the Gamma draw needs fp32 under autocast
        nu = NU_MIN + (NU_MAX - NU_MIN) * torch.sigmoid(raw_nu + self.dof_bias)   # (B,)
        B, H = drift.shape
        z = normal((B, n_paths, H), h, generator)
        conc = (nu / 2)[:, None, None].expand(B, n_paths, H)
        chi2 = 2.0 * gamma_rsample(conc, generator).clamp_min(1e-12)
        nu3 = nu[:, None, None]
        e = z * torch.rsqrt(chi2 / nu3) * torch.sqrt((nu3 - 2.0) / nu3)
        e = e.clamp(-50.0, 50.0)
        logret = torch.cumsum(drift[:, None, :] + vol[:, None, :] * e, dim=-1)
        return HeadOutput(logret, {"drift": drift, "vol": vol, "dof": nu})

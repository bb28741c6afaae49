"""Neural bridge head: a macro return to the horizon end plus a learned sub-step texture.

Per sample an MLP gives the macro return's mean m and spread S (over the whole horizon),
a sub-step volatility b, and a texture s_0..s_H. Per path, with frac_t = t / H:

    R       = m + S * z                                   macro log return, z ~ N(0, 1)
    g_t     = (s_t - s_0) - frac_t * (s_H - s_0)          texture pinned: g_0 = g_H = 0
    BB_t    = W_t - frac_t * W_H                          Brownian bridge, W = cumsum(eps)
    L_t     = frac_t * R + g_t + b * BB_t                 cumulative log return

so L_0 = 0 and L_H = R **exactly** (frac_H is exactly 1, and g_H and BB_H are exactly 0 in
floating point: x - 1.0 * x == 0). The noise grows along the path: Var L_t =
frac_t^2 S^2 + b^2 t (H - t) / H, from 0 at t0 to S^2 at the end. extras: "drift"/"vol"
are each step's exact marginal mean and std of the log-return increment, "macro" (B, n_paths)
the sampled R, "macro_mean"/"macro_vol" (B,).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.heads.base import INIT_VOL, HeadOutput, mlp, pool
from synthwb.models.registry import HEADS
from synthwb.models.simulate import DRIFT_VOL_RATIO, bounded_drift, bounded_vol, normal, sim_dtype


@HEADS.register(
    "bridge", category="bridge",
    params=[INIT_VOL, Param("hidden", int, 64, low=4, high=2048),
            Param("texture", bool, True, help="learn a deterministic sub-step shape pinned at both ends")],
    min_horizon=2,
)
class BridgeHead(nn.Module):
    """Neural bridge: macro return to the horizon end + pinned sub-step texture + Brownian bridge noise."""

    def __init__(self, d_model: int, seq_len: int, horizon: int, init_vol: float = 0.002, hidden: int = 64,
                 texture: bool = True):
        super().__init__()
        if horizon < 2:
            raise ValueError("the bridge head needs a horizon of at least 2 steps")
        self.horizon, self.init_vol = horizon, init_vol
        self.net = mlp(2 * d_model, hidden, 3)
        self.texture = mlp(2 * d_model, hidden, horizon + 1) if texture else None
        self.register_buffer("frac", torch.arange(1, horizon + 1, dtype=torch.float32) / horizon, persistent=False)

    def forward(self, h: Tensor, n_paths: int, generator: torch.Generator | None = None) -> HeadOutput:
        H = self.horizon
        ctx = pool(h)
        raw = self.net(ctx)
        m = bounded_drift(raw[:, 0], DRIFT_VOL_RATIO * self.init_vol * H)          # macro mean
        S = bounded_vol(raw[:, 1], self.init_vol * math.sqrt(H))                   # macro spread
        b = bounded_vol(raw[:, 2], self.init_vol)                                  # sub-step vol
        frac = self.frac.to(sim_dtype(h.dtype))                                    # (H,), frac[-1] == 1
        B = h.shape[0]
        R = m[:, None] + S[:, None] * normal((B, n_paths), h, generator)           # (B, N)
        W = torch.cumsum(normal((B, n_paths, H), h, generator), dim=-1)
        bb = W - frac * W[..., -1:]
        logret = frac * R[..., None] + b[:, None, None] * bb
        g_step = torch.zeros(B, H, dtype=frac.dtype, device=h.device)
        if self.texture is not None:
            s = self.init_vol * self.texture(ctx)                                  # (B, H+1)
            d = s[:, 1:] - s[:, :1]
            g = d - frac * d[:, -1:]                                               # (B, H), g[:, -1] == 0
            logret = logret + g[:, None, :]
            g_step = torch.diff(g, dim=-1, prepend=torch.zeros_like(g[:, :1]))
        drift = m[:, None] / H + g_step
        vol = torch.sqrt(S[:, None] ** 2 / H ** 2 + b[:, None] ** 2 * (1.0 - 1.0 / H)).expand(-1, H)
        return HeadOutput(logret, {"drift": drift, "vol": vol, "macro": R, "macro_mean": m, "macro_vol": S})

"""Mixture density head: K Gaussian components (drift, vol, weight) per sample.

Each path follows one component for the whole horizon (``per_step=False``: a mixture of
GBMs, i.e. regime uncertainty) or draws a component at every step (``per_step=True``:
fat-tailed step returns). The component is drawn with the straight-through Gumbel-softmax
trick: the forward pass uses the exact one-hot sample (so paths are true mixture samples),
the backward pass uses the gradient of the relaxed softmax((logits + Gumbel) / tau).

Gradient behaviour: drift and vol of the chosen components get exact reparameterised
gradients; the mixture weights get the (biased, low-variance) straight-through estimate,
which is what lets a path-based CRPS loss move the weights at all; lower ``tau`` means less
bias and more variance. extras: "drift"/"vol" (B, H) are the mixture's per-step mean and
std, "weights", "comp_drift", "comp_vol" (B, K).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from synthwb.core.registry import Param
from synthwb.models.heads.base import INIT_VOL, HeadOutput, mlp, pool
from synthwb.models.registry import HEADS
from synthwb.models.simulate import DRIFT_VOL_RATIO, bounded_drift, bounded_vol, normal, uniform


@HEADS.register(
    "mixture", category="mixture",
    params=[INIT_VOL, Param("components", int, 3, low=1, high=16),
            Param("hidden", int, 64, low=4, high=2048),
            Param("tau", float, 1.0, low=0.05, high=10.0, help="Gumbel-softmax temperature (backward only)"),
            Param("per_step", bool, False, help="draw a component per step instead of per path")],
    min_horizon=1,
)
class MixtureHead(nn.Module):
    """Mixture density: K components of drift, vol and weight; straight-through Gumbel component draws."""

    def __init__(self, d_model: int, seq_len: int, horizon: int, init_vol: float = 0.002, components: int = 3,
                 hidden: int = 64, tau: float = 1.0, per_step: bool = False):
        super().__init__()
        self.horizon, self.init_vol, self.K, self.tau, self.per_step = horizon, init_vol, components, tau, per_step
        self.net = mlp(2 * d_model, hidden, 3 * components)
        # spread the components' starting vols (0.5x .. 2x init_vol) so they are not identical
        with torch.no_grad():
            spread = torch.linspace(-0.7, 0.7, components) if components > 1 else torch.zeros(1)
            self.net[-1].bias[components:2 * components] = spread

    def forward(self, h: Tensor, n_paths: int, generator: torch.Generator | None = None) -> HeadOutput:
        B, K, H = h.shape[0], self.K, self.horizon
        raw = self.net(pool(h)).reshape(B, 3, K)
        mu = bounded_drift(raw[:, 0], DRIFT_VOL_RATIO * self.init_vol)          # (B, K)
        sig = bounded_vol(raw[:, 1], self.init_vol)
        logits = raw[:, 2]
        shape = (B, n_paths, H, K) if self.per_step else (B, n_paths, 1, K)
        gumbel = -torch.log(-torch.log(uniform(shape, h, generator)))
        soft = torch.softmax((logits[:, None, None, :] + gumbel) / self.tau, dim=-1)
        hard = torch.nn.functional.one_hot(soft.argmax(-1), K).to(soft.dtype)
        pick = hard - soft.detach() + soft                                        # straight-through
        d = (pick * mu[:, None, None, :]).sum(-1)                                  # (B, N, H or 1)
        s = (pick * sig[:, None, None, :]).sum(-1)
        eps = normal((B, n_paths, H), h, generator)
        logret = torch.cumsum(d + s * eps, dim=-1)
        w = torch.softmax(logits, dim=-1)
        mean = (w * mu).sum(-1)
        std = torch.sqrt((w * (sig ** 2 + mu ** 2)).sum(-1) - mean ** 2 + 1e-20)
        return HeadOutput(logret, {"drift": mean[:, None].expand(-1, H), "vol": std[:, None].expand(-1, H),
                                   "weights": w, "comp_drift": mu, "comp_vol": sig})

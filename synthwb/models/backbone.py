"""Backbone assembly, the path model, and the chain check (../shared/DESIGN.md §4).

``build_model(spec)`` -> :class:`PathModel`: input projection (n_features -> d_model, per
time step), the blocks in order (each optionally followed by LayerNorm with
``norm_between``, and dropout), then the head. ``PathModel.forward`` returns
:class:`PathOutput` with ``paths`` (B, n_paths, horizon + 1) in price units, column 0 equal
to ``last_close``.

``validate_spec(spec)`` checks the chain before any training: first statically from each
block's declared ``keeps_time`` / ``min_len`` (no tensors), then by walking a tiny dummy
batch through every layer on the CPU. Either way a break raises SpecError naming the block
index and name, the shape it received and the reason.
"""
from __future__ import annotations

import operator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from synthwb.core.errors import DataError, SpecError
from synthwb.features.realised import HAR_PREFIX, har_knot_seconds
from synthwb.models.anchor import Anchor, HarAnchor
from synthwb.models.heads.base import HeadOutput
from synthwb.models.registry import BLOCKS, HEADS, block_is_causal, block_min_len, block_out_len
from synthwb.models.simulate import to_prices
from synthwb.models.spec import ModelSpec

# extras that are in log-return units and so follow RevIN's de-normalisation
_LOGRET_EXTRAS = ("drift", "vol", "macro", "macro_mean", "macro_vol", "comp_drift", "comp_vol")


@dataclass
class PathOutput:
    """``paths`` (B, n_paths, horizon+1) prices incl. t0; ``extras`` named tensors, e.g. drift/vol (B, horizon)."""

    paths: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class LayerInfo:
    """One row of the chain check / summary."""

    index: int | None          # block index, None for the input projection and the head
    name: str                  # "input", a block name, "layernorm (between)", or "head:<name>"
    kind: str                  # "input" | "block" | "norm" | "head"
    in_shape: tuple
    out_shape: tuple
    params: int
    causal: bool | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["in_shape"] = list(self.in_shape)
        d["out_shape"] = list(self.out_shape)
        return d


def _shape(*dims: Any) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"


def chain_lengths(spec: ModelSpec) -> list[int]:
    """Static check from metadata: the time length entering each block, then the backbone's output length.

    Raises SpecError naming the first block whose min_len exceeds the length it receives or
    that would leave no time steps.
    """
    T, d = spec.context, spec.d_model
    lengths = []
    for i, b in enumerate(spec.blocks):
        entry = BLOCKS.get(b.name)
        need = block_min_len(entry, b.params)
        if T < need:
            raise SpecError(
                f"block {i} ({b.name}) receives input of shape {_shape('B', T, d)} but needs at least {need} "
                f"time steps (min_len); lengthen the context or move it before blocks that shorten time"
            )
        lengths.append(T)
        T = block_out_len(entry, T, b.params)
        if T < 1:
            raise SpecError(f"block {i} ({b.name}) receives {_shape('B', lengths[-1], d)} and would output no time steps")
    lengths.append(T)
    return lengths


class Backbone(nn.Module):
    """Input projection + the ordered blocks (+ optional LayerNorm between, dropout)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        lengths = chain_lengths(spec)
        d = spec.d_model
        self.input = nn.Linear(spec.n_features, d)
        self.blocks = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.names = [b.name for b in spec.blocks]
        for i, b in enumerate(spec.blocks):
            try:
                self.blocks.append(BLOCKS.get(b.name).obj(d, lengths[i], **b.params))
            except (ValueError, TypeError, RuntimeError) as exc:
                raise SpecError(f"block {i} ({b.name}) cannot be built for input {_shape('B', lengths[i], d)}: {exc}") from None
            self.norms.append(nn.LayerNorm(d) if spec.norm_between else nn.Identity())
        self.drop = nn.Dropout(spec.dropout)
        self.out_len = lengths[-1]

    def observe(self, x: Tensor) -> None:
        for block in self.blocks:
            if hasattr(block, "observe"):
                block.observe(x)

    def output_scale(self) -> Tensor | None:
        """Product of the RevIN-style de-normalisation factors (B,) of the last forward, or None."""
        scale = None
        for block in self.blocks:
            fn = getattr(block, "output_scale", None)
            s = fn() if fn else None
            if s is not None:
                scale = s if scale is None else scale * s
        return scale

    def forward(self, x: Tensor) -> Tensor:
        self.observe(x)
        h = self.input(x)
        for block, norm in zip(self.blocks, self.norms):
            h = self.drop(norm(block(h)))
        return h


class PathModel(nn.Module):
    """Backbone + head -> price paths (../shared/DESIGN.md §4), anchored on GBM with EWMA volatility
    (:mod:`synthwb.models.anchor`) unless ``spec.anchor == "none"``."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.backbone = Backbone(spec)
        try:
            self.head = HEADS.get(spec.head.name).obj(spec.d_model, self.backbone.out_len, spec.horizon, **spec.head.params)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise SpecError(f"head {spec.head.name!r} cannot be built on backbone output "
                            f"{_shape('B', self.backbone.out_len, spec.d_model)}: {exc}") from None
        self.init_vol = float(spec.head.params.get("init_vol", 0.002))
        self.anchor = None
        bar = spec.bar_seconds or spec.path_step or 1
        if spec.anchor == "ewma":
            self.anchor = Anchor(spec.halflife_bars, bar, spec.path_step or bar, spec.horizon, spec.seasonal)
        elif spec.anchor == "har":
            self.anchor = HarAnchor(har_knot_seconds(), spec.path_step or bar, spec.horizon, spec.seasonal,
                                    spec.anchor_profile)
        # post-hoc calibration (fitted on the validation split, kept in run.json; not weights)
        self.register_buffer("vol_scale", torch.tensor(1.0), persistent=False)
        self.register_buffer("drift_shrink", torch.tensor(1.0), persistent=False)
        # per-step vol multiplier of a calibration by horizon bucket (ones: none)
        self.register_buffer("vol_profile", torch.ones(spec.horizon), persistent=False)

    def set_calibration(self, vol_scale: float = 1.0, drift_shrink: float = 1.0,
                        bucket_scales: list[float] | None = None, bucket_ends_s: list[float] | None = None) -> None:
        """Apply a calibration: one vol scale, a drift shrink and optionally a vol multiplier per
        horizon bucket (``bucket_scales[k]`` for the steps ending after ``bucket_ends_s[k - 1]`` and
        by ``bucket_ends_s[k]`` seconds; the last bucket runs to the horizon)."""
        self.vol_scale.fill_(float(vol_scale))
        self.drift_shrink.fill_(float(drift_shrink))
        step = float(self.spec.path_step or 1)
        prof = bucket_profile(self.spec.horizon, step, bucket_scales, bucket_ends_s)
        self.vol_profile.copy_(torch.as_tensor(prof, dtype=self.vol_profile.dtype))

    def check_inputs(self, x: Tensor, last_close: Tensor, n_paths: int = 1) -> None:
        s = self.spec
        try:
            ok = not isinstance(n_paths, bool) and operator.index(n_paths) >= 1
        except TypeError:
            ok = False
        if not ok:
            raise SpecError(f"n_paths must be a positive integer; got {n_paths!r}")
        if x.dim() != 3 or x.shape[1] != s.context or x.shape[2] != s.n_features:
            raise SpecError(f"model input must have shape (B, {s.context}, {s.n_features}) (context, n_features); "
                            f"got {tuple(x.shape)}")
        if last_close.shape != (x.shape[0],):
            raise SpecError(f"last_close must have shape ({x.shape[0]},); got {tuple(last_close.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise DataError("model input features contain NaN or infinite values")
        if not bool((torch.isfinite(last_close) & (last_close > 0)).all()):
            raise DataError("last_close must be finite and strictly positive")

    def forward(self, x: Tensor, last_close: Tensor, n_paths: int = 1000,
                generator: torch.Generator | None = None, past: Tensor | None = None,
                t0: Tensor | None = None, past_range: Tensor | None = None,
                anchor_x: Tensor | None = None) -> PathOutput:
        """x (B, context, n_features) scaled features, last_close (B,) prices -> PathOutput.

        ``past`` (B, C) raw log returns of the context bars (NaN = gap) and ``t0`` (B,) the
        forecast's start in epoch seconds feed the anchor (``past_range`` (B, C), log(high / low)
        of the context bars, its range-based estimate; ``anchor_x`` (B, K) the classical variance
        forecasts of the ``har`` anchor); without ``past`` the head's own scale (init_vol) is used. ``paths`` (B, n_paths, horizon + 1) in last_close's float
        dtype, column 0 == last_close, strictly positive and finite; differentiable w.r.t.
        every parameter (reparameterised). ``generator`` makes the draw reproducible.
        """
        self.check_inputs(x, last_close, n_paths)
        h = self.backbone(x)
        out: HeadOutput = self.head(h, operator.index(n_paths), generator)
        logret, extras = out.logret, dict(out.extras)
        if self.anchor is not None and past is not None:
            logret, extras = self._anchored(logret, extras, past, t0, past_range, anchor_x)
            return PathOutput(to_prices(last_close, logret), extras)
        scale = self.backbone.output_scale()
        if scale is not None:
            scale = scale.to(logret.dtype)
            logret = logret * scale[:, None, None]
            for k in _LOGRET_EXTRAS:
                if k in extras:
                    v = extras[k]
                    extras[k] = v * scale.reshape(-1, *([1] * (v.dim() - 1)))
        return PathOutput(to_prices(last_close, logret), extras)

    def parts(self, x: Tensor, last_close: Tensor, n_paths: int, generator: torch.Generator | None,
              past: Tensor, t0: Tensor | None, past_range: Tensor | None = None,
              anchor_x: Tensor | None = None) -> dict[str, Tensor]:
        """:meth:`anchor_parts` of one forward pass (what the calibration fit varies)."""
        if self.anchor is None:
            raise SpecError("only an anchored model (anchor='ewma' or 'har') has a calibration")
        self.check_inputs(x, last_close, n_paths)
        out: HeadOutput = self.head(self.backbone(x), operator.index(n_paths), generator)
        return self.anchor_parts(out.logret, dict(out.extras), past, t0, past_range, anchor_x)

    def _anchored(self, logret: Tensor, extras: dict, past: Tensor, t0: Tensor | None,
                  past_range: Tensor | None = None, anchor_x: Tensor | None = None) -> tuple[Tensor, dict]:
        """Read the head's increments as corrections of the anchor, then calibrate and add the
        martingale drift -vol^2/2 per step."""
        parts = self.anchor_parts(logret, extras, past, t0, past_range, anchor_x)
        s, d = self.vol_scale * self.vol_profile.to(logret.dtype), float(self.drift_shrink)
        vol = s * parts["vol"]
        eff = {"drift": d * parts["drift"] - 0.5 * vol.square(), "vol": vol, "anchor_vol": parts["anchor_vol"]}
        return self.compose(parts, s, d), {**extras, **eff}

    def anchor_parts(self, logret: Tensor, extras: dict, past: Tensor, t0: Tensor | None,
                     past_range: Tensor | None = None, anchor_x: Tensor | None = None) -> dict[str, Tensor]:
        """The anchored forecast in pieces: ``centered`` increments (B, N, H) around the head's
        ``drift`` (B, H), the per-step ``vol`` (B, H) and the ``anchor_vol`` (B, H)."""
        if isinstance(self.anchor, HarAnchor):
            if anchor_x is None:
                raise SpecError(f"a model anchored on 'har' (the recommended anchored-har preset) needs its feature "
                                f"set to make the har_anchor feature (the {HAR_PREFIX}* columns), which this one "
                                "lacks (feature sets built before 2026-12-06 do): rebuild it with the default "
                                "features (`features build`, or Feature Lab) or add har_anchor, or train the "
                                "anchored-term preset")
            base = self.anchor(anchor_x, t0)                                # (B, H)
        else:
            base = self.anchor(past, t0, past_range)                        # (B, H)
        ratio = (base / self.init_vol).to(logret.dtype)
        inc = torch.diff(logret, dim=-1, prepend=torch.zeros_like(logret[..., :1])) * ratio[:, None, :]
        drift, vol = extras.get("drift"), extras.get("vol")
        drift = drift * ratio if drift is not None and drift.shape == ratio.shape else torch.zeros_like(ratio)
        vol = vol * ratio if vol is not None and vol.shape == ratio.shape else base.to(logret.dtype)
        return {"centered": inc - drift[:, None, :], "drift": drift, "vol": vol, "anchor_vol": base}

    @staticmethod
    def compose(parts: dict[str, Tensor], vol_scale: float | Tensor = 1.0, drift_shrink: float = 1.0) -> Tensor:
        """Cumulative log returns (B, N, H) from :meth:`anchor_parts` under a calibration
        (``vol_scale``: one number, or one per step (H,))."""
        vol = vol_scale * parts["vol"]
        inc = vol_scale * parts["centered"] + (drift_shrink * parts["drift"] - 0.5 * vol.square())[:, None, :]
        return torch.cumsum(inc, dim=-1)

    def param_summary(self) -> dict:
        """Parameter counts: total, trainable, input projection, each block, head."""
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        blocks = [{"index": i, "name": n, "params": count(b) + count(nm)}
                  for i, (n, b, nm) in enumerate(zip(self.backbone.names, self.backbone.blocks, self.backbone.norms))]
        return {"total": count(self), "trainable": sum(p.numel() for p in self.parameters() if p.requires_grad),
                "input": count(self.backbone.input), "blocks": blocks, "head": count(self.head)}


def location_drift(extras: dict) -> Tensor:
    """The per-step log drift (B, H) of an anchored model's paths without the martingale term
    ``-vol^2 / 2``: the head's drift after the calibration's shrink (what a blend's classical partners,
    which have none, are given; :mod:`synthwb.train.blend`)."""
    return extras["drift"] + 0.5 * extras["vol"].square()


def bucket_profile(horizon: int, step_seconds: float, scales=None, ends_s=None) -> list[float]:
    """Per-step vol multipliers (horizon,) of a calibration by horizon bucket: step j (ending at
    ``j * step_seconds``) takes ``scales[k]``, k the first bucket whose end is at or after it."""
    if not scales:
        return [1.0] * int(horizon)
    ends = list(ends_s or [])[: len(scales) - 1]
    out = []
    for j in range(1, int(horizon) + 1):
        t = j * float(step_seconds)
        k = next((i for i, e in enumerate(ends) if t <= float(e) + 1e-9), len(scales) - 1)
        out.append(float(scales[k]))
    return out


def build_model(spec: ModelSpec | dict) -> PathModel:
    """Build the model of ``spec`` (statically checked first; SpecError names a breaking block)."""
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    return PathModel(spec)


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def validate_spec(spec: ModelSpec | dict, batch: int = 2, n_paths: int = 4) -> list[LayerInfo]:
    """Check the whole chain: static pre-check, then a dummy CPU batch through every layer.

    Returns one :class:`LayerInfo` per layer (input projection, blocks, norms, head). Raises
    SpecError naming the block index + name, the shape it received and the reason.
    """
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    chain_lengths(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(spec)
    model.eval()
    gen = torch.Generator().manual_seed(0)
    d = spec.d_model
    x = torch.randn(batch, spec.context, spec.n_features, generator=gen)
    rows: list[LayerInfo] = []
    bb = model.backbone
    with torch.no_grad():
        h = bb.input(x)
        rows.append(LayerInfo(None, "input", "input", ("B", spec.context, spec.n_features), ("B", spec.context, d),
                              _count(bb.input), True))
        for i, (b, block, norm) in enumerate(zip(spec.blocks, bb.blocks, bb.norms)):
            entry = BLOCKS.get(b.name)
            T = h.shape[1]
            where = f"block {i} ({b.name}) on input {_shape('B', T, d)}"
            try:
                if hasattr(block, "observe"):
                    block.observe(x)
                y = block(h)
            except SpecError as exc:
                raise SpecError(f"{where}: {exc}") from None
            except Exception as exc:  # a block that cannot run this shape is a spec problem
                raise SpecError(f"{where} fails: {type(exc).__name__}: {exc}") from None
            if not isinstance(y, Tensor) or y.dim() != 3:
                got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
                raise SpecError(f"{where} returns {got}: a block must return a 3-D (B, T, d_model) tensor")
            if y.shape[2] != d:
                raise SpecError(f"{where} returns {_shape('B', y.shape[1], y.shape[2])}: it changed d_model "
                                f"from {d} to {y.shape[2]}")
            expect = block_out_len(entry, T, b.params)
            if y.shape[1] != expect:
                raise SpecError(f"{where} returns {y.shape[1]} time steps but declares {expect}")
            if y.shape[1] < 1:
                raise SpecError(f"{where} returns no time steps")
            if not bool(torch.isfinite(y).all()):
                raise SpecError(f"{where} returns non-finite values")
            rows.append(LayerInfo(i, b.name, "block", ("B", T, d), ("B", y.shape[1], d), _count(block),
                                  block_is_causal(entry, b.params)))
            if spec.norm_between:
                rows.append(LayerInfo(i, "layernorm (between)", "norm", ("B", y.shape[1], d), ("B", y.shape[1], d),
                                      _count(norm), True))
            h = norm(y)
        H = spec.horizon
        where = f"head {spec.head.name!r} on backbone output {_shape('B', h.shape[1], d)}"
        try:
            out = model.head(h, n_paths, gen)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None
        except Exception as exc:
            raise SpecError(f"{where} fails: {type(exc).__name__}: {exc}") from None
        if tuple(out.logret.shape) != (batch, n_paths, H):
            raise SpecError(f"{where} returns {tuple(out.logret.shape)}, expected (B, n_paths, {H})")
        if not bool(torch.isfinite(out.logret).all()):
            raise SpecError(f"{where} returns non-finite log returns")
        rows.append(LayerInfo(None, f"head:{spec.head.name}", "head", ("B", h.shape[1], d), ("B", "n_paths", H + 1),
                              _count(model.head), None))
        if model.anchor is not None:
            rows.append(LayerInfo(None, f"anchor ({spec.anchor} vol" + (" + season)" if spec.seasonal else ")"), "anchor",
                                  ("B", spec.context), ("B", H), _count(model.anchor), True))
    return rows

"""Zero-shot (and fine-tuned) Moirai forecasts as ../shared/DESIGN.md §4 price paths.

:class:`MoiraiSpec` says what to forecast: the target (``close`` prices or their log returns),
the past dynamic covariates (OHLCV columns and the feature set's columns), context and
prediction length in bars, the patch size (fixed or ``"auto"``) and the number of samples.

The tensor path
---------------
uni2ts's ``MoiraiForecast.forward`` takes ``past_target``, ``past_observed_target``,
``past_is_pad`` and ``past_feat_dynamic_real`` tensors and samples the model's mixture for
*every* packed token (context and covariate tokens included), then keeps the target's
prediction tokens. Almost all the time goes into that sampling. :func:`sample_tensors` packs
the inputs the same way (uni2ts's own ``_convert``), runs the same module layers, and builds the
distribution only for the target's prediction tokens and only their ``patch_size`` values, so
each sample costs a fraction (mode ``"fast"``, the default). Mode ``"full"`` calls uni2ts's
forward itself (same samples as the gluonts predictor at the same seed; tests prove both).

- NaN in the target or a covariate is marked unobserved (and zero-filled): NaN values would
  poison the mixture.
- A history shorter than the context is left-padded and flagged in ``past_is_pad``.
- ``patch_size="auto"`` does what uni2ts does (per origin, the patch size with the lowest NLL
  on the last ``horizon`` bars of the history), but samples only the chosen patch size.

Samples become paths: target ``close`` -> the samples are prices; ``logret`` -> ``t0 *
exp(cumsum)``. Column 0 is the last close at or before the origin (float64, exact), and
prices are floored at ``1e-9 * t0`` so a wild sample never makes a path non-positive.

Moirai 2 (:class:`Moirai2Quantiles`) predicts quantiles, not samples: it shares the spec and
the packed inputs (:class:`_MoiraiInputs`), runs uni2ts's own ``Moirai2Forecast.forward`` and
returns log-return quantiles; :class:`synthwb.forecast.quantiles.QuantilePathForecaster` (one
layer up) makes them paths. :func:`moirai_class` / :func:`load_moirai_run` pick the class by
the checkpoint's family.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synthwb.core.device import resolve_device
from synthwb.core.errors import DataError, SpecError, validation_text
from synthwb.core.time import to_utc
from synthwb.data.resample import bars_on
from synthwb.data.schema import FREQ_SECONDS
from synthwb.features.compute import warmup_bars
from synthwb.features.datasets import past_logret, regular_mask
from synthwb.features.featureset import run_featureset
from synthwb.moirai.checkpoints import build_module, load_checkpoint
from synthwb.scoring.synth import steps_covering
from synthwb.store.runs import BEST, LAST, load_run, read_weights

OHLCV_COVARIATES = ("open", "high", "low", "close", "volume")
FLOOR = 1e-9
# keep one sampling call under about this many values (batch * samples * horizon * components)
_MAX_VALUES = 24_000_000


def pandas_freq(freq: str) -> str:
    """A lake frequency as a pandas frequency string gluonts accepts ("min"/"h", never "T"/"H")."""
    table = {"1min": "1min", "5min": "5min", "15min": "15min", "1h": "1h", "4h": "4h", "1d": "1D"}
    if freq not in table:
        raise SpecError(f"unknown bar frequency {freq!r}; one of {', '.join(table)}")
    return table[freq]


class MoiraiSpec(BaseModel):
    """What a Moirai forecast is made of (saved with every Moirai run)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    checkpoint: str = Field(min_length=1, description="hub id or local folder (config.json + model.safetensors)")
    target: Literal["close", "logret"] = "close"
    covariates: list[str] = Field(default_factory=list, description="past dynamic covariates")
    context: int = Field(512, ge=8, le=16384, description="context length (bars)")
    horizon: int = Field(288, ge=1, le=8192, description="prediction length (bars)")
    patch_size: int | Literal["auto"] = 32
    samples: int = Field(1000, ge=1, le=20000, description="samples (paths) per forecast by default")

    @field_validator("covariates", mode="before")
    @classmethod
    def _covs(cls, v: Any):
        if v is None:
            return []
        if isinstance(v, str):
            v = [c for c in (s.strip() for s in v.split(",")) if c]
        out = []
        for c in v:
            if c not in out:
                out.append(str(c))
        return out

    @field_validator("patch_size", mode="before")
    @classmethod
    def _patch(cls, v: Any):
        if isinstance(v, str) and v.strip().lower() == "auto":
            return "auto"
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
        return v

    @property
    def n_variates(self) -> int:
        return 1 + len(self.covariates)

    @property
    def past_length(self) -> int:
        """Bars of history a forecast reads (``auto`` also scores each patch size on the last
        ``horizon`` bars, so it reads ``context + horizon``)."""
        return self.context + (self.horizon if self.patch_size == "auto" else 0)

    @classmethod
    def parse(cls, obj: Any = None, **overrides) -> MoiraiSpec:
        if isinstance(obj, MoiraiSpec):
            data = obj.model_dump()
        else:
            data = dict(obj or {})
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"invalid Moirai spec: {validation_text(exc.errors(), 8)}") from None


def token_budget(spec: MoiraiSpec, patch_sizes: Sequence[int] = (8, 16, 32, 64, 128),
                 max_seq_len: int = 512) -> dict:
    """Tokens per forecast: ``variates x ceil((context + horizon) / patch)`` (for ``auto`` the
    smallest patch size, the largest count), with a warning past the model's ``max_seq_len``."""
    sizes = sorted(int(p) for p in patch_sizes)
    patch = sizes[0] if spec.patch_size == "auto" else int(spec.patch_size)
    tokens = spec.n_variates * math.ceil((spec.context + spec.horizon) / patch)
    per_variate = math.ceil((spec.context + spec.horizon) / patch)
    out = {"variates": spec.n_variates, "patch": patch, "tokens": tokens, "tokens_per_variate": per_variate,
           "max_seq_len": int(max_seq_len), "over": tokens > int(max_seq_len), "warning": None}
    if out["over"]:
        out["warning"] = (f"{tokens} tokens ({spec.n_variates} variates x ceil(({spec.context} + {spec.horizon}) / "
                          f"{patch})) exceed the model's max_seq_len {max_seq_len}: attention cost grows with the "
                          "square of it and the model was trained on at most that many; use a larger patch, a "
                          "shorter context or fewer covariates")
    return out


def module_patch_sizes(module) -> tuple[int, ...]:
    """The patch sizes a module takes: Moirai 1.x and MoE list several, Moirai 2 has one."""
    sizes = getattr(module, "patch_sizes", None)
    return tuple(int(p) for p in (sizes if sizes is not None else (module.patch_size,)))


def check_patch(spec: MoiraiSpec, patch_sizes: Sequence[int]) -> None:
    if spec.patch_size != "auto" and int(spec.patch_size) not in [int(p) for p in patch_sizes]:
        raise SpecError(f"patch size {spec.patch_size} is not one of the model's patch sizes "
                        f"{list(patch_sizes)} (or use auto)")


# ----------------------------------------------------------------------------- tensor path


def forecast_module(module, context: int, horizon: int, patch_size: int | str, n_covariates: int,
                    samples: int = 100):
    """uni2ts's ``MoiraiForecast`` wrapper around ``module`` (no copy of the weights)."""
    from uni2ts.model.moirai import MoiraiForecast

    return MoiraiForecast(prediction_length=int(horizon), target_dim=1, feat_dynamic_real_dim=0,
                          past_feat_dynamic_real_dim=int(n_covariates), context_length=int(context),
                          module=module, patch_size=patch_size, num_samples=int(samples))


def _fast_distr(fc, patch: int, target, observed, is_pad, cov, cov_obs):
    """The predictive distribution of the target's prediction tokens only, their ``patch``
    values only (the module's forward, with the projection and the distribution cut short)."""
    import torch
    from torch.utils._pytree import tree_map
    from uni2ts.common.torch_util import mask_fill, packed_attention_mask

    mod = fc.module
    tgt, obs, sample_id, time_id, variate_id, pred_mask = fc._convert(
        patch, target, observed, is_pad, past_feat_dynamic_real=cov, past_observed_feat_dynamic_real=cov_obs)
    ps = torch.full_like(time_id, int(patch), dtype=torch.long)
    loc, scale = mod.scaler(tgt, obs * ~pred_mask.unsqueeze(-1), sample_id, variate_id)
    reprs = mod.in_proj((tgt - loc) / scale, ps)
    reprs = mask_fill(reprs, pred_mask, mod.mask_encoding.weight)
    reprs = mod.encoder(reprs, packed_attention_mask(sample_id), time_id=time_id, var_id=variate_id)
    a = fc.context_token_length(patch)
    b = a + fc.prediction_token_length(patch)
    params = mod.param_proj(reprs[:, a:b], ps[:, a:b])
    params = tree_map(lambda t: t[:, :, :patch], params)
    return mod.distr_output.distribution(params, loc=loc[:, a:b], scale=scale[:, a:b])


def _auto_patch(fc, target, observed, is_pad, cov, cov_obs):
    """Per batch element, the patch size with the lowest NLL on the history's last horizon."""
    import torch

    ctx, h = fc.hparams.context_length, fc.hparams.prediction_length
    losses = []
    for p in fc.module.patch_sizes:
        losses.append(fc._val_loss(
            patch_size=int(p), target=target, observed_target=observed, is_pad=is_pad,
            past_feat_dynamic_real=None if cov is None else cov[:, :ctx],
            past_observed_feat_dynamic_real=None if cov_obs is None else cov_obs[:, :ctx]))
    idx = torch.stack(losses).argmin(dim=0)
    del h
    return [int(fc.module.patch_sizes[int(i)]) for i in idx]


def sample_tensors(module, target: np.ndarray, observed: np.ndarray, is_pad: np.ndarray,
                   cov: np.ndarray | None, cov_obs: np.ndarray | None, context: int, horizon: int,
                   patch_size: int | str, n_samples: int, seed: int = 0, mode: str = "fast",
                   device: str = "cpu") -> np.ndarray:
    """Samples ``(B, n_samples, horizon)`` of the target from packed numpy inputs:
    ``target``/``observed`` ``(B, L)``, ``is_pad`` ``(B, L)``, ``cov``/``cov_obs`` ``(B, L, C)``
    or None, with ``L = context`` (fixed patch) or ``context + horizon`` (auto).

    ``mode="fast"`` samples only the target's prediction tokens; ``"full"`` is uni2ts's own
    ``MoiraiForecast.forward`` (every token sampled). Seeded: the same ``seed`` gives the same
    samples (the global torch RNG is forked, so callers' RNG state is untouched)."""
    import torch

    if mode not in ("fast", "full"):
        raise SpecError(f"mode must be 'fast' or 'full', not {mode!r}")
    B = int(target.shape[0])
    n_cov = 0 if cov is None else int(cov.shape[-1])
    fc = forecast_module(module, context, horizon, patch_size, n_cov, n_samples)
    dev = torch.device(device)
    t = torch.as_tensor(np.nan_to_num(target, nan=0.0), dtype=torch.float32, device=dev)[..., None]
    o = torch.as_tensor(observed, dtype=torch.bool, device=dev)[..., None]
    p = torch.as_tensor(is_pad, dtype=torch.bool, device=dev)
    c = co = None
    if n_cov:
        c = torch.as_tensor(np.nan_to_num(cov, nan=0.0), dtype=torch.float32, device=dev)
        co = torch.as_tensor(cov_obs, dtype=torch.bool, device=dev)
    out = np.empty((B, int(n_samples), int(horizon)), dtype=np.float32)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if mode == "full":
            fc.eval()
            kw = {} if not n_cov else {"past_feat_dynamic_real": c, "past_observed_feat_dynamic_real": co}
            out[:] = fc(t, o, p, num_samples=int(n_samples), **kw).cpu().numpy()
            return out
        if patch_size == "auto":
            chosen = _auto_patch(fc, t, o, p, c, co)
            t, o, p = t[:, -context:], o[:, -context:], p[:, -context:]
            if n_cov:
                c, co = c[:, -context:], co[:, -context:]
        else:
            chosen = [int(patch_size)] * B
        for patch in sorted(set(chosen)):
            rows = [i for i, q in enumerate(chosen) if q == patch]
            ix = torch.as_tensor(rows, device=dev)
            distr = _fast_distr(fc, patch, t[ix], o[ix], p[ix], None if c is None else c[ix],
                                None if co is None else co[ix])
            s = distr.sample(torch.Size((int(n_samples),)))  # (S, b, tokens, patch)
            s = s.permute(1, 0, 2, 3).reshape(len(rows), int(n_samples), -1)[..., : int(horizon)]
            out[rows] = s.cpu().numpy()
    return out


# ----------------------------------------------------------------------------- forecaster


def _ts_ns(values) -> np.ndarray:
    """A polars datetime Series or a list of datetimes (naive = UTC) as int64 UTC nanoseconds."""
    if isinstance(values, pl.Series):
        s = values
        if getattr(s.dtype, "time_zone", None):
            s = s.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return s.cast(pl.Datetime("ns")).cast(pl.Int64).to_numpy()
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if isinstance(v, np.datetime64):
            out[i] = v.astype("datetime64[ns]").astype(np.int64)
        else:
            out[i] = round(to_utc(v, "origin").timestamp() * 1e6) * 1000
    return out



class _MoiraiInputs:
    """What every Moirai family shares: the spec, the checkpoint, covariates, the history an
    origin needs and the packed inputs (:meth:`inputs`)."""

    #: the checkpoint families this class forecasts with
    FAMILIES: tuple[str, ...] = ("moirai",)

    #: the model's name in backtests and comparisons
    name: str
    #: bars of history one forecast needs (context, + horizon for auto, + feature warm-up)
    context_bars: int
    #: calendar days of bars to read before an origin
    context_days: float
    #: the path step (the feature set's bar, seconds)
    step_seconds: int

    def __init__(self, spec: MoiraiSpec | dict, featureset, module=None, name: str | None = None,
                 root=None, device: str = "cpu", checkpoint_info: dict | None = None, mode: str = "fast"):
        self.spec = MoiraiSpec.parse(spec)
        self.featureset = featureset
        self.root = root
        self.device = str(resolve_device(device))  # "auto": CUDA, then MPS, then CPU
        self.mode = mode
        if module is None:
            loaded = load_checkpoint(self.spec.checkpoint)
            module, checkpoint_info = loaded.module, loaded.info
        self.info = dict(checkpoint_info or {})
        family = self.info.get("family", "moirai")
        if family not in self.FAMILIES:
            raise SpecError(f"{self.spec.checkpoint}: {type(self).__name__} forecasts with the "
                            f"{' / '.join(self.FAMILIES)} family; this checkpoint is {family} (see `synthwb moirai "
                            "checkpoints`; synthwb.forecast.kinds.moirai_forecaster picks the right class)")
        self.family = family
        self.module = module.to(self.device).eval()
        self.patch_sizes = module_patch_sizes(self.module)
        self.spec = self._fit_patch(self.spec)
        self.freq = featureset.freq
        self.bar_seconds = FREQ_SECONDS[self.freq]
        self.step_seconds = int(self.bar_seconds)
        self.asset_class = featureset.selection["asset_class"]
        allowed = [*OHLCV_COVARIATES, *featureset.feature_cols]
        bad = [c for c in self.spec.covariates if c not in allowed]
        if bad:
            raise SpecError(f"unknown covariate(s) {bad}; choose from the OHLCV columns and the feature set's "
                            f"columns: {', '.join(dict.fromkeys(allowed))}")
        if self.spec.target == "close" and "close" in self.spec.covariates:
            raise SpecError("close is the target; it cannot also be a covariate (use target logret for that)")
        self.feature_covs = [c for c in self.spec.covariates if c in featureset.feature_cols
                             and c not in OHLCV_COVARIATES]
        warm = 0
        if self.feature_covs:
            warm = warmup_bars(featureset.feature_spec)
        self.name = name or f"moirai:{self.info.get('checkpoint', self.spec.checkpoint)}"
        self.context_bars = int(self.spec.past_length + warm + 1)
        span_days = self.context_bars * self.bar_seconds / 86400.0
        self.context_days = span_days * (1.0 if self.asset_class == "crypto" else 3.0) + 1.0
        budget = token_budget(self.spec, self.patch_sizes, self.module.max_seq_len)
        self.budget = budget
        if budget["over"]:
            warnings.warn(budget["warning"], stacklevel=2)

    def _fit_patch(self, spec: MoiraiSpec) -> MoiraiSpec:
        check_patch(spec, self.patch_sizes)
        return spec

    def __repr__(self) -> str:
        s = self.spec
        return (f"{type(self).__name__}({self.name!r}, {self.freq}, context={s.context}, horizon={s.horizon}, "
                f"patch={s.patch_size})")

    @classmethod
    def from_run(cls, run_id: str, store=None, root=None, device: str = "cpu"):
        """The saved Moirai run ``run_id`` (fine-tuned weights, or the base checkpoint for a
        zero-shot run)."""
        run = load_run(run_id, store)
        if run.info.get("kind") != "moirai":
            raise SpecError(f"run {run_id!r} is not a Moirai run (kind {run.info.get('kind')!r})")
        meta = run.info.get("moirai") or {}
        if meta.get("family", "moirai") not in cls.FAMILIES:
            raise SpecError(f"run {run_id!r} is a {meta.get('family')} run: load it with "
                            "synthwb.forecast.kinds.load_forecaster")
        spec = MoiraiSpec.parse(run.info.get("moirai_spec"))
        fs = run_featureset(run)
        wpath = next((run.path / f for f in (BEST, LAST) if (run.path / f).is_file()), None)
        if wpath is not None:
            module = build_module(meta.get("module_config") or {}, meta.get("family", "moirai"))
            state = read_weights(wpath)
            missing, unexpected = module.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise SpecError(f"run {run_id!r}: its weights do not fit the saved Moirai config "
                                f"({len(missing)} missing, {len(unexpected)} unexpected keys)")
            info = dict(meta.get("base") or {})
            info["weights"] = wpath.name
        else:
            if run.info.get("finetune_config", {}).get("finetune", "none") != "none":
                raise SpecError(f"run {run_id!r} has no weights yet (status {run.status})")
            loaded = load_checkpoint(spec.checkpoint)
            module, info = loaded.module, loaded.info
        return cls(spec, fs, module=module, name=run_id, root=root, device=device, checkpoint_info=info)

    # -- inputs ------------------------------------------------------------------------------
    def inputs(self, bars: pl.DataFrame, origins: Sequence[datetime]) -> dict[str, np.ndarray]:
        """Packed numpy inputs for the origins: ``target``, ``observed``, ``is_pad`` ``(N, L)``,
        ``cov``/``cov_obs`` ``(N, L, C)`` (or None), ``last_close`` ``(N,)`` and ``end_ts``."""
        bars = bars_on(bars, self.freq, self.asset_class)
        close = bars["close"].cast(pl.Float64).to_numpy()
        ts = _ts_ns(bars["ts"])
        o_ns = _ts_ns(list(origins))
        ends = np.searchsorted(ts, o_ns, side="right")
        if (ends == 0).any():
            i = int(np.nonzero(ends == 0)[0][0])
            raise DataError(f"{self.name}: no bar at or before origin {origins[i]}")
        if self.spec.target == "close":
            series = close.copy()
        else:
            series = past_logret(close, regular_mask(ts, self.bar_seconds))
        series[~np.isfinite(series)] = np.nan
        covs = []
        if self.spec.covariates:
            frame = bars
            if self.feature_covs:
                feats = self.featureset.features_for(bars, root=self.root, dropna=False)
                frame = bars.join(feats.select("ts", *self.feature_covs), on="ts", how="left",
                                  maintain_order="left")
            for col in self.spec.covariates:
                covs.append(frame[col].cast(pl.Float64).to_numpy())
        L = self.spec.past_length
        N = len(origins)
        idx = ends[:, None] - L + np.arange(L)[None, :]
        pad = idx < 0
        safe = np.where(pad, 0, idx)
        tgt = np.where(pad, np.nan, series[safe])
        observed = np.isfinite(tgt)
        cov = cov_obs = None
        if covs:
            mat = np.stack(covs, axis=-1)
            mat[~np.isfinite(mat)] = np.nan
            cov = np.where(pad[..., None], np.nan, mat[safe])
            cov_obs = np.isfinite(cov)
            cov = np.nan_to_num(cov, nan=0.0)
        return {"target": np.nan_to_num(tgt, nan=0.0), "observed": observed, "is_pad": pad,
                "cov": cov, "cov_obs": cov_obs, "last_close": close[ends - 1].astype(np.float64),
                "n": np.asarray(N)}



class MoiraiForecaster(_MoiraiInputs):
    """A Moirai 1.x module as a Forecaster (the contract of :mod:`synthwb.forecast.base`):
    ``forecast(bars, origins, n_steps, step_seconds, n_paths, seed)`` -> paths
    ``(n_origins, n_paths, m + 1)`` on the feature set's bar grid."""

    FAMILIES = ("moirai",)

    def grid_steps(self, n_steps: int, step_seconds: int) -> int:
        """Model steps needed to cover ``n_steps`` of ``step_seconds`` (on the model's grid)."""
        return steps_covering(n_steps, step_seconds, self.step_seconds, self.spec.horizon, repr(self.name),
                              "Use a longer horizon.")

    # -- protocol --------------------------------------------------------------------------
    def sample(self, bars: pl.DataFrame, origins: Sequence[datetime], n_samples: int | None = None,
               seed: int = 0, horizon: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw target samples ``(n_origins, n_samples, horizon)`` and the last closes."""
        n_samples = int(n_samples or self.spec.samples)
        h = int(horizon or self.spec.horizon)
        inp = self.inputs(bars, origins)
        B = len(origins)
        per = max(1, n_samples * h * 8)  # components x values, with headroom
        chunk = max(1, _MAX_VALUES // per)
        out = np.empty((B, n_samples, h), dtype=np.float32)
        for a in range(0, B, chunk):
            sl = slice(a, a + chunk)
            out[sl] = sample_tensors(
                self.module, inp["target"][sl], inp["observed"][sl], inp["is_pad"][sl],
                None if inp["cov"] is None else inp["cov"][sl],
                None if inp["cov_obs"] is None else inp["cov_obs"][sl],
                self.spec.context, h, self.spec.patch_size, n_samples, seed=int(seed) + a, mode=self.mode,
                device=self.device)
        return out, inp["last_close"]

    def to_paths(self, samples: np.ndarray, last_close: np.ndarray) -> np.ndarray:
        """Samples -> price paths ``(B, S, H + 1)`` with column 0 = ``last_close`` exactly."""
        s = samples.astype(np.float64)
        last = np.asarray(last_close, dtype=np.float64)[:, None, None]
        if self.spec.target == "logret":
            s = np.clip(np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0), -50.0, 50.0)
            body = last * np.exp(np.cumsum(s, axis=-1))
        else:
            body = np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)
        body = np.maximum(body, last * FLOOR)
        paths = np.empty((s.shape[0], s.shape[1], s.shape[2] + 1), dtype=np.float64)
        paths[:, :, 0] = last[:, :, 0]
        paths[:, :, 1:] = body
        return paths

    def forecast(self, bars: pl.DataFrame, origins: Sequence[datetime], n_steps: int, step_seconds: int,
                 n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        """Paths ``(n_origins, n_paths, m + 1)`` on the model's grid, ``m = grid_steps(...)``."""
        m = self.grid_steps(n_steps, step_seconds)
        if len(origins) == 0:
            return np.empty((0, int(n_paths), m + 1))
        samples, last = self.sample(bars, origins, int(n_paths), seed)
        return self.to_paths(samples[:, :, :m], last)


class Moirai2Quantiles(_MoiraiInputs):
    """A Moirai 2 module as a *quantile* forecaster: :meth:`predict_quantiles` gives, per origin
    and bar of the horizon, the module's quantiles (``quantile_levels``, nine levels 0.1 .. 0.9
    for Salesforce/moirai-2.0-R-small) of the log return, through uni2ts's own
    ``Moirai2Forecast.forward`` (beyond ``num_predict_token`` patches it decodes
    autoregressively on its own quantiles, as uni2ts does).

    It is not a path Forecaster by itself: :class:`synthwb.forecast.quantiles.QuantilePathForecaster`
    turns it into one (``synthwb.forecast.kinds.moirai_forecaster`` and ``load_forecaster`` do
    that). Target ``close``: price quantiles become quantiles of the cumulative log return
    ``log(q / t0)`` (``kind="cumulative"``); target ``logret``: quantiles of each bar's log return
    (``kind="increments"``). Moirai 2 has one patch size: the spec's is set to it (a different
    fixed value is refused)."""

    FAMILIES = ("moirai-2",)

    def _fit_patch(self, spec: MoiraiSpec) -> MoiraiSpec:
        return self._fit_patch_of(spec, self.patch_sizes)

    @staticmethod
    def _fit_patch_of(spec: MoiraiSpec, patch_sizes: Sequence[int]) -> MoiraiSpec:
        own = int(patch_sizes[0])
        if spec.patch_size not in ("auto", own, 32):  # 32: MoiraiSpec's default, meant for Moirai 1
            raise SpecError(f"Moirai 2 has one patch size, {own}; got {spec.patch_size} (use {own} or auto)")
        return spec.model_copy(update={"patch_size": own})

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(float(x) for x in self.module.quantile_levels)

    @property
    def kind(self) -> str:
        return "cumulative" if self.spec.target == "close" else "increments"

    def predict_quantiles(self, bars: pl.DataFrame, origins: Sequence[datetime],
                          horizon: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Quantiles ``(n_origins, horizon, K)`` of the log return (cumulative from the last close
        for target close, per bar for logret) and the last closes ``(n_origins,)``."""
        import torch
        from uni2ts.model.moirai2 import Moirai2Forecast

        h = int(horizon or self.spec.horizon)
        if h > self.spec.horizon:
            raise SpecError(f"{self.name} forecasts {self.spec.horizon} bars; {h} asked (use a longer horizon)")
        inp = self.inputs(bars, origins)
        B, K = len(origins), len(self.levels)
        out = np.empty((B, h, K))
        if B == 0:
            return out, inp["last_close"]
        n_cov = 0 if inp["cov"] is None else int(inp["cov"].shape[-1])
        fc = Moirai2Forecast(prediction_length=h, target_dim=1, feat_dynamic_real_dim=0,
                             past_feat_dynamic_real_dim=n_cov, context_length=int(self.spec.context),
                             module=self.module)
        dev = torch.device(self.device)
        fc = fc.to(dev)  # LightningModule.device feeds its torch.quantile levels in autoregressive decoding
        chunk = max(1, 4096 // max(1, K))
        with torch.no_grad():
            for a in range(0, B, chunk):
                sl = slice(a, a + chunk)
                kw = {}
                if n_cov:
                    kw = {"past_feat_dynamic_real": torch.as_tensor(inp["cov"][sl], dtype=torch.float32, device=dev),
                          "past_observed_feat_dynamic_real": torch.as_tensor(inp["cov_obs"][sl], dtype=torch.bool,
                                                                             device=dev)}
                q = fc(torch.as_tensor(inp["target"][sl], dtype=torch.float32, device=dev)[..., None],
                       torch.as_tensor(inp["observed"][sl], dtype=torch.bool, device=dev)[..., None],
                       torch.as_tensor(inp["is_pad"][sl], dtype=torch.bool, device=dev), **kw)
                out[sl] = q.reshape(q.shape[0], K, h).permute(0, 2, 1).double().cpu().numpy()
        last = inp["last_close"]
        if self.spec.target == "close":
            floor = last[:, None, None] * FLOOR
            with np.errstate(invalid="ignore", divide="ignore"):
                out = np.log(np.maximum(np.where(np.isfinite(out), out, np.nan), floor) / last[:, None, None])
        return out, last


def quantile_summary(paths: np.ndarray, step_seconds: int, levels=(0.05, 0.25, 0.5, 0.75, 0.95),
                     points: Sequence[int] | None = None) -> list[dict]:
    """Per step (or the chosen ``points``) of one origin's paths ``(S, H + 1)``: the quantiles."""
    q = np.quantile(paths, levels, axis=0)
    idx = list(points) if points is not None else list(range(paths.shape[1]))
    rows = []
    for i in idx:
        row = {"step": int(i), "seconds": int(i) * int(step_seconds), "mean": float(paths[:, i].mean())}
        row.update({f"q{round(lv * 100):02d}": float(q[j, i]) for j, lv in enumerate(levels)})
        rows.append(row)
    return rows


def moirai_class(family: str):
    """The forecaster class of a checkpoint family: :class:`MoiraiForecaster` (Moirai 1.x, samples)
    or :class:`Moirai2Quantiles` (Moirai 2, quantiles)."""
    if family == "moirai-2":
        return Moirai2Quantiles
    if family == "moirai":
        return MoiraiForecaster
    raise SpecError(f"synthwb does not forecast with the {family} family (see `synthwb moirai checkpoints`)")


def load_moirai_run(run_id: str, store=None, root=None, device: str = "cpu"):
    """A saved Moirai run as the class of its family (:func:`moirai_class`)."""
    family = (load_run(run_id, store).info.get("moirai") or {}).get("family", "moirai")
    return moirai_class(family).from_run(run_id, store=store, root=root, device=device)

"""A backtest's result: :class:`BacktestResult` (tidy tables, summary, JSON digest), the tables it
is built from, one batch at a time, and its storage (save / load a backtest folder).

Part of :mod:`synthwb.evaluate.backtest` (which re-exports the public names).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from synthwb.core.io import check_slug, slugify
from synthwb.evaluate import export
from synthwb.evaluate.backtest_origins import NS, _dt, _Origins
from synthwb.evaluate.backtest_spec import BacktestSpec
from synthwb.evaluate.validator import batch_reasons
from synthwb.scoring.metrics import GluonMetrics, sorted_quantiles
from synthwb.scoring.synth import VOL_KIND, SynthTask, score_batch
from synthwb.scoring.trading import path_stats
from synthwb.scoring.versions import ValidatorRules, get_validator
from synthwb.store import backtests as store_bt

__all__ = ["QUANTILES", "COVERAGE_LEVELS", "PIT_SCHEMA", "BacktestResult", "save_backtest", "save_beside_run",
           "load_backtest", "default_slug", "validator_record", "LEGACY_VALIDATOR"]

# results saved before versions were recorded were scored with these rules
LEGACY_VALIDATOR = "2026-05"


def validator_record(rules: ValidatorRules | str | None) -> dict:
    """What a result records of the validator version it scored with."""
    r = get_validator(rules)
    return {"name": r.name, "repository": r.repository, "commit": r.commit, "date": r.date}

QUANTILES = (5, 25, 50, 75, 95)
COVERAGE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
PIT_SCHEMA = {"origin": pl.Datetime("us", "UTC"), "model": pl.Utf8, "step": pl.Int32, "pit": pl.Float64}


def _pit_frame(srt: np.ndarray, real: np.ndarray, origins: pl.Series, name: str) -> pl.DataFrame:
    """PIT of each realised point 1..T-1 in its sorted ensemble ``srt`` (B, P, T): the share of
    paths at or below it (mid-rank for ties), one row per (origin, step) with a realised value."""
    below = (srt < real[:, None, :]).mean(axis=1)
    at = (srt <= real[:, None, :]).mean(axis=1)
    pit = 0.5 * (below + at)[:, 1:]
    b, k = np.nonzero(np.isfinite(real[:, 1:]))
    return pl.DataFrame({"origin": origins.gather(b), "model": [name] * b.size,
                         "step": (k + 1).astype(np.int32), "pit": pit[b, k]}, schema=PIT_SCHEMA)


# ---------------------------------------------------------------------------------- result


@dataclass
class BacktestResult:
    """Tidy tables of a backtest plus the few path sets kept for charts."""

    spec: BacktestSpec
    task: SynthTask
    selection: dict
    origins: list[datetime]
    per_origin: pl.DataFrame  # origin, t0, model, kind, total, valid, reason, n_terms
    terms: pl.DataFrame  # origin, model, interval, kind, term, score
    quantiles: pl.DataFrame  # origin, model, step, time, p5..p95, mean, realised
    gluonts: pl.DataFrame  # model, wQL, MSE, MAE, MASE, MSIS, coverage_*
    trading: pl.DataFrame  # model, directional_accuracy, strategy_*, buyhold_*
    realised: np.ndarray  # (n_origins, T)
    paths: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)  # model -> origin idx -> (P, T)
    meta: dict = field(default_factory=dict)
    status: str = "finished"
    pit: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PIT_SCHEMA))  # origin, model, step, pit

    def coverage_by_level(self, levels=COVERAGE_LEVELS) -> pl.DataFrame:
        """model, level, coverage: the share of realised points inside each central band of
        the paths (from the PIT values; a calibrated forecast has coverage == level)."""
        if self.pit.is_empty():
            return pl.DataFrame(schema={"model": pl.Utf8, "level": pl.Float64, "coverage": pl.Float64})
        return pl.concat([
            self.pit.group_by("model", maintain_order=True)
            .agg(((pl.col("pit") - 0.5).abs() <= lv / 2).mean().alias("coverage"))
            .with_columns(pl.lit(float(lv)).alias("level")) for lv in levels
        ]).select("model", "level", "coverage")

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.per_origin["model"].to_list()))

    @property
    def validator(self) -> dict:
        """The validator version the scores follow: name, repository, commit, date."""
        return self.meta.get("validator") or validator_record(self.spec.validator or LEGACY_VALIDATOR)

    @property
    def validator_label(self) -> str:
        """``2026-09 (synthdataco/synth-subnet@2cfb24b)``, for headers and captions."""
        return export.version_label(self.validator)

    @property
    def intervals(self) -> pl.DataFrame:
        """Per-origin, per-interval sums: origin, model, interval, kind, score, n_terms."""
        if self.terms.is_empty():
            return pl.DataFrame(schema={"origin": pl.Datetime("us", "UTC"), "model": pl.Utf8, "interval": pl.Utf8,
                                        "kind": pl.Utf8, "score": pl.Float64, "n_terms": pl.UInt32})
        order = {n: i for i, n in enumerate([iv.name for iv in self.task.intervals]
                                            + [vb.name for vb in self.task.vol_blocks])}
        return (self.terms.group_by(["origin", "model", "interval", "kind"], maintain_order=True)
                .agg(pl.col("score").sum(), pl.len().alias("n_terms"))
                .with_columns(pl.col("interval").replace_strict(order, default=99).alias("_o"))
                .sort(["origin", "model", "_o"]).drop("_o"))

    def summary(self) -> pl.DataFrame:
        """One row per model: Synth score statistics, then key GluonTS and trading metrics."""
        po = self.per_origin
        valid = po.filter(pl.col("valid"))
        stats = (po.group_by(["model", "kind"], maintain_order=True)
                 .agg(pl.len().alias("n_origins"), (~pl.col("valid")).sum().alias("n_invalid"),
                      (pl.col("validator").fill_null("") != "").sum().alias("n_refused")))
        sc = (valid.group_by("model", maintain_order=True)
              .agg(pl.col("total").mean().alias("mean_score"), pl.col("total").median().alias("median_score"),
                   pl.col("total").std().alias("std_score")))
        out = stats.join(sc, on="model", how="left")
        # relative to the best baseline on shared valid origins
        base = [m for m, k in zip(out["model"], out["kind"]) if k == "baseline"]
        if base:
            piv = valid.pivot(on="model", index="origin", values="total").drop_nulls()
            if piv.height:
                best = min(base, key=lambda m: piv[m].mean() if m in piv.columns else math.inf)
                rel = {m: float(piv[m].mean() / piv[best].mean()) if m in piv.columns and best in piv.columns else None
                       for m in out["model"]}
                out = out.with_columns(pl.Series("vs_best_baseline", [rel.get(m) for m in out["model"]], dtype=pl.Float64))
        out = out.with_columns(pl.col("mean_score").rank("min").cast(pl.Int32).alias("rank"))
        if not self.gluonts.is_empty():
            out = out.join(self.gluonts.select("model", "wQL", "MASE", "coverage_90"), on="model", how="left")
        if not self.trading.is_empty():
            out = out.join(self.trading.select("model", "directional_accuracy", "strategy_sharpe", "strategy_return"),
                           on="model", how="left")
        labels = self.meta.get("run_labels") or {}
        out = out.with_columns(pl.Series("note", [labels.get(m, "") for m in out["model"]], dtype=pl.Utf8))
        return out.sort("rank")

    def to_dict(self) -> dict:
        """JSON-able digest (what the CLI prints with --json and what is saved as result.json)."""
        return {
            "status": self.status,
            "spec": json.loads(self.spec.model_dump_json()),
            "task": self.task.to_dict(),
            "validator": self.validator,
            "selection": self.selection,
            "n_origins": len(self.origins),
            "origins": [o.isoformat() for o in self.origins],
            "summary": _records(self.summary()),
            "gluonts": _records(self.gluonts),
            "trading": _records(self.trading),
            "per_origin": _records(self.per_origin),
            "meta": self.meta,
        }


def _records(df: pl.DataFrame) -> list[dict]:
    out = []
    for row in df.to_dicts():
        r = {}
        for k, v in row.items():
            if isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, float) and not math.isfinite(v):
                v = None
            r[k] = v
        out.append(r)
    return out


class _Tables:
    """The result tables, filled one (model, batch of origins) at a time."""

    def __init__(self, task: SynthTask, org: _Origins, keep_idx: set[int], seen_until: datetime | None,
                 validator: str | None = None):
        self.task, self.org, self.keep_idx, self.seen_until = task, org, keep_idx, seen_until
        self.validator = validator
        self.origin_series = pl.Series("origin", org.origins, dtype=pl.Datetime("us", "UTC"))
        self.grid = org.t0_ns[:, None] + np.arange(task.n_points, dtype=np.int64)[None, :] * task.step_seconds * NS
        self.po_rows: list[dict] = []
        self.term_frames: list[pl.DataFrame] = []
        self.q_frames: list[pl.DataFrame] = []
        self.pit_frames: list[pl.DataFrame] = []
        self.glu_rows: list[dict] = []
        self.trade_rows: list[dict] = []
        self.kept: dict[str, dict[int, np.ndarray]] = {}

    def add(self, name: str, kind: str, idx: list[int], paths: np.ndarray, gm: GluonMetrics, hold: int | None,
            stats_parts: list[dict], real_parts: list[np.ndarray]) -> None:
        """Score one batch: per-origin totals, tidy terms, quantiles, PIT, metrics' running sums."""
        task, org = self.task, self.org
        real_c = org.realised[idx]
        sc = score_batch(paths, real_c, task)
        verdicts = batch_reasons(paths, task, self.validator)
        for j, i in enumerate(idx):
            self.po_rows.append({"origin": org.origins[i], "t0": _dt(org.t0_ns[i]), "model": name, "kind": kind,
                                 "total": float(sc.totals[j]) if sc.valid[j] else None,
                                 "valid": bool(sc.valid[j]), "reason": sc.reasons[j], "n_terms": int(sc.n_terms[j]),
                                 "in_sample": bool(self.seen_until is not None and org.origins[i] < self.seen_until),
                                 "validator": verdicts[j]})
        gather = np.asarray(idx)
        # the price intervals, then the volatility block sizes (their terms weighted, as in the total)
        parts = [(iv.name, iv.kind) for iv in task.intervals] + [(vb.name, VOL_KIND) for vb in task.vol_blocks]
        for part, kind in parts:
            t = sc.terms[part]
            b_idx, pos = np.nonzero(np.isfinite(t))
            if b_idx.size:
                self.term_frames.append(pl.DataFrame({
                    "origin": self.origin_series.gather(gather[b_idx]), "model": [name] * b_idx.size,
                    "interval": [part] * b_idx.size, "kind": [kind] * b_idx.size,
                    "term": pos.astype(np.int32), "score": t[b_idx, pos]}))
        finite = np.isfinite(paths).all(axis=(1, 2))
        qs = np.full((len(QUANTILES), len(idx), task.n_points), np.nan)
        mean = np.full((len(idx), task.n_points), np.nan)
        if finite.any():
            srt = np.sort(paths[finite], axis=1)  # one sort for every quantile and metric
            self.pit_frames.append(_pit_frame(srt, real_c[finite], self.origin_series.gather(gather[finite]), name))
            qs[:, finite] = sorted_quantiles(srt, [q / 100 for q in QUANTILES])
            mean[finite] = paths[finite].mean(axis=1)
            gm.update(srt, real_c[finite], org.history[idx][finite], presorted=True)
            stats_parts.append(path_stats(paths[finite], hold, median_path=qs[QUANTILES.index(50), finite]))
            real_parts.append(real_c[finite])
        B, T = len(idx), task.n_points
        self.q_frames.append(pl.DataFrame({
            "origin": self.origin_series.gather(np.repeat(gather, T)), "model": [name] * (B * T),
            "step": np.tile(np.arange(T, dtype=np.int32), B),
            "time": pl.Series(self.grid[idx].ravel() // 1000, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            **{f"p{q}": qs[k].ravel() for k, q in enumerate(QUANTILES)},
            "mean": mean.ravel(), "realised": real_c.ravel()}))
        for j, i in enumerate(idx):
            if i in self.keep_idx:
                self.kept.setdefault(name, {})[i] = paths[j].astype(np.float32)

    def per_origin(self) -> pl.DataFrame:
        return pl.DataFrame(self.po_rows, schema={
            "origin": pl.Datetime("us", "UTC"), "t0": pl.Datetime("us", "UTC"), "model": pl.Utf8, "kind": pl.Utf8,
            "total": pl.Float64, "valid": pl.Boolean, "reason": pl.Utf8, "n_terms": pl.Int64, "in_sample": pl.Boolean,
            "validator": pl.Utf8})

    def terms(self) -> pl.DataFrame:
        return pl.concat(self.term_frames) if self.term_frames else pl.DataFrame(schema={
            "origin": pl.Datetime("us", "UTC"), "model": pl.Utf8, "interval": pl.Utf8, "kind": pl.Utf8,
            "term": pl.Int32, "score": pl.Float64})


# --------------------------------------------------------------------------------- storage


def default_slug(result: BacktestResult) -> str:
    o = result.origins
    first = o[0].strftime("%Y%m%d") if o else "none"
    last = o[-1].strftime("%Y%m%d") if o else "none"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return slugify(f"{result.task.name}-{first}-{last}-{len(o)}o-{stamp}")


def save_backtest(result: BacktestResult, folder: str | os.PathLike) -> Path:
    """Write a backtest folder atomically (:mod:`synthwb.store.backtests`)."""
    return store_bt.write_backtest(
        folder, spec=json.loads(result.spec.model_dump_json()), result=result.to_dict(),
        csvs=export.csv_texts(result),
        frames={"terms": result.terms, "quantiles": result.quantiles, "pit": result.pit},
        arrays={"realised": result.realised})


def save_beside_run(result: BacktestResult, run_id: str, store=None, slug: str | None = None) -> Path:
    """Save into ``models_store/<run_id>/backtests/<slug>/``."""
    slug = check_slug(slug or default_slug(result), "backtest name")
    return save_backtest(result, store_bt.backtest_folder(run_id, slug, store))


def load_backtest(folder: str | os.PathLike) -> BacktestResult:
    """Read a saved backtest back (paths are not saved; quantiles are)."""
    info, frames, arrays = store_bt.read_backtest(folder)
    # saved before versions were recorded: scored with the legacy rules
    spec = BacktestSpec.parse({"validator": LEGACY_VALIDATOR, **info["spec"]})
    per_origin = frames["per_origin"].drop([c for c in export.VERSION_COLUMNS if c in frames["per_origin"].columns])
    per_origin = per_origin.with_columns(
        pl.col("origin").cast(pl.Datetime("us", "UTC")), pl.col("t0").cast(pl.Datetime("us", "UTC")),
        pl.col("reason").fill_null("").str.strip_prefix("'"), pl.col("total").cast(pl.Float64))
    if "validator" in per_origin.columns:  # saved before the validator's verdict was recorded: unknown
        per_origin = per_origin.with_columns(pl.col("validator").fill_null("").cast(pl.Utf8).str.strip_prefix("'"))
    else:
        per_origin = per_origin.with_columns(pl.lit(None, pl.Utf8).alias("validator"))
    glu = pl.DataFrame(info.get("gluonts") or [])
    trd = pl.DataFrame(info.get("trading") or [])
    origins = [datetime.fromisoformat(o) for o in info.get("origins", [])]
    return BacktestResult(spec, SynthTask.from_dict(info["task"]), info.get("selection") or {}, origins,
                          per_origin, frames["terms"], frames.get("quantiles", pl.DataFrame()), glu, trd,
                          arrays.get("realised", np.empty((0, 0))), {}, info.get("meta") or {},
                          info.get("status", "finished"), frames.get("pit", pl.DataFrame(schema=PIT_SCHEMA)))

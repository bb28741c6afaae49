"""What a forward test shows: rolling scores per model against the baselines, the
competition's reward replay, coverage, warnings, the latest fan charts (all from its state).

- :func:`scores_frame`: one row per (scored request, model): the request's asset, origin,
  start and scored times, the model's total (None when invalid), coverage of its 50% and 90%
  bands.
- :func:`rolling_scores`: per model, the validator's rolling average over the competition's
  window ending at the newest scored time: ``sum(c * s) / sum(c)`` over valid scores with the
  version's asset coefficients, and the share of invalid answers; lower is better.
- :func:`behind_baselines`: a warning per (model, baseline) where the model's rolling score is
  worse than the baseline's over the same window.
- :func:`reward_replay`: :func:`synthwb.evaluate.reward.simulate` of the competition among the
  forward test's models and baselines (each a miner), with the version's rules: each one's
  smoothed score, final and mean share, and expected share of miner emissions.
- :func:`latest_charts`: the newest scored requests' quantile rows per model and the realised
  path, as :func:`synthwb.charts.forecast.fans_side_by_side` draws them.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from synthwb.core.errors import SynthwbError
from synthwb.evaluate.reward import simulate
from synthwb.live.spec import LiveSpec
from synthwb.live.state import LiveFolder

__all__ = ["SCORE_SCHEMA", "behind_baselines", "latest_charts", "reward_replay", "rolling_scores", "scores_frame",
           "summary"]

SCORE_SCHEMA = {"key": pl.Utf8, "asset": pl.Utf8, "origin": pl.Datetime("us", "UTC"),
                "t0": pl.Datetime("us", "UTC"), "scored_time": pl.Datetime("us", "UTC"), "model": pl.Utf8,
                "kind": pl.Utf8, "total": pl.Float64, "valid": pl.Boolean, "reason": pl.Utf8,
                "cov50": pl.Float64, "cov90": pl.Float64}


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s).astimezone(UTC)


def scores_frame(state: dict) -> pl.DataFrame:
    """One row per (scored request, model), oldest first."""
    spec = LiveSpec.parse(state["spec"])
    base = set(spec.baseline_names())
    rows = []
    for r in state["requests"].values():
        if r["status"] != "scored":
            continue
        for m, v in r["models"].items():
            rows.append({"key": r["key"], "asset": r["asset"], "origin": _t(r["origin"]), "t0": _t(r["start_time"]),
                         "scored_time": _t(r["scored_time"]), "model": m,
                         "kind": "baseline" if m in base else "run", "total": v.get("total"),
                         "valid": bool(v.get("valid")), "reason": v.get("reason") or "",
                         "cov50": v.get("cov50"), "cov90": v.get("cov90")})
    return pl.DataFrame(rows, schema=SCORE_SCHEMA).sort("scored_time", "key", "model")


def rolling_scores(state: dict, at: datetime | None = None) -> pl.DataFrame:
    """model, kind, rolling_score (asset-weighted mean of valid scores over the competition's
    window), n_requests, n_invalid, coverage_50, coverage_90, window_days; best first."""
    spec = LiveSpec.parse(state["spec"])
    rules, comp = spec.rules(), spec.comp()
    df = scores_frame(state)
    schema = {"model": pl.Utf8, "kind": pl.Utf8, "rolling_score": pl.Float64, "n_requests": pl.Int64,
              "n_invalid": pl.Int64, "coverage_50": pl.Float64, "coverage_90": pl.Float64,
              "window_days": pl.Float64}
    if df.is_empty():
        return pl.DataFrame(schema=schema)
    at = at or df["scored_time"].max()
    lo = at - timedelta(days=comp.window_days)
    win = df.filter((pl.col("scored_time") > lo) & (pl.col("scored_time") <= at)).with_columns(
        pl.col("asset").map_elements(rules.asset_weight, return_dtype=pl.Float64).alias("_c"))
    ok = pl.col("valid") & pl.col("total").is_not_null()
    out = win.group_by("model", "kind").agg(
        ((pl.col("total") * pl.col("_c")).filter(ok).sum() / pl.col("_c").filter(ok).sum()).alias("rolling_score"),
        pl.len().cast(pl.Int64).alias("n_requests"), (~ok).sum().cast(pl.Int64).alias("n_invalid"),
        pl.col("cov50").mean().alias("coverage_50"), pl.col("cov90").mean().alias("coverage_90"),
    ).with_columns(pl.lit(float(comp.window_days)).alias("window_days"))
    return out.select(list(schema)).sort("rolling_score", "model", nulls_last=True)


def behind_baselines(rolling: pl.DataFrame) -> list[str]:
    """A line per (run, baseline) where the run's rolling score is worse (higher) than the
    baseline's."""
    if rolling.is_empty():
        return []
    base = {m: s for m, k, s in rolling.select("model", "kind", "rolling_score").iter_rows() if k == "baseline"
            and s is not None}
    out = []
    for m, k, s in rolling.select("model", "kind", "rolling_score").iter_rows():
        if k == "baseline" or s is None:
            continue
        for b, bs in base.items():
            if s > bs:
                out.append(f"{m}'s rolling score {s:.1f} is behind {b}'s {bs:.1f} ({(s / bs - 1) * 100:+.1f}%; "
                           "lower is better)")
    return out


def reward_replay(state: dict) -> dict[str, Any] | None:
    """The competition's reward among the forward test's models (each a miner), by the
    version's rules; None before anything is scored."""
    spec = LiveSpec.parse(state["spec"])
    df = scores_frame(state)
    if df.is_empty():
        return None
    table = df.select(pl.col("key").alias("request"), "asset", "scored_time", pl.col("model").alias("miner"),
                      pl.when(pl.col("valid")).then(pl.col("total")).otherwise(None).alias("score"))
    try:
        res = simulate(table, spec.comp(), validator=spec.rules())
    except SynthwbError as exc:
        return {"error": str(exc)}
    summary = res.summary.with_columns((pl.col("final_share") * res.competition.share).alias("expected_share"))
    return {"competition": res.competition.label, "validator": res.rules.name, "summary": summary,
            "over_time": res.over_time, "share_of_emissions": res.competition.share}


def latest_charts(folder: LiveFolder, state: dict, n: int = 3) -> list[dict]:
    """The newest scored requests' chart rows: {key, asset, quantiles (model, step, time, p5..p95,
    realised), scores {model: total}}."""
    keys = [k for k, r in sorted(state["requests"].items(), key=lambda kv: kv[1].get("scored_time") or "")
            if r["status"] == "scored"]
    out = []
    for key in reversed(keys):
        chart = folder.read_chart(key)
        if chart is None:
            continue
        frames = []
        times = [datetime.fromtimestamp(t, UTC) for t in chart["time"]]
        for m, q in chart["models"].items():
            frames.append(pl.DataFrame({"model": [m] * len(times), "step": list(range(len(times))), "time": times,
                                        **{k: [float("nan") if v is None else v for v in q[k]] for k in q},
                                        "realised": [float("nan") if v is None else v for v in chart["realised"]]}))
        rec = state["requests"][key]
        out.append({"key": key, "asset": chart["asset"], "start_time": rec["start_time"],
                    "quantiles": pl.concat(frames) if frames else pl.DataFrame(),
                    "scores": {m: v.get("total") for m, v in rec["models"].items()}})
        if len(out) >= n:
            break
    return out


def summary(folder: LiveFolder, state: dict | None = None) -> dict[str, Any]:
    """Status, rolling scores and warnings as JSON-able data (``synthwb live status``)."""
    state = state or folder.read()
    roll = rolling_scores(state)
    return {**folder.status(state), "rolling": roll.to_dicts(), "warnings": behind_baselines(roll)}

"""What a miner would earn: the Synth validator's reward rule applied to per-request scores.

Transcribed from mode-network/synth-subnet (``validator/reward.py`` ``compute_prompt_scores``
and ``compute_softmax``; ``validator/moving_average.py``; ``validator/prompt_config.py``):

1. **Per request** (one asset, one start time; every miner's score of it): the 90th
   percentile of the *valid* scores (``np.percentile``, linear) caps every score; an invalid
   response (score -1, or a refused / missing forecast) gets that cap; the request's lowest
   capped score is subtracted. A request where every response is invalid is not scored.
2. **Rolling window** at time ``T``: the prompt scores of requests whose scored time
   (start time + time length) lies in ``(T - window, T]``; window 10 days for the 24h prompt
   ("low"), 3 days for the 1h prompt ("high"). Each miner's smoothed score is the average of
   its prompt scores weighted by the asset coefficients, ``sum(c * s) / sum(c)`` over its
   own rows (BTC 1.0, ETH 0.706, XAU 1.737, SOL 0.631, SPYX 3.438, ... ; other assets 1.0).
   A miner whose first score in the window comes after the window's first request is
   back-filled with that request's worst prompt score (``p90 - lowest``) for every earlier
   request, so joining late is no advantage. A miner with no score in the window gets inf.
3. **Softmax** of ``beta * smoothed`` with beta -0.1 (24h) or -0.2 (1h); each competition's
   weights are multiplied by 0.5 (``smoothed_score_coefficient``), and a miner in both sums
   them.

The input is a *request table*: ``request`` (any key), ``asset``, ``scored_time`` (UTC),
``miner`` and ``score`` (null, NaN or -1 for an invalid response). :func:`from_per_origin`
builds one from backtest per-origin scores, :func:`read_population_csv` from other miners'
scores, :func:`insert_models` puts a user's models into such a population.
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from synthwb.core.errors import SpecError
from synthwb.evaluate.backtest import _records

__all__ = [
    "ASSET_WEIGHTS",
    "SUMMARY_COLUMNS",
    "COMPETITIONS",
    "Competition",
    "RewardResult",
    "asset_weight",
    "competition_for",
    "from_per_origin",
    "insert_models",
    "prompt_scores",
    "read_population_csv",
    "reward_weights",
    "score_requests",
    "simulate",
    "softmax",
]

# validator/moving_average.py ASSET_COEFFICIENTS, verbatim
ASSET_WEIGHTS: dict[str, float] = {
    "BTC": 1.0,
    "ETH": 0.7064366394033871,
    "XAU": 1.7370922597118699,
    "SOL": 0.6310037175639559,
    "SPYX": 3.437935601155441,
    "NVDAX": 1.6028217601617174,
    "TSLAX": 1.6068755936957768,
    "AAPLX": 2.0916380815843123,
    "GOOGLX": 1.6827392777257926,
    "XRP": 0.5658394110809131,
    "HYPE": 0.4784547133706857,
    "WTIOIL": 0.8475062847978935,
}


@dataclass(frozen=True)
class Competition:
    """One prompt's reward parameters (validator/prompt_config.py)."""

    label: str
    task: str
    time_length: int
    window_days: float
    beta: float
    coefficient: float = 0.5


COMPETITIONS: dict[str, Competition] = {
    "24h": Competition("low", "24h", 86400, 10, -0.1),
    "1h": Competition("high", "1h", 3600, 3, -0.2),
}

SUMMARY_COLUMNS = ["miner", "mean_score", "n_requests", "n_invalid", "mean_prompt_score", "final_share", "mean_share"]

TABLE_SCHEMA = {"request": pl.Utf8, "asset": pl.Utf8, "scored_time": pl.Datetime("us", "UTC"),
                "miner": pl.Utf8, "score": pl.Float64}


def competition_for(task: Any) -> Competition:
    """The competition of a task name (``"24h"``, ``"1h"``) or a :class:`Competition`."""
    if isinstance(task, Competition):
        return task
    name = getattr(task, "name", task)
    if name not in COMPETITIONS:
        raise SpecError(f"the Synth reward exists for the 24h and 1h prompts only, not {name!r}")
    return COMPETITIONS[name]


def asset_weight(asset: str, weights: Mapping[str, float] | None = None) -> float:
    """The asset's coefficient (``weights`` override the validator's; unknown assets 1.0)."""
    table = {**ASSET_WEIGHTS, **(weights or {})}
    w = table.get(str(asset), 1.0)
    return 1.0 if w is None or not math.isfinite(float(w)) else float(w)


# ------------------------------------------------------------------------ one request


def prompt_scores(scores) -> tuple[np.ndarray | None, float, float]:
    """``compute_prompt_scores``: (prompt scores, percentile90, lowest) of one request's
    scores, -1 (or NaN) meaning invalid; (None, 0, 0) when every response is invalid."""
    s = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isfinite(s), s, -1.0)
    if np.all(s == -1):
        return None, 0.0, 0.0
    p90 = float(np.percentile(s[s != -1], 90))
    capped = np.minimum(s, p90)
    capped = np.where(s == -1, p90, capped)
    lowest = float(np.min(capped))
    return capped - lowest, p90, lowest


def softmax(values, beta: float) -> np.ndarray:
    """``compute_softmax``: ``exp(beta * x - max) / sum``."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    scaled = beta * v
    scaled = scaled - np.max(scaled)
    e = np.exp(scaled)
    return e / np.sum(e)


def _check_table(table: pl.DataFrame) -> pl.DataFrame:
    if not isinstance(table, pl.DataFrame):
        raise SpecError("a request table must be a polars DataFrame")
    missing = set(TABLE_SCHEMA) - set(table.columns)
    if missing:
        raise SpecError(f"request scores lack column(s) {sorted(missing)}; need request, asset, scored_time, "
                        "miner, score")
    if table.is_empty():
        raise SpecError("no request scores to simulate the reward on")
    t = table.select(list(TABLE_SCHEMA)).with_columns(
        pl.col("request").cast(pl.Utf8), pl.col("asset").cast(pl.Utf8), pl.col("miner").cast(pl.Utf8),
        pl.col("score").cast(pl.Float64))
    if t.schema["scored_time"] != pl.Datetime("us", "UTC"):
        st = t["scored_time"]
        if st.dtype == pl.Utf8:
            st = st.str.to_datetime(time_zone="UTC", strict=False)
        elif isinstance(st.dtype, pl.Datetime) and st.dtype.time_zone is None:
            st = st.dt.replace_time_zone("UTC")
        if not isinstance(st.dtype, pl.Datetime):
            raise SpecError("scored_time must be a UTC date-time")
        t = t.with_columns(st.cast(pl.Datetime("us", "UTC")).alias("scored_time"))
    if t["scored_time"].null_count():
        raise SpecError("scored_time has empty or unreadable values")
    dup = t.group_by("request", "miner").len().filter(pl.col("len") > 1)
    if dup.height:
        raise SpecError(f"miner {dup['miner'][0]!r} has {dup['len'][0]} scores for request {dup['request'][0]!r}")
    return t


def score_requests(table: pl.DataFrame) -> pl.DataFrame:
    """The table with ``prompt_score``, ``percentile90``, ``lowest_score`` per row; requests
    where every response is invalid are dropped (the validator does not score them)."""
    t = _check_table(table).sort("scored_time", "request", "miner")
    parts = []
    for _, g in t.group_by(["request"], maintain_order=True):
        ps, p90, low = prompt_scores(g["score"].fill_null(-1.0).to_numpy())
        if ps is None:
            continue
        parts.append(g.with_columns(pl.Series("prompt_score", ps), pl.lit(p90).alias("percentile90"),
                                    pl.lit(low).alias("lowest_score")))
    if not parts:
        raise SpecError("every response of every request is invalid: nothing is scored")
    return pl.concat(parts).sort("scored_time", "request", "miner")


# ------------------------------------------------------------------------ the window


def _smoothed(scored: pl.DataFrame, at: datetime, window_days: float, weights, miners: Sequence[str]) -> dict:
    lo = at - timedelta(days=float(window_days))
    w = scored.filter((pl.col("scored_time") > lo) & (pl.col("scored_time") <= at))
    out = {m: math.inf for m in miners}
    if w.is_empty():
        return out
    first_req = w.group_by("request").agg(pl.col("scored_time").first(), pl.col("asset").first(),
                                          (pl.col("percentile90").first() - pl.col("lowest_score").first())
                                          .alias("worst")).sort("scored_time")
    t_min = first_req["scored_time"].min()
    rows = w.select("miner", "asset", "scored_time", "prompt_score")
    first_seen = rows.group_by("miner").agg(pl.col("scored_time").min().alias("first"))
    late = first_seen.filter(pl.col("first") > t_min)
    if late.height:
        fill = (late.join(first_req, how="cross").filter(pl.col("scored_time") < pl.col("first"))
                .select("miner", "asset", "scored_time", pl.col("worst").alias("prompt_score")))
        rows = pl.concat([rows, fill.cast(rows.schema)])
    coef = np.array([asset_weight(a, weights) for a in rows["asset"].to_list()])
    rows = rows.with_columns(pl.Series("c", coef)).filter(pl.col("prompt_score").is_not_nan())
    agg = rows.group_by("miner").agg(((pl.col("prompt_score") * pl.col("c")).sum() / pl.col("c").sum()).alias("s"))
    out.update(dict(zip(agg["miner"].to_list(), agg["s"].to_list())))
    return out


def reward_weights(scored: pl.DataFrame, at: datetime, competition: Any = "24h",
                   weights: Mapping[str, float] | None = None) -> pl.DataFrame:
    """miner, smoothed_score, share (the softmax: sums to 1 over the competition) and
    reward_weight (share x 0.5, the competition's half of the emissions) at time ``at``."""
    comp = competition_for(competition)
    miners = sorted(scored["miner"].unique().to_list())
    sm = _smoothed(scored, at, comp.window_days, weights, miners)
    vals = np.array([sm[m] for m in miners])
    share = softmax(vals, comp.beta)
    return pl.DataFrame({"miner": miners, "smoothed_score": vals, "share": share,
                         "reward_weight": share * comp.coefficient})


@dataclass
class RewardResult:
    """The reward simulation over a period: per-request prompt scores, shares after each
    scored request, and one summary row per miner."""

    competition: Competition
    scored: pl.DataFrame
    over_time: pl.DataFrame  # time, miner, smoothed_score, share, reward_weight
    summary: pl.DataFrame  # miner, mean_score, n_requests, n_invalid, mean_prompt_score, final_share, mean_share
    weights: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"competition": self.competition.label, "task": self.competition.task,
                "window_days": self.competition.window_days, "beta": self.competition.beta,
                "asset_weights": self.weights, "summary": _records(self.summary),
                "over_time": _records(self.over_time)}


def simulate(table: pl.DataFrame, competition: Any = "24h", weights: Mapping[str, float] | None = None,
             times: Sequence[datetime] | None = None) -> RewardResult:
    """Apply the reward rule to a request table; shares at every distinct scored time (or
    at ``times``), as the validator recomputes them after each scoring round."""
    comp = competition_for(competition)
    scored = score_requests(table)
    ts = list(times) if times is not None else scored["scored_time"].unique().sort().to_list()
    frames = []
    for t in ts:
        frames.append(reward_weights(scored, t, comp, weights).with_columns(
            pl.lit(t).cast(pl.Datetime("us", "UTC")).alias("time")))
    over = pl.concat(frames).select("time", "miner", "smoothed_score", "share", "reward_weight")
    raw = _check_table(table)
    base = (raw.group_by("miner").agg(
        pl.col("score").filter(pl.col("score").is_finite() & (pl.col("score") != -1)).mean().alias("mean_score"),
        pl.len().alias("n_requests"),
        (pl.col("score").is_null() | ~pl.col("score").is_finite() | (pl.col("score") == -1)).sum().alias("n_invalid")))
    ps = scored.group_by("miner").agg(pl.col("prompt_score").mean().alias("mean_prompt_score"))
    last = over.filter(pl.col("time") == over["time"].max()).select("miner", pl.col("share").alias("final_share"))
    mean_share = over.group_by("miner").agg(pl.col("share").mean().alias("mean_share"))
    summary = (base.join(ps, on="miner", how="left").join(last, on="miner", how="left")
               .join(mean_share, on="miner", how="left").sort("final_share", descending=True, nulls_last=True))
    used = {a: asset_weight(a, weights) for a in sorted(raw["asset"].unique().to_list())}
    return RewardResult(comp, scored, over, summary, used)


# ------------------------------------------------------------------------ tables


def from_per_origin(per_origin: pl.DataFrame, asset: str | None = None, time_length: int | None = None,
                    time_col: str = "t0") -> pl.DataFrame:
    """A request table from backtest per-origin scores (origin, t0, model, total, valid[, asset]):
    one request per (asset, origin); scored time = ``time_col`` + ``time_length`` seconds."""
    po = per_origin
    need = {"origin", "model", "total"} - set(po.columns)
    if need:
        raise SpecError(f"per-origin scores lack column(s) {sorted(need)}")
    if "asset" not in po.columns:
        if asset is None:
            raise SpecError("say which asset the per-origin scores are of")
        po = po.with_columns(pl.lit(str(asset)).alias("asset"))
    tcol = time_col if time_col in po.columns else "origin"
    score = pl.col("total").cast(pl.Float64)
    if "valid" in po.columns:
        score = pl.when(pl.col("valid").fill_null(False)).then(score).otherwise(None)
    return po.select(
        pl.concat_str([pl.col("asset"), pl.lit("@"), pl.col("origin").cast(pl.Utf8)]).alias("request"),
        pl.col("asset").cast(pl.Utf8),
        (pl.col(tcol).cast(pl.Datetime("us", "UTC")) + pl.duration(seconds=int(time_length or 0))).alias("scored_time"),
        pl.col("model").cast(pl.Utf8).alias("miner"),
        score.alias("score"),
    )


def read_population_csv(data: str | bytes | Any) -> pl.DataFrame:
    """Other miners' scores per request from CSV (a path, bytes or a file object) with columns
    ``asset``, ``scored_time``, ``miner``, ``score`` and optionally ``request`` (default: asset
    and scored time). Invalid responses: an empty score or -1."""
    try:
        if isinstance(data, (bytes, bytearray)):
            df = pl.read_csv(io.BytesIO(data), infer_schema_length=10000)
        else:
            df = pl.read_csv(data, infer_schema_length=10000)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise SpecError(f"cannot read the population CSV: {' '.join(str(exc).split())[:200]}") from None
    missing = {"asset", "scored_time", "miner", "score"} - set(df.columns)
    if missing:
        raise SpecError(f"the population CSV lacks column(s) {sorted(missing)}; need asset, scored_time, miner, score")
    if "request" not in df.columns:
        df = df.with_columns(pl.concat_str([pl.col("asset"), pl.lit("@"), pl.col("scored_time").cast(pl.Utf8)])
                             .alias("request"))
    try:
        df = df.with_columns(pl.col("score").cast(pl.Float64, strict=True))
    except pl.exceptions.PolarsError:
        raise SpecError("the population CSV's score column holds non-numbers") from None
    return _check_table(df)


def insert_models(population: pl.DataFrame, ours: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Put the user's models (a request table) into another population: requests are matched
    on (asset, scored time); only the matched requests are kept. Returns (table, n matched)."""
    pop = _check_table(population)
    mine = _check_table(ours)
    clash = set(pop["miner"].unique().to_list()) & set(mine["miner"].unique().to_list())
    if clash:
        raise SpecError(f"miner name(s) {sorted(clash)[:3]} are in both the population and the compared models")
    keys = pop.select("asset", "scored_time", "request").unique(subset=["asset", "scored_time"], keep="first")
    matched = mine.drop("request").join(keys, on=["asset", "scored_time"], how="inner")
    n = matched.select("request").n_unique() if matched.height else 0
    if n == 0:
        raise SpecError("no request of the population matches the compared models' requests (same asset and "
                        "scored time); run the backtest over the population's period with validator timing")
    pop = pop.filter(pl.col("request").is_in(matched["request"].unique().implode()))
    return pl.concat([pop, matched.select(list(TABLE_SCHEMA))]), int(n)

"""What a miner would earn: the Synth validator's reward rule, by validator version, applied to
per-request scores (../shared/DESIGN.md §5; the rules are data in :mod:`synthwb.scoring.versions`).

Written from the validators' ``reward.py`` (``compute_prompt_scores``, ``compute_softmax``),
``moving_average.py`` and ``prompt_config.py`` / ``competition_config.py``:

1. **Per request** (one asset, one start time; every miner's score of it), a transform of the
   *valid* scores (score != -1; a refused or missing forecast is -1), by version:

   - ``p90-cap`` (2026-05): the 90th percentile of the valid scores (``np.percentile``, linear)
     caps every score; a miss gets that cap; the request's lowest is subtracted.
   - ``median10-p95`` (2026-09): valid scores above 10x their median (when the median is
     positive) are clipped to it; a miss gets the 95th percentile of the valid scores that were
     not clipped; the lowest is subtracted. No p90 cap.

   A request where every response is invalid is not scored.
2. **Rolling window** at time ``T``, per competition: the prompt scores of the competition's
   assets whose scored time (start time + time length) lies in ``(T - window, T]``. Each miner's
   smoothed score is ``sum(c * s) / sum(c)`` over its own rows with the version's asset
   coefficients (unknown assets 1.0). A miner whose first score in the window comes after the
   window's first one is back-filled with the worst prompt score (fill - lowest: p90 or p95)
   for every earlier request (2026-05) or every earlier scored time (2026-09, that time's first
   request), so joining late is no advantage. A miner with no score in the window gets inf.
3. **Softmax** of ``beta * smoothed`` per competition. 2026-05: two prompts, 24h ("low", 10
   days, beta -0.1) and 1h ("high", 3 days, -0.2), 0.5 each, and the owner's entry took half of
   the validator's weight. 2026-09: Crypto 1h (5 days, -0.3), Crypto 24h (10 days, -0.15) and
   Commodities/Equities 24h (10 days, -0.15), 1/3 each of miner emissions, no owner burn; the
   off-subnet VHFT competition, when blended in, makes each a 1/4 share.

The input is a *request table*: ``request`` (any key), ``asset``, ``scored_time`` (UTC),
``miner`` and ``score`` (null, NaN or -1 for an invalid response). :func:`from_per_origin`
builds one from backtest per-origin scores, :func:`read_population_csv` from other miners'
scores, :func:`insert_models` puts a user's models into such a population. :func:`simulate`
runs one competition; :func:`simulate_competitions` runs every competition of a version that
the data has assets for and adds the **expected share of miner emissions** per miner.
"""
from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import numpy as np
import polars as pl

from synthwb.core.errors import SpecError
from synthwb.core.io import check_regular_file
from synthwb.evaluate.backtest import _records
from synthwb.scoring.versions import CompetitionRule, ValidatorRules, get_validator

__all__ = [
    "ASSET_WEIGHTS",
    "SUMMARY_COLUMNS",
    "Competition",
    "CombinedReward",
    "RewardResult",
    "asset_weight",
    "competition_for",
    "competition_shares",
    "emission_rule",
    "fraction_text",
    "from_per_origin",
    "insert_models",
    "prompt_scores",
    "read_population_csv",
    "reward_weights",
    "score_requests",
    "simulate",
    "simulate_competitions",
    "softmax",
    "transform_rule",
]

Competition = CompetitionRule  # the former name of a competition's parameters

# the newest version's asset coefficients (each version's own: get_validator(v).asset_weights)
ASSET_WEIGHTS: dict[str, float] = dict(get_validator().asset_weights)

SUMMARY_COLUMNS = ["miner", "mean_score", "n_requests", "n_invalid", "mean_prompt_score", "final_share", "mean_share"]

TABLE_SCHEMA = {"request": pl.Utf8, "asset": pl.Utf8, "scored_time": pl.Datetime("us", "UTC"),
                "miner": pl.Utf8, "score": pl.Float64}


def _rules(validator: Any) -> ValidatorRules:
    return get_validator(validator)


def competition_for(task_or_key: Any, validator: Any = None, assets: Sequence[str] | None = None) -> CompetitionRule:
    """A competition of a validator version (default: the newest) by key (``"crypto-24h"``), label
    or task name (``"24h"``, ``"1h"``), or a :class:`CompetitionRule` as is. A task with several
    competitions (24h under 2026-09) is resolved by ``assets`` (the one that counts most of
    them), else refused."""
    if isinstance(task_or_key, CompetitionRule):
        return task_or_key
    rules = _rules(validator)
    name = str(getattr(task_or_key, "name", task_or_key))
    if name in rules.competitions:
        return rules.competitions[name]
    for c in rules.competitions.values():
        if c.label == name:
            return c
    if rules.vhft is not None and name in (rules.vhft.key, rules.vhft.label):
        raise SpecError(f"{rules.vhft.label} is scored off-subnet; it is only an optional share here (vhft=True)")
    cands = rules.competitions_for(name)
    if not cands:
        raise SpecError(f"the Synth reward exists for the 24h and 1h prompts only, not {name!r} (validator "
                        f"{rules.name}: {', '.join(rules.competitions)})")
    if len(cands) == 1:
        return cands[0]
    if assets:
        counts = [sum(1 for a in assets if a in c.assets) for c in cands]
        if max(counts) > 0:
            return cands[counts.index(max(counts))]
    raise SpecError(f"under validator {rules.name} the {name} task has competitions "
                    f"{', '.join(c.key for c in cands)}: name one")


def asset_weight(asset: str, weights: Mapping[str, float] | None = None, validator: Any = None) -> float:
    """The asset's coefficient under a validator version (``weights`` override it; unknown assets 1.0)."""
    table = {**_rules(validator).asset_weights, **(weights or {})}
    w = table.get(str(asset), 1.0)
    return 1.0 if w is None or not math.isfinite(float(w)) else float(w)


MAX_ASSET_WEIGHT = 1000.0  # weights are relative: the validators' own run from 0.43 to 3.44


def check_asset_weights(weights: Mapping[str, float] | None, assets: Sequence[str] | None = None,
                        validator: Any = None) -> dict[str, float]:
    """Asset weight overrides the reward can use: each finite, in [0, MAX_ASSET_WEIGHT] (a
    weight of 1e308 overflows the weighted mean into NaN shares), naming only ``assets`` (the
    compared ones, when given: a weight for another asset would be silently unused), and not
    every compared asset's weight 0 (no weighted mean exists then)."""
    out: dict[str, float] = {}
    for a, w in (weights or {}).items():
        try:
            v = float(w)
        except (TypeError, ValueError):
            v = math.nan
        if not (0 <= v <= MAX_ASSET_WEIGHT):
            raise SpecError(f"asset weight {a}={w!r}: give a finite weight from 0 to {MAX_ASSET_WEIGHT:g} (weights are "
                            "relative; the validator's run from 0.43 to 3.44)")
        out[str(a)] = v
    if assets is not None:
        assets = [str(a) for a in assets]
        stray = [a for a in out if a not in assets]
        if stray:
            raise SpecError(f"asset weight for {', '.join(stray)}: not a compared asset (the reward scores "
                            f"{', '.join(assets)}); drop it, or add the asset to the comparison (--assets)")
        if assets and all(asset_weight(a, out, validator) == 0 for a in assets):
            raise SpecError(f"every compared asset's weight is 0 ({', '.join(f'{a}=0' for a in assets)}): the "
                            "reward's weighted mean is undefined; give at least one asset a weight > 0")
    return out


def fraction_text(x: float) -> str:
    """1/3, 1/4, 1/2 ... (a share as the validator states it)."""
    f = Fraction(float(x)).limit_denominator(24)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def transform_rule(validator: Any = None) -> str:
    """The version's per-request transform and back-fill, in words."""
    rules = _rules(validator)
    if rules.transform == "p90-cap":
        return ("per request, valid scores are capped at their 90th percentile, a miss gets the cap and the "
                "lowest is subtracted; a late miner is back-filled with p90 - lowest for each earlier request")
    return ("per request, valid scores above 10x their median are clipped to it, a miss gets the 95th percentile "
            "of the unclipped valid scores and the lowest is subtracted (no p90 cap); a late miner is back-filled "
            "with p95 - lowest for each earlier scored time")


def competition_shares(validator: Any = None, vhft: bool = False) -> dict[str, float]:
    """Each competition's share of the *miners'* emissions (key -> share; with ``vhft`` the
    off-subnet VHFT competition's share too). They add up to 1."""
    rules = _rules(validator)
    out = {k: float(c.share) for k, c in rules.competitions.items()}
    if vhft:
        if rules.vhft is None:
            raise SpecError(f"validator {rules.name} has no VHFT competition to blend in")
        v = float(rules.vhft.share)
        out = {k: s * (1.0 - v) for k, s in out.items()} | {rules.vhft.key: v}
    return out


def emission_rule(validator: Any = None, vhft: bool = False) -> str:
    """What each competition pays, and the version's burn/owner rule, in words."""
    rules = _rules(validator)
    shares = competition_shares(rules, vhft)
    parts = [f"{rules.competition(k).label} ({rules.competition(k).task}) {fraction_text(s)}" for k, s in shares.items()
             if k in rules.competitions]
    text = f"{rules.label()}: " + ", ".join(parts) + " of miner emissions"
    if vhft and rules.vhft is not None:
        text += (f"; {rules.vhft.label} (off-subnet 10-second BTC, blended in) {fraction_text(shares[rules.vhft.key])}, "
                 "which the compared models have no scores for and earn none of")
    text += f". {rules.emission_note[0].upper()}{rules.emission_note[1:]}"
    if rules.owner_share:
        text += (f"; of the validator's whole weight miners got {1 - rules.owner_share:g}, so a share of miner "
                 f"emissions is x{1 - rules.owner_share:g} of it")
    return text + "."


# ------------------------------------------------------------------------ one request


def _transform(scores, rules: ValidatorRules):
    """(prompt scores, fill, lowest, capped mask) of one request's scores, or None when every
    response is invalid. ``fill`` is what a miss gets (p90 or p95)."""
    s = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isfinite(s), s, -1.0)
    valid = s != -1
    if not valid.any():
        return None
    v = s[valid]
    if rules.transform == "p90-cap":
        fill = float(np.percentile(v, 90))
        capped = valid & (s > fill)
        filled = np.where(valid, np.minimum(s, fill), fill)
    elif rules.transform == "median10-p95":
        med = float(np.median(v))
        capped = np.zeros_like(valid)
        clipped = s
        if med > 0:
            cap = 10.0 * med
            capped = valid & (s > cap)
            clipped = np.where(capped, cap, s)
        keep = valid & ~capped
        fill = float(np.percentile(s[keep] if keep.any() else clipped[valid], 95))
        filled = np.where(valid, clipped, fill)
    else:
        raise SpecError(f"unknown per-request transform {rules.transform!r}")
    lowest = float(np.min(filled))
    return filled - lowest, fill, lowest, capped


def prompt_scores(scores, validator: Any = None) -> tuple[np.ndarray | None, float, float]:
    """``compute_prompt_scores`` of a version: (prompt scores, fill, lowest) of one request's
    scores, -1 (or NaN) meaning invalid; ``fill`` is what a miss gets (the p90 cap under 2026-05,
    the p95 of the unclipped valid scores under 2026-09); (None, 0, 0) when every response is
    invalid."""
    out = _transform(scores, _rules(validator))
    if out is None:
        return None, 0.0, 0.0
    return out[0], out[1], out[2]


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


def score_requests(table: pl.DataFrame, validator: Any = None) -> pl.DataFrame:
    """The table with ``prompt_score``, ``fill_score`` (what a miss gets: p90 or p95),
    ``lowest_score`` and ``capped`` (the score was capped or clipped) per row, under a validator
    version; requests where every response is invalid are dropped (the validator does not score
    them)."""
    rules = _rules(validator)
    t = _check_table(table).sort("scored_time", "request", "miner")
    parts = []
    for _, g in t.group_by(["request"], maintain_order=True):
        out = _transform(g["score"].fill_null(-1.0).to_numpy(), rules)
        if out is None:
            continue
        ps, fill, low, capped = out
        parts.append(g.with_columns(pl.Series("prompt_score", ps), pl.lit(fill).alias("fill_score"),
                                    pl.lit(low).alias("lowest_score"), pl.Series("capped", capped, dtype=pl.Boolean)))
    if not parts:
        raise SpecError("every response of every request is invalid: nothing is scored")
    return pl.concat(parts).sort("scored_time", "request", "miner")


# ------------------------------------------------------------------------ the window


def _smoothed(scored: pl.DataFrame, at: datetime, window_days: float, weights, miners: Sequence[str],
              rules: ValidatorRules) -> dict:
    lo = at - timedelta(days=float(window_days))
    w = scored.filter((pl.col("scored_time") > lo) & (pl.col("scored_time") <= at))
    out = {m: math.inf for m in miners}
    if w.is_empty():
        return out
    worst = (pl.col("fill_score").first() - pl.col("lowest_score").first()).alias("worst")
    if rules.transform == "p90-cap":  # 2026-05: one back-fill row per earlier request
        first_req = w.group_by("request").agg(pl.col("scored_time").first(), pl.col("asset").first(), worst)
    else:  # 2026-09: one per earlier scored time, from that time's first request
        first_req = (w.sort("scored_time", "request", "miner").group_by("scored_time", maintain_order=True)
                     .agg(pl.col("asset").first(), worst))
    first_req = first_req.sort("scored_time")
    t_min = first_req["scored_time"].min()
    rows = w.select("miner", "asset", "scored_time", "prompt_score")
    first_seen = rows.group_by("miner").agg(pl.col("scored_time").min().alias("first"))
    late = first_seen.filter(pl.col("first") > t_min)
    if late.height:
        fill = (late.join(first_req, how="cross").filter(pl.col("scored_time") < pl.col("first"))
                .select("miner", "asset", "scored_time", pl.col("worst").alias("prompt_score")))
        rows = pl.concat([rows, fill.cast(rows.schema)])
    coef = np.array([asset_weight(a, weights, rules) for a in rows["asset"].to_list()])
    rows = rows.with_columns(pl.Series("c", coef)).filter(pl.col("prompt_score").is_not_nan())
    agg = rows.group_by("miner").agg(((pl.col("prompt_score") * pl.col("c")).sum() / pl.col("c").sum()).alias("s"))
    out.update(dict(zip(agg["miner"].to_list(), agg["s"].to_list())))
    return out


def reward_weights(scored: pl.DataFrame, at: datetime, competition: Any = "24h",
                   weights: Mapping[str, float] | None = None, validator: Any = None) -> pl.DataFrame:
    """miner, smoothed_score, share (the softmax: sums to 1 over the competition), reward_weight
    (share x the competition's coefficient) and emission_share (share x the competition's share
    of miner emissions) at time ``at``, over the competition's assets only."""
    rules = _rules(validator)
    comp = competition_for(competition, rules, assets=scored["asset"].to_list())
    scored = scored.filter(pl.col("asset").is_in(list(comp.assets)))
    miners = sorted(scored["miner"].unique().to_list())
    sm = _smoothed(scored, at, comp.window_days, weights, miners, rules)
    vals = np.array([sm[m] for m in miners], dtype=np.float64)
    share = softmax(vals, comp.beta)
    return pl.DataFrame({"miner": miners, "smoothed_score": vals, "share": share,
                         "reward_weight": share * comp.coefficient, "emission_share": share * comp.share},
                        schema={"miner": pl.Utf8, "smoothed_score": pl.Float64, "share": pl.Float64,
                                "reward_weight": pl.Float64, "emission_share": pl.Float64})


@dataclass
class RewardResult:
    """One competition's reward simulation over a period: per-request prompt scores, shares after
    each scored request, and one summary row per miner."""

    competition: CompetitionRule
    scored: pl.DataFrame
    over_time: pl.DataFrame  # time, miner, smoothed_score, share, reward_weight
    summary: pl.DataFrame  # miner, mean_score, n_requests, n_invalid, mean_prompt_score, final_share, mean_share
    weights: dict = field(default_factory=dict)
    validator: ValidatorRules | None = None
    ignored_assets: list[str] = field(default_factory=list)  # assets of the data this competition does not count

    @property
    def rules(self) -> ValidatorRules:
        return self.validator or get_validator()

    def to_dict(self) -> dict:
        c, r = self.competition, self.rules
        return {"competition": c.label, "key": c.key, "task": c.task, "assets": list(c.assets),
                "window_days": c.window_days, "beta": c.beta, "coefficient": c.coefficient, "share": c.share,
                "validator": r.name, "repository": r.repository, "commit": r.commit, "transform": r.transform,
                "rule": transform_rule(r), "ignored_assets": list(self.ignored_assets),
                "asset_weights": self.weights, "summary": _records(self.summary),
                "over_time": _records(self.over_time)}


def simulate(table: pl.DataFrame, competition: Any = "24h", weights: Mapping[str, float] | None = None,
             times: Sequence[datetime] | None = None, validator: Any = None) -> RewardResult:
    """Apply a version's reward rule (default: the newest) to a request table for one competition
    (key, label, task name or :class:`CompetitionRule`), over the competition's assets only;
    shares at every distinct scored time (or at ``times``), as the validator recomputes them after
    each scoring round."""
    rules = _rules(validator)
    raw_all = _check_table(table)
    present = sorted(raw_all["asset"].unique().to_list())
    comp = competition_for(competition, rules, assets=raw_all["asset"].to_list())
    if not comp.scored:
        raise SpecError(f"{comp.label} is scored off-subnet; synthwb has no scores for it")
    raw = raw_all.filter(pl.col("asset").is_in(list(comp.assets)))
    if raw.is_empty():
        raise SpecError(f"no asset of the data ({', '.join(present)}) counts for {comp.label} under validator "
                        f"{rules.name}; it counts {' '.join(comp.assets)}")
    scored = score_requests(raw, rules)
    ts = list(times) if times is not None else scored["scored_time"].unique().sort().to_list()
    frames = []
    for t in ts:
        frames.append(reward_weights(scored, t, comp, weights, rules).with_columns(
            pl.lit(t).cast(pl.Datetime("us", "UTC")).alias("time")))
    over = pl.concat(frames).select("time", "miner", "smoothed_score", "share", "reward_weight")
    base = (raw.group_by("miner").agg(
        pl.col("score").filter(pl.col("score").is_finite() & (pl.col("score") != -1)).mean().alias("mean_score"),
        pl.len().alias("n_requests"),
        (pl.col("score").is_null() | ~pl.col("score").is_finite() | (pl.col("score") == -1)).sum().alias("n_invalid")))
    ps = scored.group_by("miner").agg(pl.col("prompt_score").mean().alias("mean_prompt_score"))
    last = over.filter(pl.col("time") == over["time"].max()).select("miner", pl.col("share").alias("final_share"))
    mean_share = over.group_by("miner").agg(pl.col("share").mean().alias("mean_share"))
    summary = (base.join(ps, on="miner", how="left").join(last, on="miner", how="left")
               .join(mean_share, on="miner", how="left").sort("final_share", "miner", descending=[True, False],
                                                              nulls_last=True))
    used = {a: asset_weight(a, weights, rules) for a in sorted(raw["asset"].unique().to_list())}
    return RewardResult(comp, scored, over, summary, used, rules, [a for a in present if a not in comp.assets])


# ------------------------------------------------------------------------ every competition


@dataclass
class CombinedReward:
    """Every competition of a version that the data has assets for, and each miner's expected share
    of miner emissions: the sum over competitions of its final share there x the competition's
    share (a miner absent from a competition earns nothing there)."""

    validator: ValidatorRules
    results: dict[str, RewardResult]  # competition key -> its simulation (only competitions with data)
    expected: pl.DataFrame  # miner, one share column per competition, expected_share, ...
    shares: dict[str, float]  # competition key -> share of miner emissions (the VHFT key too when blended)
    vhft: bool = False
    ignored_assets: dict[str, list[str]] = field(default_factory=dict)  # task -> assets no competition counts

    @property
    def transform_rule(self) -> str:
        return transform_rule(self.validator)

    @property
    def emission_rule(self) -> str:
        return emission_rule(self.validator, self.vhft)

    def to_dict(self) -> dict:
        r = self.validator
        return {"validator": r.name, "repository": r.repository, "commit": r.commit, "date": r.date,
                "transform": r.transform, "transform_rule": self.transform_rule,
                "emission_rule": self.emission_rule, "owner_share": r.owner_share, "vhft": self.vhft,
                "shares": dict(self.shares), "ignored_assets": {k: list(v) for k, v in self.ignored_assets.items()},
                "competitions": {k: res.to_dict() for k, res in self.results.items()},
                "expected": _records(self.expected)}


def _by_task(table: Any, task: Any) -> dict[str, pl.DataFrame]:
    if isinstance(table, Mapping):
        return {str(getattr(k, "name", k)): v for k, v in table.items()}
    if isinstance(table, pl.DataFrame) and "task" in table.columns:
        return {str(k[0]): g.drop("task") for k, g in table.group_by(["task"], maintain_order=True)}
    if task is None:
        raise SpecError("say which task (24h, 1h) the request scores are of")
    return {str(getattr(task, "name", task)): table}


def simulate_competitions(table: Any, task: Any = None, validator: Any = None,
                          weights: Mapping[str, float] | None = None, vhft: bool = False) -> CombinedReward:
    """Run every competition of a version (default: the newest) that the data has assets for.

    ``table``: a request table of one ``task`` ("24h", "1h"), a table with a ``task`` column, or
    a mapping task -> table (a model backtested on both tasks is a miner of the 1h and the 24h
    competitions at once). ``vhft``: blend in the off-subnet VHFT competition as one more equal
    share, which the compared models do not earn."""
    rules = _rules(validator)
    tables = {k: _check_table(v) for k, v in _by_task(table, task).items()}
    scored = sorted({a for t in tables.values() for a in t["asset"].unique().to_list()})
    weights = check_asset_weights(weights, scored, rules)
    shares = competition_shares(rules, vhft)
    results: dict[str, RewardResult] = {}
    for key, comp in rules.competitions.items():
        t = tables.get(comp.task)
        if t is None or not t.filter(pl.col("asset").is_in(list(comp.assets))).height:
            continue
        results[key] = simulate(t, comp, weights, validator=rules)
    ignored = {}
    for tk, t in tables.items():
        counted = {a for c in rules.competitions_for(tk) for a in c.assets}
        left = sorted(set(t["asset"].unique().to_list()) - counted)
        if left:
            ignored[tk] = left
    if not results:
        have = ", ".join(f"{tk}: {' '.join(sorted(t['asset'].unique().to_list()))}" for tk, t in tables.items())
        comps = "; ".join(f"{c.label} ({c.task}): {' '.join(c.assets)}" for c in rules.competitions.values())
        raise SpecError(f"no competition of validator {rules.name} counts the data's assets ({have}); its "
                        f"competitions: {comps}")
    miners = sorted({m for res in results.values() for m in res.summary["miner"].to_list()})
    cols: dict[str, Any] = {"miner": miners}
    exp = np.zeros(len(miners))
    exp_mean = np.zeros(len(miners))
    for key, res in results.items():
        fin = dict(zip(res.summary["miner"].to_list(), res.summary["final_share"].to_list()))
        mean = dict(zip(res.summary["miner"].to_list(), res.summary["mean_share"].to_list()))
        cols[key] = [fin.get(m) for m in miners]
        exp += np.array([fin.get(m) or 0.0 for m in miners]) * shares[key]
        exp_mean += np.array([mean.get(m) or 0.0 for m in miners]) * shares[key]
    if vhft and rules.vhft is not None:
        cols[rules.vhft.key] = [0.0] * len(miners)
    cols["expected_share"] = exp
    cols["expected_mean_share"] = exp_mean
    cols["of_validator_weight"] = exp * (1.0 - rules.owner_share)
    schema = {k: (pl.Utf8 if k == "miner" else pl.Float64) for k in cols}
    expected = pl.DataFrame(cols, schema=schema).sort("expected_share", "miner", descending=[True, False])
    return CombinedReward(rules, results, expected, shares, bool(vhft), ignored)


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
    and scored time). Invalid responses: an empty score or -1. A path must be a regular file
    (a FIFO or device is refused, never read: it would block) of at most 512 MB."""
    if isinstance(data, (str, os.PathLike)):
        data = str(check_regular_file(data, "the population CSV", 512 << 20, hint="give a CSV file"))
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

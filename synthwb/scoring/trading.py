"""Trading view of path forecasts: directional accuracy and a long/short/flat strategy.

For each origin the strategy looks at the forecast distribution of the return from t0 to the
holding step ``h``: the median simulated return ``m`` and the probability of a rise ``p_up``.
It goes long when ``m > threshold`` and ``p_up > 0.5``, short when ``m < -threshold`` and
``p_up < 0.5``, else stays flat; it holds for ``h`` steps and pays ``cost_bps`` on entry and
on exit (a round trip costs ``2 * cost_bps``). Buy-and-hold is always long over the same
periods and pays the round trip once over the whole span.

Trades are compounded in origin order into an equity curve (use origins spaced at least
``h`` steps apart so trades do not overlap; the backtest chooses ``h`` that way by default).
Sharpe is annualised with ``periods_per_year = year / (h * step_seconds)``.
Directional accuracy compares the sign of the median path's move from t0 with the realised
move, at every step and origin where the realised price is known and moved.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthwb.core.errors import SpecError

__all__ = ["TradingConfig", "directional_accuracy", "strategy_returns", "trading_metrics", "perf_stats"]

YEAR_SECONDS = 365 * 86400


@dataclass(frozen=True)
class TradingConfig:
    threshold_bps: float = 0.0
    cost_bps: float = 1.0
    holding_steps: int | None = None  # None: the whole horizon

    def __post_init__(self) -> None:
        if self.threshold_bps < 0 or self.cost_bps < 0:
            raise SpecError("threshold_bps and cost_bps must be non-negative")
        if self.holding_steps is not None and self.holding_steps < 1:
            raise SpecError("holding_steps must be at least 1")


def directional_accuracy(median_path: np.ndarray, realised: np.ndarray) -> float:
    """Share of (origin, step) where sign(median - t0) == sign(realised - t0); (B, T) inputs."""
    med = np.asarray(median_path, dtype=np.float64)
    real = np.asarray(realised, dtype=np.float64)
    p0 = real[:, :1]
    dm = np.sign(med[:, 1:] - med[:, :1])
    dr = np.sign(real[:, 1:] - p0)
    ok = np.isfinite(dr) & (dr != 0) & np.isfinite(dm)
    if not ok.any():
        return float("nan")
    return float(np.mean(dm[ok] == dr[ok]))


def strategy_returns(median_ret: np.ndarray, prob_up: np.ndarray, realised_ret: np.ndarray,
                     cfg: TradingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-trade positions (-1, 0, 1) and net returns (simple, after costs)."""
    m = np.asarray(median_ret, dtype=np.float64)
    p = np.asarray(prob_up, dtype=np.float64)
    r = np.asarray(realised_ret, dtype=np.float64)
    th = cfg.threshold_bps / 1e4
    pos = np.where((m > th) & (p > 0.5), 1.0, np.where((m < -th) & (p < 0.5), -1.0, 0.0))
    net = pos * r - np.abs(pos) * 2 * cfg.cost_bps / 1e4
    return pos, net


def perf_stats(rets: np.ndarray, periods_per_year: float) -> dict:
    """Total compounded return, annualised Sharpe, max drawdown of the equity curve."""
    r = np.asarray(rets, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return {"total_return": float("nan"), "sharpe": float("nan"), "max_drawdown": float("nan"), "n": 0}
    eq = np.cumprod(1 + r)
    peak = np.maximum.accumulate(np.concatenate([[1.0], eq]))[1:]
    dd = float(np.max(1 - eq / peak)) if eq.size else 0.0
    sd = float(np.std(r, ddof=1)) if r.size > 1 else float("nan")
    sharpe = float(np.mean(r) / sd * np.sqrt(periods_per_year)) if sd and np.isfinite(sd) and sd > 0 else float("nan")
    return {"total_return": float(eq[-1] - 1), "sharpe": sharpe, "max_drawdown": dd, "n": int(r.size)}


def trading_metrics(paths_stats: dict, realised: np.ndarray, step_seconds: int, cfg: TradingConfig) -> dict:
    """Trading metrics for one model.

    ``paths_stats``: ``median_path`` (B, T), ``median_ret`` (B,), ``prob_up`` (B,) at the
    holding step (see :func:`path_stats`); ``realised`` (B, T) prices.
    """
    real = np.asarray(realised, dtype=np.float64)
    h = cfg.holding_steps or (real.shape[1] - 1)
    h = min(h, real.shape[1] - 1)
    rr = real[:, h] / real[:, 0] - 1
    ok = np.isfinite(rr)
    pos, net = strategy_returns(paths_stats["median_ret"][ok], paths_stats["prob_up"][ok], rr[ok], cfg)
    ppy = YEAR_SECONDS / (h * step_seconds)
    strat = perf_stats(net, ppy)
    traded = pos != 0
    hit = float(np.mean(net[traded] > 0)) if traded.any() else float("nan")
    bh = perf_stats(rr[ok], ppy)
    if bh["n"]:
        bh["total_return"] = (1 + bh["total_return"]) * (1 - 2 * cfg.cost_bps / 1e4) - 1
    bh_hit = float(np.mean(rr[ok] > 0)) if ok.any() else float("nan")
    return {
        "directional_accuracy": directional_accuracy(paths_stats["median_path"], real),
        "strategy_return": strat["total_return"],
        "strategy_sharpe": strat["sharpe"],
        "strategy_max_drawdown": strat["max_drawdown"],
        "hit_rate": hit,
        "n_trades": int(traded.sum()),
        "exposure": float(np.mean(traded)) if traded.size else float("nan"),
        "buyhold_return": bh["total_return"],
        "buyhold_sharpe": bh["sharpe"],
        "buyhold_max_drawdown": bh["max_drawdown"],
        "buyhold_hit_rate": bh_hit,
        "holding_steps": int(h),
        "threshold_bps": cfg.threshold_bps,
        "cost_bps": cfg.cost_bps,
    }


def path_stats(paths: np.ndarray, holding_steps: int | None = None, median_path: np.ndarray | None = None) -> dict:
    """Per-origin statistics the strategy needs from paths (B, P, T) (``median_path`` may be
    passed when already computed)."""
    paths = np.asarray(paths, dtype=np.float64)
    h = min(holding_steps or paths.shape[2] - 1, paths.shape[2] - 1)
    ret = paths[:, :, h] / paths[:, :, 0] - 1
    med = np.median(paths, axis=1) if median_path is None else np.asarray(median_path, dtype=np.float64)
    return {"median_path": med, "median_ret": np.median(ret, axis=1), "prob_up": np.mean(ret > 0, axis=1)}

"""Validator timing on hand-built candles: which close realises grid time t, the lead from the
last known close, the start time, and the dropped request (synthwb.evaluate.timing)."""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from synthwb.core.errors import SpecError
from synthwb.evaluate.timing import (
    NS,
    forecast_across_lead,
    forecast_grid,
    lead_seconds,
    plan_requests,
    realised_on_labels,
    scored_mask,
    validator_start_time,
)
from synthwb.scoring.synth import SynthTask

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * NS
# a small task: 5 points 2 minutes apart (horizon 8 minutes)
TASK = SynthTask.custom("tiny", 120, 5, {"2min": 120, "8min_abs": 480})


def minute_candles(first_open_min: int, last_open_min: int, missing=()):
    """1-minute candles opening at T0 + m minutes; the close of candle m is 1000 + m, stamped
    with its close time (open + 60 s) as the engine stamps realised prices."""
    opens = [m for m in range(first_open_min, last_open_min + 1) if m not in missing]
    close_ts = np.array([T0_NS + (m + 1) * 60 * NS for m in opens], dtype=np.int64)
    close_px = np.array([1000.0 + m for m in opens])
    return close_ts, close_px


def test_start_time_is_the_next_minute_plus_sixty_seconds():
    # validator: (request + 1 min).replace(second=0, microsecond=0) + 60 s
    assert validator_start_time("2024-03-01T12:00:00") == datetime(2024, 3, 1, 12, 2, tzinfo=UTC)
    assert validator_start_time("2024-03-01T12:00:59.900") == datetime(2024, 3, 1, 12, 2, tzinfo=UTC)
    assert validator_start_time("2024-03-01T12:01:00") == datetime(2024, 3, 1, 12, 3, tzinfo=UTC)
    assert validator_start_time("2024-03-01T23:59:30") == datetime(2024, 3, 2, 0, 1, tzinfo=UTC)


def test_label_t_is_the_close_of_the_candle_that_opens_at_t():
    ts, px = minute_candles(0, 30)
    start = T0_NS + 2 * 60 * NS  # 12:02
    real = realised_on_labels(ts, px, [start], TASK)[0]
    # labels 12:02, 12:04, ..., 12:10 -> closes of the candles opening then: 1002, 1004, ..., 1010
    np.testing.assert_array_equal(real, [1002.0, 1004.0, 1006.0, 1008.0, 1010.0])


def test_lead_request_and_start_on_one_minute_bars():
    ts, px = minute_candles(-10, 30)
    last_close = T0_NS  # the candle 11:59-12:00 closed: its close 999 is the last known price
    plan = plan_requests([last_close], ts, px, TASK, bar_seconds=60)
    assert plan.lead_s == 180
    assert plan.request_ns[0] == T0_NS  # the request arrives at the close, on the minute
    assert plan.start_ns[0] == T0_NS + 120 * NS  # start 12:02
    # first realised price: close of the 12:02 candle = price at 12:03, three minutes after 12:00
    assert plan.first_price_ns[0] == T0_NS + 180 * NS
    assert plan.realised[0, 0] == 1002.0
    assert plan.scored.all() and plan.n_dropped == 0


def test_lead_on_five_minute_bars_and_with_native_steps():
    assert lead_seconds(60) == 180
    assert lead_seconds(300) == 300  # request 2 minutes into the next 5-minute bar
    assert lead_seconds(60, [300]) == 300
    assert lead_seconds(900) == 900
    assert lead_seconds(3600) == 3600
    assert lead_seconds(120) == 240  # lcm(60, 120) = 120 -> smallest multiple >= 180
    ts, px = minute_candles(-10, 40)
    plan = plan_requests([T0_NS], ts, px, TASK, bar_seconds=300)
    assert plan.request_ns[0] == T0_NS + 120 * NS
    assert plan.start_ns[0] == T0_NS + 240 * NS  # 12:04 -> realised by the 12:04 candle's close
    assert plan.realised[0, 0] == 1004.0


def test_a_request_without_its_final_price_is_dropped_and_a_missing_middle_is_not():
    # request A: start 12:02, last label 12:10 (candle 10); request B: start 12:12, last label 12:20
    ts, px = minute_candles(-10, 40, missing=(6, 20))
    plan = plan_requests([T0_NS, T0_NS + 600 * NS], ts, px, TASK, bar_seconds=60)
    assert np.isnan(plan.realised[0, 2]) and plan.realised[0, -1] == 1010.0  # a gap inside A
    assert np.isnan(plan.realised[1, -1])  # B's final candle (opening 12:20) is missing
    np.testing.assert_array_equal(plan.scored, [True, False])
    assert plan.n_dropped == 1
    assert plan.to_dict()["n_dropped"] == 1
    np.testing.assert_array_equal(scored_mask(np.array([[1.0, 2.0], [1.0, 0.0], [1.0, np.nan]])), [True, False, False])


class Ramp:
    """A forecaster whose every path is 1000 + seconds since the last close (so a point tells
    the time it stands for); optionally with a native step and a horizon limit (in steps)."""

    name = "ramp"

    def __init__(self, step_seconds=None, horizon=None):
        if step_seconds:
            self.step_seconds = step_seconds
        self.horizon = horizon
        self.asked = []

    def forecast(self, bars, origins, n_steps, step_seconds, n_paths, seed):
        self.asked.append((n_steps, step_seconds))
        if self.horizon is not None and n_steps > self.horizon:
            raise SpecError("horizon too short")
        row = 1000.0 + np.arange(n_steps + 1) * step_seconds
        return np.broadcast_to(row, (len(origins), n_paths, n_steps + 1)).copy()


def test_the_forecast_is_taken_lead_seconds_after_the_last_close():
    # free step: gcd(180, 120) = 60 s grid, (180 + 480) / 60 = 11 steps, t0 at index 3, stride 2
    assert forecast_grid(180, TASK) == (60, 11, 3, 2)
    paths, across = forecast_across_lead(Ramp(), None, [T0], TASK, 180, 4, 0, "ramp")
    assert across and paths.shape == (1, 4, 5)
    np.testing.assert_array_equal(paths[0, 0], [1180.0, 1300.0, 1420.0, 1540.0, 1660.0])
    # a native 60 s forecaster is asked on its own grid
    f = Ramp(step_seconds=60)
    paths, _ = forecast_across_lead(f, None, [T0], TASK, 180, 2, 0, "ramp")
    assert f.asked == [(11, 60)] and paths[0, 0, 0] == 1180.0
    # a native step that cannot reach the task grid is refused
    with pytest.raises(SpecError, match="cannot reach"):
        forecast_grid(180, TASK, native_step=120)


def test_a_run_too_short_for_the_lead_holds_its_t0_at_the_start():
    f = Ramp(step_seconds=60, horizon=8)  # 8 one-minute steps: exactly the task's horizon
    paths, across = forecast_across_lead(f, None, [T0], TASK, 180, 2, 0, "ramp")
    assert not across
    assert f.asked == [(11, 60), (8, 60)]
    # the paths from the last close are placed at the start time unchanged
    np.testing.assert_array_equal(paths[0, 1], [1000.0, 1120.0, 1240.0, 1360.0, 1480.0])


# ------------------------------------------------------------------ the backtest in validator timing


def raw_minute_closes(root, symbol):
    """{1-minute candle open time: close} straight from the Parquet files."""
    import polars as pl

    files = sorted((root / f"asset_class={'crypto' if symbol != 'SPY' else 'equity'}" / "freq=1min"
                    / f"symbol={symbol}").rglob("*.parquet"))
    df = pl.concat([pl.read_parquet(f, hive_partitioning=False).select("ts", "close") for f in files])
    df = df.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    return dict(zip(df["ts"].to_list(), df["close"].to_list()))


def test_backtest_in_validator_timing_matches_a_recomputation(demo_lake):
    from datetime import timedelta

    import polars as pl

    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection
    from synthwb.evaluate.backtest import BacktestSpec, run_backtest
    from synthwb.forecast.baselines import BaselineForecaster
    from synthwb.scoring.synth import TASKS, score_paths

    spec = BacktestSpec.parse({"selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "5min"},
                               "task": "24h", "start": "2024-01-08", "n_origins": 3, "n_paths": 32,
                               "baselines": ["gbm"], "seed": 2, "keep_paths": 0})
    assert spec.timing_mode() == "validator"
    res = run_backtest(spec, root=demo_lake)
    tm = res.meta["timing"]
    assert tm["mode"] == "validator" and tm["lead_s"] == 300 and tm["request_delay_s"] == 120
    assert tm["n_dropped"] == 0 and tm["held_t0"] == []
    close_at = raw_minute_closes(demo_lake, "BTC")
    bars5 = read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)
    task = TASKS["24h"]
    po = res.per_origin
    for k, origin in enumerate(res.origins):
        last_close = origin + timedelta(minutes=5)
        start = last_close + timedelta(minutes=4)  # request 2 min after the close -> next minute + 60 s
        got = po.filter(pl.col("origin") == origin)
        assert got["t0"][0] == start
        # label t: the close of the 1-minute candle that opens at t
        real = np.array([close_at.get(start + timedelta(seconds=300 * i), np.nan) for i in range(task.n_points)])
        np.testing.assert_array_equal(res.realised[k], real)
        # gbm simulated from the last 5-minute close across the 5-minute lead, the lead point dropped
        full = BaselineForecaster("gbm").forecast(bars5.filter(pl.col("ts") <= origin), [origin], 289, 300, 32,
                                                  seed=2)[0]
        assert full[0, 0] == pytest.approx(float(bars5.filter(pl.col("ts") == origin)["close"][0]))
        want = score_paths(full[:, 1:], real, task).total
        assert got["total"][0] == pytest.approx(want, rel=1e-12)
    # bar timing on the same spec scores other realised prices
    bar = run_backtest(spec.model_copy(update={"timing": "bar"}), root=demo_lake)
    assert bar.meta["timing"]["mode"] == "bar"
    assert not np.array_equal(bar.realised, res.realised)


def test_backtest_drops_the_requests_without_a_final_price(demo_lake):
    from datetime import timedelta

    from synthwb.evaluate.backtest import run_backtest

    # SPY trades New York sessions: a 1-hour request ending outside a session has no final price
    res = run_backtest({"selection": {"asset_class": "equity", "symbol": "SPY", "freq": "5min"}, "task": "1h",
                        "start": "2024-01-08", "every": 7, "n_origins": 40, "n_paths": 8, "baselines": ["gbm"],
                        "keep_paths": 0}, root=demo_lake)
    tm = res.meta["timing"]
    close_at = raw_minute_closes(demo_lake, "SPY")
    dropped = [datetime.fromisoformat(o) for o in tm["dropped_origins"]]
    assert tm["n_dropped"] == len(dropped) > 0 and tm["n_requests"] == 40
    assert len(res.origins) == 40 - len(dropped)
    final = timedelta(minutes=5 + 4 + 60)  # last close + start offset + 1 hour: the final label
    for o in dropped:
        assert o + final not in close_at
    for o in res.origins:
        assert o + final in close_at
    assert set(res.per_origin["origin"].to_list()) == set(res.origins)


# ------------------------------------------------------------------------ timing per validator version


def test_start_time_follows_the_validator_version():
    # 2026-05: next minute + 60 s for both prompts; 2026-09: + 60 s for 24h, the next minute for 1h
    for task in ("24h", "1h"):
        assert validator_start_time("2024-03-01T12:00:30", task, "2026-05") == datetime(2024, 3, 1, 12, 2, tzinfo=UTC)
    assert validator_start_time("2024-03-01T12:00:30", "24h", "2026-09") == datetime(2024, 3, 1, 12, 2, tzinfo=UTC)
    assert validator_start_time("2024-03-01T12:00:30", "1h", "2026-09") == datetime(2024, 3, 1, 12, 1, tzinfo=UTC)
    assert validator_start_time("2024-03-01T12:00:30", "1h") == datetime(2024, 3, 1, 12, 1, tzinfo=UTC)  # newest
    from synthwb.evaluate.timing import min_lead_seconds, start_extra_seconds

    assert start_extra_seconds("1h", "2026-09") == 0 and start_extra_seconds("1h", "2026-05") == 60
    assert start_extra_seconds(TASK, "2026-09") == 60  # a custom task keeps the minute
    assert min_lead_seconds("1h", "2026-09") == 120 and min_lead_seconds("1h", "2026-05") == 180


def test_the_one_hour_lead_is_a_minute_shorter_under_2026_09():
    task_1h = SynthTask.custom("1h", 120, 5, {"2min": 120, "8min_abs": 480})  # named like the preset
    assert lead_seconds(60, (), "1h", "2026-05") == 180
    assert lead_seconds(60, (), "1h", "2026-09") == 120
    assert lead_seconds(60, (), "24h", "2026-09") == 180
    assert lead_seconds(300, (), "1h", "2026-09") == 300  # a 5-minute bar: the lcm decides
    ts, px = minute_candles(-10, 30)
    old = plan_requests([T0_NS], ts, px, task_1h, bar_seconds=60, validator="2026-05")
    new = plan_requests([T0_NS], ts, px, task_1h, bar_seconds=60, validator="2026-09")
    assert old.request_ns[0] == new.request_ns[0] == T0_NS  # the request at the close, on the minute
    assert old.start_ns[0] == T0_NS + 120 * NS and new.start_ns[0] == T0_NS + 60 * NS
    assert old.realised[0, 0] == 1002.0 and new.realised[0, 0] == 1001.0
    assert new.to_dict()["lead_s"] == 120 and new.to_dict()["request_delay_s"] == 0
    # on 5-minute bars the request comes later instead: 3 minutes after the close, start 4 minutes after
    p5 = plan_requests([T0_NS], ts, px, task_1h, bar_seconds=300, validator="2026-09")
    assert p5.request_ns[0] == T0_NS + 180 * NS and p5.start_ns[0] == T0_NS + 240 * NS

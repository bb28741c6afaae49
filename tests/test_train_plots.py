"""Training-curve figures: the right series on the right panels, thinned when long, and
TensorBoard's basics: legends, EMA smoothing over the faint raw curve, log scale, several runs."""
from __future__ import annotations

import pytest

from synthwb.charts.train import MAX_POINTS, curves_figure, ema_smooth, lr_figure


def _rows(n: int = 30, scale: float = 1.0) -> list[dict]:
    rows = [{"kind": "train", "step": s, "loss": scale * 10.0 / s, "lr": 1e-3 * s, "grad_norm": 2.0}
            for s in range(1, n + 1)]
    rows += [{"kind": "val", "step": s, "val_crps": scale * (5.0 - s / 10), "sharpness": 3.0, "gauss_nll": 1.5}
             for s in (10, 20, 30)]
    return rows + [{"kind": "skip", "step": n, "reason": "x"}]


def test_curves_figure_series_axes_and_legend():
    fig = curves_figure(_rows(), title="t")
    by_name = {tr.name: tr for tr in fig.data}
    assert set(by_name) == {"train loss", "val CRPS", "val sharpness", "learning rate", "grad norm",
                            "val Gaussian NLL"}
    assert fig.layout.showlegend is True and all(tr.showlegend for tr in fig.data)
    assert list(by_name["train loss"].x) == list(range(1, 31))
    assert list(by_name["val CRPS"].y) == [4.0, 3.0, 2.0]
    assert by_name["val CRPS"].xaxis == by_name["train loss"].xaxis == "x"
    nll = by_name["val Gaussian NLL"]
    assert nll.xaxis == by_name["grad norm"].xaxis and fig.layout[f"yaxis{nll.yaxis[1:]}"].overlaying
    assert [a.text for a in fig.layout.annotations][0].startswith("Loss")
    assert curves_figure([]).data[0].x == ()


def test_ema_smoothing_is_tensorboards_debiased_ema():
    # by hand, weight 0.5: last = 0.5, 0.25, 0.125; debias = 0.5, 0.75, 0.875
    assert ema_smooth([1.0, 0.0, 0.0], 0.5) == pytest.approx([1.0, 1 / 3, 0.125 / 0.875])
    assert ema_smooth([2.0, 4.0], 0.0) == [2.0, 4.0]
    # a constant stays constant (no pull towards 0 at the start); a NaN is passed through, not averaged in
    assert ema_smooth([3.0] * 5, 0.9) == pytest.approx([3.0] * 5)
    out = ema_smooth([1.0, float("nan"), 0.0], 0.5)
    assert out[0] == 1.0 and out[1] != out[1] and out[2] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="between 0 and 0.999"):
        ema_smooth([1.0], 1.0)


def test_smoothing_draws_the_raw_curve_faint_behind_the_smoothed_one():
    fig = curves_figure(_rows(), smoothing=0.6)
    loss = [tr for tr in fig.data if tr.legendgroup == "train loss"]
    raw, smooth = loss
    assert raw.meta["series"] == "raw" and raw.opacity == 0.25 and raw.showlegend is False
    assert smooth.meta["series"] == "smoothed" and smooth.showlegend and smooth.opacity is None
    assert list(raw.y) == [10.0 / s for s in range(1, 31)]
    # smoothed by hand: last_n = 0.6 last + 0.4 y_n, divided by 1 - 0.6^n
    last, want = 0.0, []
    for n, y in enumerate(raw.y, start=1):
        last = 0.6 * last + 0.4 * y
        want.append(last / (1 - 0.6 ** n))
    assert list(smooth.y) == pytest.approx(want)
    assert smooth.y[-1] > raw.y[-1]  # a falling curve lags behind when smoothed
    assert len(curves_figure(_rows()).data) == 6  # no smoothing: no faint copies


def test_log_scale_switch():
    lin, log = curves_figure(_rows()), curves_figure(_rows(), log_y=True)
    y_axes = [k for k in log.layout.to_plotly_json() if k.startswith("yaxis")]
    assert len(y_axes) == 6 and all(log.layout[k].type == "log" for k in y_axes)
    assert all(lin.layout[k].type in (None, "-", "linear") for k in y_axes)


def test_several_runs_overlaid_one_colour_and_legend_entry_per_run():
    fig = curves_figure({"run-a": _rows(), "run-b": _rows(20, scale=2.0)})
    legend = [tr.name for tr in fig.data if tr.showlegend]
    assert legend == ["run-a", "run-b"]
    a = [tr for tr in fig.data if tr.legendgroup == "run-a"]
    b = [tr for tr in fig.data if tr.legendgroup == "run-b"]
    assert len(a) == len(b) == 6
    assert {tr.line.color for tr in a} != {tr.line.color for tr in b} and len({tr.line.color for tr in a}) == 1
    b_loss = next(tr for tr in b if tr.meta["metric"] == "run-b · train loss")
    assert list(b_loss.x) == list(range(1, 21)) and b_loss.y[0] == 20.0
    b_val = next(tr for tr in b if tr.meta["metric"] == "run-b · val CRPS")
    assert b_val.line.dash == "dash" and b_val.xaxis == b_loss.xaxis == "x"
    assert "run-b · val CRPS" in b_val.hovertemplate


def test_long_histories_are_thinned_keeping_the_last_point():
    rows = [{"kind": "train", "step": s, "loss": float(s), "lr": 0.1, "grad_norm": 1.0} for s in range(1, 10_001)]
    tr = curves_figure(rows).data[0]
    assert len(tr.x) <= MAX_POINTS + 1 and tr.x[0] == 1 and tr.x[-1] == 10_000
    assert list(tr.y) == [float(s) for s in tr.x]
    raw, smooth = curves_figure(rows, smoothing=0.5).data[:2]
    assert list(raw.x) == list(smooth.x) == list(tr.x)
    assert len(lr_figure([0.1, 0.2]).data[0].y) == 2


def test_a_single_validation_point_is_visible():
    """After the first validation every val-only panel holds one point: it must be a marker."""
    rows = [{"kind": "train", "step": 1, "loss": 2.0, "lr": 1e-3, "grad_norm": 1.0},
            {"kind": "train", "step": 2, "loss": 1.5, "lr": 1e-3, "grad_norm": 1.0},
            {"kind": "val", "step": 2, "val_crps": 1.2, "sharpness": 30.0, "gauss_nll": 3.0}]
    for fig in (curves_figure(rows), curves_figure(rows, smoothing=0.9)):
        lone = [t for t in fig.data if len(t.x) == 1]
        assert lone and all("markers" in t.mode for t in lone)


def test_each_y_axis_carries_one_scale():
    """Train loss and val CRPS are different units: the CRPS has its own axis (issue 24)."""
    fig = curves_figure(_rows())
    by_name = {t.name: t for t in fig.data}
    loss, crps = by_name["train loss"], by_name["val CRPS"]
    assert loss.xaxis == crps.xaxis and loss.yaxis != crps.yaxis
    assert fig.layout[f"yaxis{crps.yaxis[1:]}"].overlaying == loss.yaxis
    # the legend sits at the foot of the figure, in the margin below the bottom panels' axes
    assert fig.layout.legend.yref == "container" and fig.layout.legend.y == 0 and fig.layout.margin.b >= 80


def test_a_run_keeps_its_colour_whatever_else_is_drawn():
    a = curves_figure({"run-a": _rows(), "run-b": _rows()})
    b = curves_figure({"run-a": _rows(), "run-c": _rows(), "run-b": _rows()})
    col = lambda fig, run: next(t.line.color for t in fig.data if t.legendgroup == run)  # noqa: E731
    assert col(a, "run-a") == col(b, "run-a") and col(a, "run-b") == col(b, "run-b")
    assert len({col(b, r) for r in ("run-a", "run-b", "run-c")}) == 3

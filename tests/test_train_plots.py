"""Training-curve figures: the right series on the right panels, thinned when long."""
from __future__ import annotations

from synthwb.charts.train import MAX_POINTS, curves_figure, lr_figure


def test_curves_figure_series_and_axes():
    rows = [{"kind": "train", "step": s, "loss": 10.0 / s, "lr": 1e-3 * s, "grad_norm": 2.0} for s in range(1, 31)]
    rows += [{"kind": "val", "step": s, "val_crps": 5.0 - s / 10, "sharpness": 3.0, "gauss_nll": 1.5}
             for s in (10, 20, 30)]
    rows += [{"kind": "skip", "step": 30, "reason": "x"}]
    fig = curves_figure(rows, title="t")
    by_name = {tr.name: tr for tr in fig.data}
    assert set(by_name) == {"train loss", "val val_crps", "val sharpness", "train lr", "train grad_norm",
                            "val gauss_nll"}
    assert list(by_name["train loss"].x) == list(range(1, 31))
    assert list(by_name["val val_crps"].y) == [4.0, 3.0, 2.0]
    assert by_name["val val_crps"].xaxis == by_name["train loss"].xaxis == "x"
    nll = by_name["val gauss_nll"]
    assert nll.xaxis == by_name["train grad_norm"].xaxis and fig.layout[f"yaxis{nll.yaxis[1:]}"].overlaying
    assert [a.text for a in fig.layout.annotations][0].startswith("Loss")
    assert curves_figure([]).data[0].x == ()


def test_long_histories_are_thinned_keeping_the_last_point():
    rows = [{"kind": "train", "step": s, "loss": float(s), "lr": 0.1, "grad_norm": 1.0} for s in range(1, 10_001)]
    tr = curves_figure(rows).data[0]
    assert len(tr.x) <= MAX_POINTS + 1 and tr.x[0] == 1 and tr.x[-1] == 10_000
    assert list(tr.y) == [float(s) for s in tr.x]
    assert len(lr_figure([0.1, 0.2]).data[0].y) == 2


def test_a_single_validation_point_is_visible():
    """After the first validation every val-only panel holds one point: it must be a marker."""
    fig = curves_figure([{"kind": "train", "step": 1, "loss": 2.0, "lr": 1e-3, "grad_norm": 1.0},
                         {"kind": "train", "step": 2, "loss": 1.5, "lr": 1e-3, "grad_norm": 1.0},
                         {"kind": "val", "step": 2, "val_crps": 1.2, "sharpness": 30.0, "gauss_nll": 3.0}])
    lone = [t for t in fig.data if len(t.x) == 1]
    assert lone and all("markers" in t.mode for t in lone)

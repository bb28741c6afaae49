"""Model spec round-trip and validation, presets, summary, saved specs, stack ordering, fan chart."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synthwb.charts.forecast import fan_chart, path_quantiles
from synthwb.core.errors import NotFound, SpecError
from synthwb.models import (
    PRESETS,
    ModelSpec,
    build_model,
    get_preset,
    list_specs,
    load_spec,
    save_spec,
    summary,
    validate_spec,
)
from synthwb.models import stack as st


def tiny(**over):
    d = dict(blocks=[{"name": "dlinear", "params": {"kernel": 5}}, {"name": "tcn", "params": {"levels": 2}}],
             head={"name": "gbm"}, n_features=3, d_model=8, context=16, horizon=6)
    d.update(over)
    return ModelSpec.from_dict(d)


def test_spec_json_round_trip_fills_defaults():
    spec = tiny(feature_set="btc-basic")
    assert spec.blocks[0].params == {"kernel": 5, "individual": False, "residual": True}
    again = ModelSpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.to_dict()["feature_set"] == "btc-basic"


@pytest.mark.parametrize("change,message", [
    ({"n_features": 0}, "n_features: Input should be greater than or equal to 1"),
    ({"blocks": [{"name": "nope"}]}, "block 0 (nope): unknown block 'nope'"),
    ({"blocks": [{"name": "dlinear", "params": {"kernel": 1}}]}, "dlinear.kernel: 1 is below the minimum 2"),
    ({"blocks": [{"name": "tcn", "params": {"wat": 1}}]}, "unknown parameter(s) ['wat']"),
    ({"head": {"name": "bridge"}, "horizon": 1}, "head 'bridge' needs a horizon of at least 2"),
    ({"feature_set": "../etc"}, "invalid feature set name"),
    ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
])
def test_spec_validation_errors_are_spec_errors(change, message):
    with pytest.raises(SpecError) as info:
        tiny(**change)
    assert message in str(info.value)
    assert str(info.value).startswith("invalid model spec: ")
    with pytest.raises(SpecError):
        ModelSpec.model_validate_json(json.dumps({**tiny().to_dict(), **change}))


def test_validate_walks_every_layer():
    rows = validate_spec(tiny(norm_between=True))
    assert [r.kind for r in rows] == ["input", "block", "norm", "block", "norm", "head", "anchor"]
    assert rows[0].out_shape == ("B", 16, 8)
    assert rows[-2].out_shape == ("B", "n_paths", 7)
    # dlinear params: two 16x16 time maps + two 16 biases (hand count)
    assert rows[1].params == 2 * 16 * 16 + 2 * 16
    assert rows[3].causal is True and rows[1].causal is False


def test_validate_names_the_block_and_reason_on_head_mismatch():
    # n_heads must divide d_model: the head cannot be built
    spec = tiny(head={"name": "horizon", "params": {"n_heads": 3}})
    with pytest.raises(SpecError, match=r"head 'horizon' cannot be built on backbone output \(B, 16, 8\)"):
        validate_spec(spec)
    spec = tiny(blocks=[{"name": "tcn"}, {"name": "transformer", "params": {"n_heads": 3}}])
    with pytest.raises(SpecError, match=r"block 1 \(transformer\) cannot be built for input \(B, 16, 8\).*divisible"):
        validate_spec(spec)


def test_validate_catches_a_block_that_changes_d_model(monkeypatch):
    import dataclasses

    from torch import nn

    from synthwb.models.registry import BLOCKS

    class Widen(nn.Module):
        """A broken block: maps d_model 8 to 9."""

        def __init__(self, d_model, seq_len):
            super().__init__()
            self.lin = nn.Linear(d_model, d_model + 1)

        def forward(self, x):
            return self.lin(x)

    entry = dataclasses.replace(BLOCKS.get("layernorm"), name="widen", obj=Widen, params=())
    monkeypatch.setitem(BLOCKS._entries, "widen", entry)   # removed again after the test
    spec = tiny(blocks=[{"name": "tcn"}, {"name": "widen"}])
    with pytest.raises(SpecError, match=r"block 1 \(widen\) on input \(B, 16, 8\) returns \(B, 16, 9\): "
                                        r"it changed d_model from 8 to 9"):
        validate_spec(spec)


def test_summary_rows_and_total():
    rows = summary(tiny())
    assert rows[-1]["layer"] == "total"
    assert rows[-1]["params"] == sum(r["params"] for r in rows[:-1])
    model = build_model(tiny())
    assert rows[-1]["params"] == sum(p.numel() for p in model.parameters())
    assert model.param_summary()["total"] == rows[-1]["params"]


@pytest.mark.parametrize("name", ["hybrid-horizon", "dlinear-gbm", "transformer-mixture"])
def test_required_presets_build_and_run(name):
    spec = get_preset(name, n_features=4, context=64, horizon=8)
    assert spec.context == 64 and spec.horizon == 8 and spec.n_features == 4
    validate_spec(spec)
    with torch.no_grad():
        out = build_model(spec)(torch.randn(2, 64, 4), torch.tensor([10.0, 20.0]), n_paths=5,
                                generator=torch.Generator().manual_seed(0))
    assert out.paths.shape == (2, 5, 9)


def test_hybrid_preset_is_the_documented_stack():
    spec = get_preset("hybrid-horizon", 16)
    assert [b.name for b in spec.blocks] == ["dlinear", "timesnet", "timemixer", "dlinear"]
    assert spec.head.name == "horizon" and spec.context == 256 and spec.horizon == 288
    with pytest.raises(NotFound, match="unknown preset"):
        get_preset("nope", 3)
    assert len(PRESETS) >= 3


def test_save_load_list_specs(tmp_path):
    spec = tiny()
    path = save_spec("my-spec", spec, store=tmp_path)
    assert path == tmp_path / "_specs" / "my-spec.json"
    assert list_specs(tmp_path) == ["my-spec"]
    assert load_spec("my-spec", store=tmp_path) == spec
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(SpecError, match="invalid spec name"):
        save_spec("../evil", spec, store=tmp_path)
    with pytest.raises(NotFound, match="no saved model spec named 'other'; saved: my-spec"):
        load_spec("other", store=tmp_path)


def _stack(*names):
    s = []
    for n in names:
        s = st.add(s, n)
    return s


def test_stack_move_remove_and_apply_order():
    s = _stack("dlinear", "timesnet", "tcn")
    assert [it["uid"] for it in s] == [0, 1, 2]
    assert [it["name"] for it in st.move(s, 2, -1)] == ["dlinear", "tcn", "timesnet"]
    assert [it["name"] for it in st.move(s, 0, -1)] == ["dlinear", "timesnet", "tcn"]   # clamped at the top
    assert [it["name"] for it in st.move(s, 0, 5)] == ["timesnet", "tcn", "dlinear"]    # clamped at the bottom
    assert [it["name"] for it in s] == ["dlinear", "timesnet", "tcn"]                   # pure: input unchanged
    assert [it["name"] for it in st.remove(s, 1)] == ["dlinear", "tcn"]
    assert st.labels(s) == ["0. dlinear", "1. timesnet", "2. tcn"]
    new = st.apply_order(s, ["2. tcn", "0. dlinear", "1. timesnet"])
    assert [it["uid"] for it in new] == [2, 0, 1]
    assert st.labels(new) == ["0. tcn", "1. dlinear", "2. timesnet"]  # numbered by the new positions
    with pytest.raises(SpecError, match="does not match"):
        st.apply_order(s, ["2. tcn", "0. dlinear"])
    with pytest.raises(SpecError, match="no block at position 3"):
        st.move(s, 3, 1)
    # duplicates of one block get distinct labels; uids keep growing after a removal, labels follow positions
    s2 = st.add(st.remove(_stack("dlinear", "dlinear"), 0), "dlinear")
    assert [it["uid"] for it in s2] == [1, 2] and st.labels(s2) == ["0. dlinear", "1. dlinear"]
    assert st.to_blocks(s2) == [{"name": "dlinear", "params": {}}] * 2
    assert [it["uid"] for it in st.from_blocks(st.to_blocks(s2))] == [0, 1]


def test_fan_chart_bands_and_realised():
    rng = np.random.default_rng(0)
    paths = 100 * np.exp(np.cumsum(np.concatenate([np.zeros((500, 1)), 0.01 * rng.standard_normal((500, 10))], 1), 1))
    q = path_quantiles(paths)
    np.testing.assert_allclose(q[50.0], np.percentile(paths, 50, axis=0))
    fig = fan_chart(paths, realised=paths[0, 1:], title="t")
    names = [tr.name for tr in fig.data]
    assert "P5-P95" in names and "P25-P75" in names and "median" in names and "realised" in names
    realised = [tr for tr in fig.data if tr.name == "realised"][0]
    assert realised.y[0] == paths[0, 0] and len(realised.y) == 11
    with pytest.raises(SpecError, match="2-D"):
        fan_chart(paths[0])


def test_revin_feature_index_checked_against_inputs():
    spec = tiny(blocks=[{"name": "revin", "params": {"ret_feature": 5}}])
    with pytest.raises(SpecError, match=r"block 0 \(revin\) on input \(B, 16, 8\): revin.ret_feature 5 is out of range for 3 input features"):
        validate_spec(spec)

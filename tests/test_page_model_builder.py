"""AppTest of the Model Builder page: build a stack, summary, break it, exact error, save/reload."""
from __future__ import annotations

import json

import pytest
from apptest_support import open_page as open_app

from synthwb.models import load_spec


@pytest.fixture
def app(lake_env):
    at = open_app("model_builder")
    assert not at.exception
    return at


def click(at, label):
    [b for b in at.button if b.label == label][0].click()
    at.run()
    assert not at.exception, at.exception


def set_number(at, label, value):
    [n for n in at.number_input if n.label == label][0].set_value(value)
    at.run()
    assert not at.exception, at.exception


def test_build_validate_break_save_reload(app, lake_env):
    at = app
    assert at.title[0].value == "Model Builder"
    set_number(at, "Context (bars)", 64)
    set_number(at, "Horizon (path steps)", 12)
    set_number(at, "d_model", 16)
    set_number(at, "n_features", 4)
    click(at, "+ dlinear")
    click(at, "+ tcn")
    at.selectbox(key="mb_head").set_value("gbm")
    at.run()
    assert not at.exception
    assert [it["name"] for it in at.session_state["mb_stack"]] == ["dlinear", "tcn"]
    assert any(s.value.startswith("Valid: 2 blocks, head gbm") for s in at.success)
    table = at.dataframe[0].value
    assert list(table["layer"]) == ["input", "dlinear", "layernorm (between)", "tcn", "layernorm (between)",
                                    "head:gbm", "anchor (ewma vol + season)", "total"]
    # reorder with the arrow buttons (tcn up)
    uid_tcn = at.session_state["mb_stack"][1]["uid"]
    at.button(key=f"mb_up_{uid_tcn}").click()
    at.run()
    assert [it["name"] for it in at.session_state["mb_stack"]] == ["tcn", "dlinear"]

    # break it: TimeMixer with 5 scales needs 2 * 2**5 = 64 steps; context 40 is too short
    click(at, "+ timemixer")
    uid_tm = at.session_state["mb_stack"][2]["uid"]
    at.number_input(key=f"mb_p_{uid_tm}_layers").set_value(5)
    at.run()
    set_number(at, "Context (bars)", 40)
    errors = [e.value for e in at.error]
    assert ("block 2 (timemixer) receives input of shape (B, 40, 16) but needs at least 64 time steps (min_len); "
            "lengthen the context or move it before blocks that shorten time") in errors
    assert not any(s.value.startswith("Valid") for s in at.success)
    # fix it by removing the block, then save
    at.button(key=f"mb_rm_{uid_tm}").click()
    at.run()
    assert any(s.value.startswith("Valid: 2 blocks") for s in at.success)
    at.text_input(key="mb_save_name").set_value("my-tcn")
    at.run()
    click(at, "Save spec")
    saved = load_spec("my-tcn")
    assert [b.name for b in saved.blocks] == ["tcn", "dlinear"] and saved.context == 40
    assert json.loads((lake_env.store / "_specs" / "my-tcn.json").read_text())["head"]["name"] == "gbm"

    # load a preset (changes everything), then reload the saved spec
    at.selectbox(key="mb_preset").set_value("transformer-mixture")
    at.run()
    click(at, "Load preset")
    assert [it["name"] for it in at.session_state["mb_stack"]] == ["transformer", "transformer"]
    assert at.selectbox(key="mb_head").value == "mixture"
    at.selectbox(key="mb_saved").set_value("my-tcn")
    at.run()
    click(at, "Load saved spec")
    assert [it["name"] for it in at.session_state["mb_stack"]] == ["tcn", "dlinear"]
    assert at.number_input(key="mb_context").value == 40
    assert at.selectbox(key="mb_head").value == "gbm"
    assert any(s.value.startswith("Valid: 2 blocks, head gbm") for s in at.success)


def test_bad_save_name_shows_message(app):
    at = app
    set_number(at, "Context (bars)", 32)
    set_number(at, "Horizon (path steps)", 4)
    set_number(at, "d_model", 8)
    at.selectbox(key="mb_head").set_value("gbm")
    at.run()
    click(at, "+ layernorm")
    at.text_input(key="mb_save_name").set_value("../x")
    at.run()
    click(at, "Save spec")
    assert any("invalid spec name '../x'" in e.value for e in at.error)


def test_smoke_test_on_demo_bars(demo_lake, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    monkeypatch.setenv("SYNTHWB_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("SYNTHWB_CACHE_DIR", str(tmp_path / "cache"))
    at = open_app("model_builder")
    set_number(at, "Context (bars)", 48)
    set_number(at, "Horizon (path steps)", 12)
    set_number(at, "d_model", 8)
    at.selectbox(key="mb_head").set_value("gbm")
    at.run()
    click(at, "+ dlinear")
    click(at, "Run forward pass")
    assert any("scaled log return as the only feature" in i.value for i in at.info), ([e.value for e in at.error], [i.value for i in at.info])
    assert any("t0 exact: True" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) >= 1


def test_smoke_test_on_a_saved_feature_set(demo_lake, tmp_path, monkeypatch):
    from synthwb.data.schema import Selection
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import FeatureSpec

    store = tmp_path / "store"
    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    monkeypatch.setenv("SYNTHWB_STORE_DIR", str(store))
    monkeypatch.setenv("SYNTHWB_CACHE_DIR", str(tmp_path / "cache"))
    fspec = FeatureSpec(freq="15min", features=({"name": "log_return", "params": {"periods": 1}},
                                                {"name": "rsi", "params": {"window": 14}}))
    fs = create_featureset("mb-fs", Selection("crypto", "BTC", "15min"), fspec, root=demo_lake)
    save_featureset(fs, store)
    at = open_app("model_builder")
    at.selectbox(key="mb_fs").set_value("mb-fs")
    at.run()
    assert at.number_input(key="mb_n_features").value == len(fs.feature_cols)
    set_number(at, "Context (bars)", 32)
    set_number(at, "Horizon (path steps)", 8)
    set_number(at, "d_model", 8)
    at.selectbox(key="mb_head").set_value("bridge")
    at.run()
    click(at, "+ gru")
    click(at, "Run forward pass")
    assert not at.info or not any("only feature" in i.value for i in at.info)
    assert any("windows from feature set mb-fs (val)" in c.value and "t0 exact: True" in c.value for c in at.caption)
    at.text_input(key="mb_save_name").set_value("with-fs")
    at.run()
    click(at, "Save spec")
    assert load_spec("with-fs").feature_set == "mb-fs"


def test_delete_saved_spec(app, lake_env):
    from synthwb.models import get_preset, list_specs, save_spec

    save_spec("old-one", get_preset("dlinear-gbm", 2, 16, 4))
    at = app
    at.run()
    at.selectbox(key="mb_saved").set_value("old-one")
    at.run()
    at.button(key="mb_delete").click()
    at.run()
    assert not at.exception and list_specs() == []


def test_tiles_are_numbered_by_position_and_labels_are_whole(app):
    """The drag tiles read "0. tcn", "1. fourier": their position, as the block list below, never
    the creation number ("fourier #2" at position 0); the LayerNorm switch has a row of its own."""
    at = app
    for name in ("fourier", "dlinear", "tcn"):
        click(at, f"+ {name}")
    uid_tcn = at.session_state["mb_stack"][2]["uid"]
    for _ in range(2):
        at.button(key=f"mb_up_{uid_tcn}").click()
        at.run()
    tiles = [e for e in at.get("component_instance") if "mb_sort_" in e.proto.json_args]
    assert len(tiles) == 1
    args = json.loads(tiles[0].proto.json_args)
    assert args["items"][0]["items"] == ["0. tcn", "1. fourier", "2. dlinear"]
    assert [e.label.split("  ")[0] for e in at.expander][:3] == ["0. tcn", "1. fourier", "2. dlinear"]
    # one wording for the sizes on every page; the LayerNorm switch is not squeezed into the sizes' row
    sizes_row = next(c for c in at.columns if any(n.label == "d_model" for n in c.number_input))
    assert [n.label for n in at.number_input][:3] == ["n_features", "Context (bars)", "Horizon (path steps)"]
    norm = at.checkbox(key="mb_norm_between")
    assert norm.label == "LayerNorm between blocks"
    assert all(cb.key != "mb_norm_between" for col in at.columns for cb in col.checkbox), sizes_row

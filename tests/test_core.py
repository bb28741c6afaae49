"""The shared core: registry idiom, atomic io, slugs, Selection, CLI conventions."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from synthwb.core.errors import NotFound, SpecError
from synthwb.core.io import append_jsonl, atomic_path, atomic_write_json, check_slug, read_jsonl, slugify
from synthwb.core.registry import Param, Registry
from synthwb.data.schema import Selection

ROOT = Path(__file__).resolve().parents[1]


def make_registry() -> Registry:
    reg = Registry("widget")

    @reg.register("scaled", category="math", params=[Param("k", int, 3, low=1, high=10), Param("w", float, 0.5, low=0.0, high=1.0),
                                                      Param("mode", str, "a", choices=("a", "b")), Param("on", bool, True)],
                  keeps_time=True)
    def scaled(x, k, w, mode, on):
        """Scale things.

        Longer text that is not part of the summary."""
        return x * k

    return reg


def test_registry_resolve_fills_defaults_and_coerces():
    e = make_registry().get("scaled")
    assert e.resolve({}) == {"k": 3, "w": 0.5, "mode": "a", "on": True}
    got = e.resolve({"k": "7", "w": 1, "on": "false"})
    assert got["k"] == 7 and isinstance(got["k"], int)
    assert got["w"] == 1.0 and isinstance(got["w"], float)
    assert got["on"] is False
    assert e.help == "Scale things."
    assert e.meta["keeps_time"] is True


@pytest.mark.parametrize("given, words", [
    ({"k": 11}, ["scaled.k", "maximum 10"]),
    ({"k": 0}, ["scaled.k", "minimum 1"]),
    ({"k": 2.5}, ["scaled.k", "expected int"]),
    ({"w": float("nan")}, ["scaled.w", "expected float"]),
    ({"mode": "c"}, ["scaled.mode", "not one of"]),
    ({"on": "maybe"}, ["scaled.on", "expected bool"]),
    ({"zzz": 1}, ["unknown parameter", "zzz", "known"]),
])
def test_registry_rejects_bad_params_with_named_message(given, words):
    with pytest.raises(SpecError) as ei:
        make_registry().get("scaled").resolve(given)
    for w in words:
        assert w in str(ei.value)


def test_registry_unknown_name_lists_available():
    with pytest.raises(NotFound) as ei:
        make_registry().get("nope")
    assert "nope" in str(ei.value) and "scaled" in str(ei.value)


def test_registry_refuses_duplicates_and_bad_defaults():
    reg = make_registry()
    with pytest.raises(ValueError):
        reg.register("scaled")(lambda: None)
    with pytest.raises(SpecError):
        Param("x", int, 20, low=0, high=10)


def test_describe_is_json_serialisable():
    d = make_registry().describe()
    s = json.dumps(d)
    assert '"name": "scaled"' in s and d[0]["params"][0] == {"name": "k", "type": "int", "default": 3, "low": 1, "high": 10}


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "A b", ".hidden", "x" * 81, "a..b"])
def test_check_slug_rejects_paths(bad):
    with pytest.raises(SpecError):
        check_slug(bad)


def test_slugify_makes_valid_slugs():
    for text in ["My Run #1", "../../etc/passwd", "  BTC 1h / hybrid  "]:
        s = slugify(text)
        assert check_slug(s) == s
    assert slugify("My Run #1") == "my-run-1"


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "f.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temp file left behind


def test_jsonl_skips_torn_last_line(tmp_path):
    p = tmp_path / "m.jsonl"
    append_jsonl(p, {"step": 1})
    append_jsonl(p, {"step": 2})
    with open(p, "a") as fh:
        fh.write('{"step": 3, "lo')  # a crash mid-append
    assert [r["step"] for r in read_jsonl(p)] == [1, 2]


def test_selection_validation_and_round_trip():
    s = Selection("crypto", "BTC", "1h", "2024-01-01", datetime(2024, 2, 1))
    assert s.start == datetime(2024, 1, 1, tzinfo=UTC) and s.end.tzinfo is not None
    assert Selection.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    for kwargs, word in [(dict(asset_class="stocks"), "asset class"), (dict(freq="2h"), "frequency"),
                         (dict(symbol="../x"), "symbol"), (dict(start="2024-02-01", end="2024-01-01"), "not before"),
                         (dict(start="yesterday"), "cannot read")]:
        base = dict(asset_class="crypto", symbol="BTC", freq="1h")
        with pytest.raises(SpecError, match=word):
            Selection(**{**base, **kwargs})


def test_cli_user_error_is_one_line_and_nonzero(tmp_path):
    r = subprocess.run([sys.executable, "-m", "synthwb", "runs", "show", "no-such-run", "--store", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "no-such-run" in lines[0]


def test_engine_never_imports_streamlit():
    hits = [str(p) for p in (ROOT / "synthwb").rglob("*.py")
            if any(line.strip().startswith(("import streamlit", "from streamlit")) for line in p.read_text().splitlines())]
    assert hits == []


@pytest.mark.parametrize("package", ["synthwb.models", "synthwb.features", "synthwb.train"])
def test_lazy_package_exports_resolve_to_their_objects(package):
    """Every lazily exported name is the object itself, never a same-named submodule, whatever
    was imported before (a submodule import sets a package attribute of its own name)."""
    import importlib
    import types

    pkg = importlib.import_module(package)
    for name in pkg.__all__:
        importlib.import_module(f"{package}.{pkg._EXPORTS[name]}")
    for name in pkg.__all__:
        assert not isinstance(getattr(pkg, name), types.ModuleType), f"{package}.{name} is a module"

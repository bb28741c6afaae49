"""Shared pytest fixtures.

- ``lake_env``: fresh, empty lake / store / cache dirs wired through the SYNTHWB_* env vars.
- ``demo_lake``: a small demo lake (about 18 days of 1-minute bars for BTC, ETH, SOL and the
  session asset SPY), built once per test session. Treat it as read-only; a test that writes
  copies it first (``shutil.copytree(demo_lake, tmp_path / "lake")``).
- an autouse fixture that clears streamlit's caches between tests, only when streamlit is
  already imported (engine tests never import it).
"""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEMO_YEARS = 0.05
DEMO_SEED = 0
DEMO_START = "2024-01-01"


@pytest.fixture
def lake_env(tmp_path, monkeypatch):
    """Empty lake, store and cache dirs in tmp_path, set via SYNTHWB_DATA_DIR/STORE_DIR/CACHE_DIR."""
    ns = SimpleNamespace(root=tmp_path / "lake", store=tmp_path / "store", cache=tmp_path / "cache")
    for p in (ns.root, ns.store, ns.cache):
        p.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(ns.root))
    monkeypatch.setenv("SYNTHWB_STORE_DIR", str(ns.store))
    monkeypatch.setenv("SYNTHWB_CACHE_DIR", str(ns.cache))
    return ns


@pytest.fixture
def page_env(monkeypatch, tmp_path, demo_lake):
    """The shared demo lake read-only, an empty store in tmp_path (returned), env vars set."""
    store = tmp_path / "store"
    store.mkdir()
    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(demo_lake))
    monkeypatch.setenv("SYNTHWB_STORE_DIR", str(store))
    monkeypatch.setenv("SYNTHWB_CACHE_DIR", str(tmp_path / "cache"))
    return store


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory) -> Path:
    """A small read-only demo lake (years=0.05 from 2024-01-01, seed 0): BTC, ETH, SOL (crypto) + SPY (equity)."""
    from synthwb.data.demo import generate_demo_lake

    root = tmp_path_factory.mktemp("demo_lake") / "ohlcv"
    generate_demo_lake(root=root, years=DEMO_YEARS, seed=DEMO_SEED, start=DEMO_START)
    return root


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """Clear st.cache_data / st.cache_resource around each test, if streamlit is loaded."""
    st = sys.modules.get("streamlit")
    if st is not None:
        st.cache_data.clear()
        st.cache_resource.clear()
    yield
    st = sys.modules.get("streamlit")
    if st is not None:
        st.cache_data.clear()
        st.cache_resource.clear()

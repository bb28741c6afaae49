"""synthwb: a workbench for probabilistic forecasting of OHLCV candles.

The engine never imports streamlit. Its packages are one-way layers (README "Layout",
../shared/DESIGN.md §1), each importing only those before it: core -> store -> data ->
features -> models -> scoring -> moirai -> forecast -> train -> evaluate -> research -> jobs
-> charts -> cli. ``tests/test_layers.py`` checks it.
"""
from synthwb.core import __version__  # noqa: F401  (one version, kept in core)

"""synthwb: a workbench for probabilistic forecasting of OHLCV candles.

The engine never imports streamlit. Areas follow the pipeline (DESIGN.md §1):
``data`` -> ``features`` -> ``models`` -> ``train`` -> ``evaluate``; ``store`` keeps runs.
"""
__version__ = "0.1.0"

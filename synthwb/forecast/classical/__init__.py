"""Classical forecasters: the GARCH family through ``arch`` and HAR-RV, with seasonal variance
profiles, fitted fat-tailed innovations and stochastic volatility in the paths.

    from synthwb.forecast.classical import CLASSICAL, classical_forecaster
    f = classical_forecaster("gjr-garch", {"dist": "t"})
    paths = f.forecast(bars, origins, n_steps=288, step_seconds=300, n_paths=1000, seed=0)

Each entry of :data:`CLASSICAL` is a :class:`ClassicalForecaster` class with typed, bounded
parameters (pages build their widgets from them). Saved runs of kind ``classical``:
:func:`fit_classical`, :func:`classical_from_run`.
"""
from synthwb.forecast.classical import garch, har  # noqa: F401  (registers the models)
from synthwb.forecast.classical.base import CLASSICAL, ClassicalForecaster, Series
from synthwb.forecast.classical.run import classical_forecaster, classical_from_run, fit_classical

__all__ = ["CLASSICAL", "ClassicalForecaster", "Series", "classical_forecaster", "classical_from_run",
           "fit_classical"]

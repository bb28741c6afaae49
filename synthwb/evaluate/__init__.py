"""Evaluation: the Synth validator's score, standard metrics, baselines and rolling backtests.

- :mod:`.crps`: ensemble CRPS (standard, fair, almost-fair), numpy and differentiable torch.
- :mod:`.synth`: task presets (24h, 1h, custom), ``score_paths`` / ``score_batch`` exactly as
  the public Synth validator, timestamp alignment, ``synth_loss_torch`` for training.
- :mod:`.metrics`: GluonTS metrics (wQL, MSE, MAE, MASE, MSIS, interval coverage).
- :mod:`.trading`: directional accuracy, long/short/flat strategy vs buy-and-hold.
- :mod:`.baselines`: ``BASELINES`` registry (gbm, gbm_ewma, garch, bootstrap).
- :mod:`.backtest`: ``BacktestSpec`` -> ``run_backtest`` -> ``BacktestResult``; storage.
- :mod:`.export`: CSV export with spreadsheet-formula neutralisation.
- :mod:`.plots`: backtest figures. :mod:`.compare` / :mod:`.ensemble`: model comparison.

Submodules are imported explicitly (``from synthwb.scoring.synth import score_paths``) so
importing the package stays cheap.
"""

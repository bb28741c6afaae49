"""Moirai (Salesforce's time-series foundation model, through uni2ts) as one more kind of model.

- :mod:`.checkpoints`: the catalogue of known checkpoints, loading by hub id or local folder,
  and a tiny random checkpoint for tests and benchmarks;
- :mod:`.forecast`: :class:`MoiraiSpec` and :class:`MoiraiForecaster` (the Forecaster contract
  the backtest and compare engines score), with the fast tensor sampling path; and
  :class:`Moirai2Quantiles` (Moirai 2's quantiles, made into paths by
  :mod:`synthwb.forecast.quantiles`, one layer up);
- :mod:`.finetune`: fine-tuning on a saved feature set, as a run in models_store
  (``run.json`` ``kind: "moirai"``);
- :mod:`.versions`: which uni2ts features work with the installed gluonts / torch;
- :mod:`.cli`: ``synthwb moirai ...`` and the ``train --moirai`` options.

Nothing here is imported by ``import synthwb``; uni2ts (and torch) load on first use.
"""

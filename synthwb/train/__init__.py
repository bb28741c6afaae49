"""Training: the loop, losses, schedules and background jobs.

    from synthwb.train import TrainConfig, train
    info = train("btc-hybrid", "btc-1h", "hybrid-horizon", TrainConfig(epochs=3))
    info.run_id, info.status, info.best          # the run lives in models_store/<run_id>/

Background use (the Train page): the "train" job of :mod:`synthwb.jobs.adapters`.
"""
from synthwb.core.lazy import lazy_exports

_EXPORTS = {"TrainConfig": "config", "RunInfo": "loop", "TrainingFailed": "loop", "train": "loop",
            "train_on_devices": "launch"}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

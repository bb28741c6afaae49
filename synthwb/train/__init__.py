"""Training: the loop, losses, schedules and background jobs.

    from synthwb.train import TrainConfig, train
    info = train("btc-hybrid", "btc-1h", "hybrid-horizon", TrainConfig(epochs=3))
    info.run_id, info.status, info.best          # the run lives in models_store/<run_id>/

Background use (the Train page): ``get_registry().submit("train", name, train_job, name=...,
featureset=..., model_spec=..., config=...)``.
"""
from .config import TrainConfig
from .loop import RunInfo, TrainingFailed, train, train_job

__all__ = ["RunInfo", "TrainConfig", "TrainingFailed", "train", "train_job"]

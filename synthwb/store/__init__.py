"""models_store: all file I/O for runs, feature sets, model specs and backtests (README "Layout").

It sits just above ``core`` and deals in plain values (dicts, frames, tensors); the layer
that owns a type (features, models, forecast, evaluate) rebuilds it from what is read here.
"""
from synthwb.store.runs import (  # noqa: F401
    Run,
    RunRecord,
    create_run,
    delete_run,
    list_runs,
    load_run,
    read_info,
    read_metrics,
    rename_run,
    run_dir,
    update_run,
    usable_runs,
)

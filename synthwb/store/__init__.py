"""models_store: save, list and load training runs (DESIGN.md §6)."""
from .runs import (  # noqa: F401
    Run,
    create_run,
    delete_run,
    list_runs,
    load_model,
    load_run,
    read_info,
    read_metrics,
    rename_run,
    run_dir,
    update_run,
)


def load_forecaster(run_id, store=None, device="auto", which="best", root=None):
    """A :class:`synthwb.store.forecaster.RunForecaster` for a saved run (see that module)."""
    from .forecaster import load_forecaster as _load

    return _load(run_id, store=store, device=device, which=which, root=root)

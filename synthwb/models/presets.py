"""Named model specs to start from."""
from __future__ import annotations

import os

from synthwb.core.errors import NotFound, SpecError
from synthwb.models.spec import ModelSpec, load_spec, read_spec_file

PRESETS: dict[str, dict] = {
    "anchored-term": {
        "help": "GBM with EWMA vol as the anchor (blended towards range-based vol), a learned intraday "
                "vol profile, a GRU reading the features and a term head (vol level, mean reversion, small drift, "
                "tails); trains in minutes on a CPU; needs no realised-measure feature",
        "blocks": [{"name": "gru", "params": {"hidden": 32}}],
        "head": {"name": "term", "params": {}},
        "d_model": 32, "norm_between": False, "dropout": 0.1,
    },
    "anchored-har": {
        "help": "recommended: a classical variance forecast per horizon as the anchor (1h / 4h / 24h log-HAR "
                "on the range-based, hour-of-week-deseasonalised realised variance of the finest stored bars, "
                "fitted on the training split, spread over the hours between horizons by the hour-of-week profile), a "
                "learned intraday vol profile, a GRU reading the features and a term head (vol level, mean "
                "reversion, small drift, tails); an untrained model is that classical forecast, and training is "
                "kept only where it beats it on validation; needs the har_anchor feature (in the default feature "
                "set); trains in minutes on a CPU",
        "recommended": True,
        "blocks": [{"name": "gru", "params": {"hidden": 32}}],
        "head": {"name": "term", "params": {}},
        "d_model": 32, "norm_between": False, "dropout": 0.1, "anchor": "har",
    },
    "hybrid-horizon": {
        "help": "DLinear -> TimesNet -> TimeMixer -> DLinear with a Horizon head (per-step drift and vol)",
        "blocks": [{"name": "dlinear", "params": {"kernel": 25}},
                   {"name": "timesnet", "params": {"top_k": 3, "num_kernels": 3}},
                   {"name": "timemixer", "params": {"layers": 2}},
                   {"name": "dlinear", "params": {"kernel": 13}}],
        "head": {"name": "horizon", "params": {}},
        "d_model": 64, "norm_between": True,
    },
    "dlinear-gbm": {
        "help": "light: one DLinear block and a GBM head (one drift and vol per sample)",
        "blocks": [{"name": "dlinear", "params": {"kernel": 25}}],
        "head": {"name": "gbm", "params": {}},
        "d_model": 16, "norm_between": False,
    },
    "transformer-mixture": {
        "help": "two causal Transformer encoder layers and a 3-component mixture density head",
        "blocks": [{"name": "transformer", "params": {"causal": True}},
                   {"name": "transformer", "params": {"causal": True}}],
        "head": {"name": "mixture", "params": {"components": 3}},
        "d_model": 64, "norm_between": False,
    },
    "patchtst-student": {
        "help": "RevIN -> PatchTST patches -> Student-t horizon head (fat tails)",
        "blocks": [{"name": "revin", "params": {}},
                   {"name": "patchtst", "params": {"patch_len": 16, "stride": 8, "layers": 2}}],
        "head": {"name": "student_t", "params": {}},
        "d_model": 64, "norm_between": False,
    },
    "tcn-bridge": {
        "help": "causal TCN -> LSTM with a neural bridge head (macro return + pinned texture)",
        "blocks": [{"name": "tcn", "params": {"levels": 5}}, {"name": "lstm", "params": {"hidden": 64}}],
        "head": {"name": "bridge", "params": {}},
        "d_model": 32, "norm_between": True,
    },
}


def preset_names() -> list[str]:
    return list(PRESETS)


def recommended_preset() -> str:
    """The preset the defaults use (marked ``"recommended": true``)."""
    return next(k for k, v in PRESETS.items() if v.get("recommended"))


def get_preset(name: str, n_features: int, context: int = 256, horizon: int = 288, **overrides) -> ModelSpec:
    """The preset ``name`` sized for ``n_features`` input features, ``context`` bars and ``horizon`` steps."""
    if name not in PRESETS:
        raise NotFound(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    p = {k: v for k, v in PRESETS[name].items() if k not in ("help", "recommended")}
    return ModelSpec.from_dict({**p, "n_features": n_features, "context": context, "horizon": horizon, **overrides})


def as_spec(model_spec, n_features: int, store=None, context: int | None = None,
            horizon: int | None = None) -> ModelSpec:
    """A ModelSpec from a ModelSpec, a dict, a JSON file, a preset name (sized for
    ``n_features`` and ``context``/``horizon``, preset defaults when None) or a saved spec name."""
    if isinstance(model_spec, ModelSpec):
        return model_spec
    if isinstance(model_spec, dict):
        return ModelSpec.from_dict(model_spec)
    if isinstance(model_spec, (str, os.PathLike)):
        text = str(model_spec)
        if text.endswith(".json"):
            return read_spec_file(text)
        if text in PRESETS:
            kw = {k: int(v) for k, v in (("context", context), ("horizon", horizon)) if v is not None}
            return get_preset(text, n_features=int(n_features), **kw)
        try:
            return load_spec(text, store)
        except NotFound as exc:
            raise NotFound(f"no preset or saved model spec named {text!r}; presets: {', '.join(PRESETS)} "
                           f"(see `synthwb models presets`); {str(exc).split('; ', 1)[-1].replace('saved:', 'saved specs:')}") from None
    raise SpecError(f"model_spec must be a ModelSpec, dict, preset or spec name, not {type(model_spec).__name__}")

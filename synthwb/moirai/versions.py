"""Which uni2ts features work with the installed gluonts / torch, each with the exact reason.

:func:`capabilities` returns the table the page and ``synthwb moirai checkpoints`` show (and
the README copies). Rows marked ``probed`` are checked on this install when the table is
built (cheap checks only: package metadata and module lookups, no model is run); the others
are facts measured on uni2ts 2.0.0 + gluonts 0.17 + torch 2.13.
"""
from __future__ import annotations

import importlib.util
from importlib import metadata

PACKAGES = ("uni2ts", "gluonts", "torch", "lightning", "huggingface_hub", "pandas", "python-dotenv")


def installed_versions() -> dict[str, str | None]:
    """Versions of the packages Moirai depends on (None: not installed), from their metadata."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _major_minor(v: str | None) -> tuple[int, int]:
    try:
        a, b = (v or "0.0").split(".")[:2]
        return int(a), int("".join(ch for ch in b if ch.isdigit()) or 0)
    except ValueError:
        return (0, 0)


def capabilities(probe: bool = True) -> list[dict]:
    """Rows ``{feature, status, reason, probed}``; ``status`` is ``works``, ``limited``,
    ``broken`` or ``missing``."""
    v = installed_versions()
    rows: list[dict] = []

    def row(feature: str, status: str, reason: str, probed: bool = False) -> None:
        rows.append({"feature": feature, "status": status, "reason": reason, "probed": probed})

    if probe and v["uni2ts"] is None:
        row("uni2ts", "missing", "uni2ts is not installed: pip install --no-deps uni2ts==2.0.0 "
            "(see requirements-nodeps.txt)", True)
        return rows
    row("Moirai 1.x module (MoiraiModule) + tensor path", "works",
        "MoiraiForecast(...)(past_target, past_observed_target, past_is_pad, past_feat_dynamic_real, ...) "
        "gives the same samples as the gluonts predictor at the same seed (tested)")
    row("Moirai 1.x gluonts predictor", "works",
        f"MoiraiForecast.create_predictor on gluonts {v['gluonts']}; use pandas frequencies 'h'/'min', never "
        "'H'/'T' (deprecated in pandas >= 2.2)")
    row("synthwb fast sampling", "works",
        "only the target's prediction tokens are sampled (uni2ts's forward samples the mixture for every packed "
        "token): 15-30x faster as first measured, 7x (60x with auto) in bench_moirai.py with the tiny module; "
        "same distribution, quantiles equal within Monte-Carlo noise (tested)")
    row('patch_size="auto" (Moirai 1.x)', "limited",
        "uni2ts runs and samples every patch size (6-14x slower); synthwb scores each on the history's last "
        "horizon and samples only the chosen one, but still runs one forward per patch size")
    row("NaN in the target", "limited",
        "NaN values break the mixture (NaN loc/scale); synthwb zero-fills them and marks them unobserved")
    row("history shorter than the context", "works", "left-padded and flagged in past_is_pad")
    row("Moirai-MoE forecast", "limited",
        "MoiraiMoEForecast works with a fixed patch size (16); synthwb's forecaster runs the 1.x family only")
    row('Moirai-MoE patch_size="auto"', "broken", "MoiraiMoEForecast raises a TypeError with patch_size='auto'")
    row("Moirai-MoE centroid buffer", "limited",
        "TransformerEncoder registers 'centroid' with torch.empty: uninitialised memory until a checkpoint's "
        "weights (or an explicit fill) set it; never forecast with a freshly built MoE module")
    m2 = _has_module("uni2ts.model.moirai2") if probe else True
    row("Moirai 2.0 module forward", "works" if m2 else "missing",
        "Moirai2Module / Moirai2Forecast forward work (quantile outputs, not samples)" if m2 else
        "uni2ts.model.moirai2 is not in this uni2ts", probe)
    row("Moirai 2.0 forecast, zero-shot runs, backtest and compare", "works" if m2 else "missing",
        "its 9 quantiles per step (Moirai2Forecast.forward) become 1000 joint price paths through synthwb's "
        "quantiles-to-paths layer (synthwb.forecast.quantiles: PCHIP marginals with fitted tails, random-walk "
        "Gaussian copula, per-path volatility factor; tested to score within 1% of the true process's own paths "
        "for GBM and stochastic volatility); any task step (a 5-minute model serves the 1-minute 1h task); the "
        "paths' dependence is the layer's assumption, not the model's" if m2 else
        "needs uni2ts.model.moirai2", probe)
    g = _major_minor(v["gluonts"])
    row("Moirai 2.0 gluonts predictor", "broken" if g >= (0, 17) else "works",
        f"on gluonts {v['gluonts']} its QuantileForecastGenerator expects another output shape and fails; "
        "use the module's own forward", probe)
    ft_moe = probe and _has_module("uni2ts.model.moirai_moe.finetune")
    ft_m2 = probe and _has_module("uni2ts.model.moirai2.finetune")
    row("fine-tuning Moirai-MoE / 2.0", "works" if (ft_moe and ft_m2) else "missing",
        "uni2ts 2.0.0 ships no MoiraiMoEFinetune / Moirai2Finetune: zero-shot only" if not (ft_moe and ft_m2)
        else "fine-tune classes found", probe)
    t = _major_minor(v["torch"])
    row("MoiraiFinetune Lightning checkpoints", "broken" if t >= (2, 6) else "works",
        f"they pickle the loss object, so torch {v['torch']} (>= 2.6: weights_only=True by default) refuses to "
        "load them; synthwb saves the module's state_dict as safetensors instead", probe)
    cli = _has_module("uni2ts.cli") if probe else False
    row("uni2ts cli/ (hydra training scripts)", "works" if cli else "missing",
        "present" if cli else "the uni2ts 2.0.0 wheel has no cli/ package; synthwb has its own fine-tune loop",
        probe)
    dot = v["python-dotenv"] is not None
    row("uni2ts.data.builder.simple", "works" if dot else "missing",
        "python-dotenv is installed" if dot else "importing it needs python-dotenv (not installed); synthwb "
        "does not use it (its windows come from the feature sets)", probe)
    return rows


def table_markdown(rows: list[dict] | None = None) -> str:
    """The capability table as Markdown (for the README)."""
    rows = capabilities() if rows is None else rows
    lines = ["| feature | status | reason |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['feature']} | {r['status']} | {r['reason'].replace('|', '/')} |")
    return "\n".join(lines)

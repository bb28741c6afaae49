"""Models: block registry + blocks, heads, backbone assembly, path simulation (../shared/DESIGN.md §4).

    from synthwb.models import build_model, get_preset, validate_spec
    spec = get_preset("hybrid-horizon", n_features=16, context=256, horizon=288)
    validate_spec(spec)                      # SpecError names a breaking block
    out = build_model(spec)(x, last_close, n_paths=1000, generator=torch.Generator().manual_seed(0))
    out.paths                                # (B, 1000, 289) prices, out.paths[:, :, 0] == last_close

Names are imported lazily so that the CLI's start-up does not import torch.
"""
from __future__ import annotations

from synthwb.core.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["LayerInfo", "PathModel", "PathOutput", "build_model", "chain_lengths", "validate_spec"], "backbone"),
    **dict.fromkeys(["PRESETS", "as_spec", "get_preset", "preset_names", "recommended_preset"], "presets"),
    **dict.fromkeys(["BLOCKS", "HEADS"], "registry"),
    **dict.fromkeys(["LayerSpec", "ModelSpec", "delete_spec", "list_specs", "load_spec", "read_spec_file", "save_spec"], "spec"),
    **dict.fromkeys(["apply_order", "move"], "stack"),
    **dict.fromkeys(["summary", "total_params"], "layer_summary"),
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

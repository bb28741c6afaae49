"""Models: block registry + blocks, heads, backbone assembly, path simulation (DESIGN.md §4).

    from synthwb.models import build_model, get_preset, validate_spec
    spec = get_preset("hybrid-horizon", n_features=16, context=256, horizon=288)
    validate_spec(spec)                      # SpecError names a breaking block
    out = build_model(spec)(x, last_close, n_paths=1000, generator=torch.Generator().manual_seed(0))
    out.paths                                # (B, 1000, 289) prices, out.paths[:, :, 0] == last_close
"""
from .backbone import LayerInfo, PathModel, PathOutput, build_model, chain_lengths, validate_spec
from .presets import PRESETS, get_preset, preset_names
from .registry import BLOCKS, HEADS
from .spec import LayerSpec, ModelSpec, delete_spec, list_specs, load_spec, read_spec_file, save_spec
from .summary import summary, total_params

__all__ = [
    "BLOCKS", "HEADS", "LayerInfo", "LayerSpec", "ModelSpec", "PRESETS", "PathModel", "PathOutput",
    "build_model", "chain_lengths", "delete_spec", "get_preset", "list_specs", "load_spec", "preset_names",
    "read_spec_file", "save_spec", "summary", "total_params", "validate_spec",
]

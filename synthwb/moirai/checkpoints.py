"""Moirai checkpoints: the catalogue, loading (hub id or local folder) and a tiny test module.

A checkpoint is either a Hugging Face hub id (``Salesforce/moirai-1.1-R-small``), loaded with
uni2ts's own ``MoiraiModule.from_pretrained`` (huggingface_hub: the HF cache, then the hub), or
a local folder in the same layout (``config.json`` + ``model.safetensors``, as written by
``save_pretrained`` or ``huggingface-cli download ID --local-dir DIR``). Every published Moirai
weight is CC-BY-NC-4.0 (non-commercial); the catalogue says so for each.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthwb.core.errors import NotFound, SpecError
from synthwb.core.logs import library_stream

LICENCE = "CC-BY-NC-4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by-nc/4.0/"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
FAMILIES = ("moirai", "moirai-moe", "moirai-2")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class CheckpointInfo:
    """One known checkpoint. ``forecast``/``finetune``: what synthwb can do with it here."""

    id: str
    family: str
    size: str
    params: str
    d_model: int
    num_layers: int
    patch_sizes: tuple[int, ...]
    max_seq_len: int
    forecast: bool
    finetune: bool
    licence: str = LICENCE
    limits: tuple[str, ...] = field(default_factory=tuple)

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.id}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["patch_sizes"] = list(self.patch_sizes)
        d["limits"] = list(self.limits)
        d["url"] = self.url
        return d


_P = (8, 16, 32, 64, 128)
_MOE_LIMITS = (
    "uni2ts 2.0.0 has no fine-tune class for Moirai-MoE: zero-shot only",
    'patch_size="auto" raises a TypeError in MoiraiMoEForecast: use a fixed patch size (16)',
    "the expert centroid buffer is uninitialised memory until the checkpoint's weights set it",
    "decodes autoregressively: much slower than Moirai 1.x per forecast",
)
_M2_LIMITS = (
    "uni2ts 2.0.0 has no fine-tune class for Moirai 2.0: zero-shot only",
    ("its gluonts predictor breaks on gluonts 0.17 (QuantileForecastGenerator expects another "
     "output shape); the module's own forward works"),
    ("it predicts 9 quantiles per step, not samples: synthwb joins them into joint price paths with its "
     "quantiles-to-paths layer (synthwb.forecast.quantiles: fitted tails, random-walk Gaussian copula, per-path "
     "volatility factor), so the paths' dependence is synthwb's assumption, not the model's"),
)

CATALOGUE: dict[str, CheckpointInfo] = {c.id: c for c in (
    CheckpointInfo("Salesforce/moirai-1.1-R-small", "moirai", "small", "14M", 384, 6, _P, 512, True, True),
    CheckpointInfo("Salesforce/moirai-1.1-R-base", "moirai", "base", "91M", 768, 12, _P, 512, True, True),
    CheckpointInfo("Salesforce/moirai-1.1-R-large", "moirai", "large", "311M", 1024, 24, _P, 512, True, True,
                   limits=("slow on CPU: about 20x the small model per forecast",)),
    CheckpointInfo("Salesforce/moirai-moe-1.0-R-small", "moirai-moe", "small", "11M active / 117M", 384, 6,
                   (16,), 512, True, False, limits=_MOE_LIMITS),
    CheckpointInfo("Salesforce/moirai-moe-1.0-R-base", "moirai-moe", "base", "86M active / 935M", 768, 12,
                   (16,), 512, True, False, limits=_MOE_LIMITS),
    CheckpointInfo("Salesforce/moirai-2.0-R-small", "moirai-2", "small", "11M", 384, 6, (16,), 1024, True,
                   False, limits=_M2_LIMITS),
)}


def catalogue() -> list[dict]:
    """The known checkpoints as plain dicts (for tables, the page and ``--json``)."""
    return [c.to_dict() for c in CATALOGUE.values()]


def family_of_config(cfg: dict) -> str:
    """Which Moirai family a ``config.json`` describes (from its constructor arguments)."""
    if "quantile_levels" in cfg or "num_predict_token" in cfg:
        return "moirai-2"
    if "d_ff" in cfg:
        return "moirai-moe"
    return "moirai"


def module_class(family: str):
    """The uni2ts module class of a family."""
    if family == "moirai":
        from uni2ts.model.moirai import MoiraiModule

        return MoiraiModule
    if family == "moirai-moe":
        from uni2ts.model.moirai_moe import MoiraiMoEModule

        return MoiraiMoEModule
    if family == "moirai-2":
        from uni2ts.model.moirai2 import Moirai2Module

        return Moirai2Module
    raise SpecError(f"unknown Moirai family {family!r}; one of {', '.join(FAMILIES)}")


@dataclass
class LoadedCheckpoint:
    """A loaded module (eval mode, CPU) and what is known about it."""

    module: Any
    info: dict

    @property
    def family(self) -> str:
        return self.info["family"]


def _family_from_id(hub_id: str) -> str:
    if hub_id in CATALOGUE:
        return CATALOGUE[hub_id].family
    low = hub_id.lower()
    if "moirai-2" in low:
        return "moirai-2"
    if "moe" in low:
        return "moirai-moe"
    return "moirai"


def is_local(id_or_dir: str | os.PathLike) -> bool:
    return Path(id_or_dir).expanduser().is_dir()


def read_config(folder: str | os.PathLike) -> dict:
    """The ``config.json`` of a local checkpoint folder (checked: both files present, valid JSON)."""
    path = Path(folder).expanduser()
    missing = [n for n in (CONFIG, WEIGHTS) if not (path / n).is_file()]
    if missing:
        raise SpecError(f"{path} is not a Moirai checkpoint folder: it has no {' and no '.join(missing)} "
                        f"(expected {CONFIG} + {WEIGHTS}, as save_pretrained or huggingface-cli download "
                        "write them)")
    try:
        cfg = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path / CONFIG} is not valid JSON ({exc})") from None
    if not isinstance(cfg, dict) or "d_model" not in cfg:
        raise SpecError(f"{path / CONFIG} is not a Moirai config (no d_model)")
    return cfg


def _describe(module, family: str, source: str, ref: str, path: str | None) -> dict:
    known = CATALOGUE.get(ref)
    patch = getattr(module, "patch_sizes", None)
    if patch is None:
        patch = (int(getattr(module, "patch_size", 16)),)
    info = {
        "checkpoint": ref, "source": source, "path": path, "family": family,
        "d_model": int(module.d_model), "num_layers": int(module.num_layers),
        "patch_sizes": [int(p) for p in patch], "max_seq_len": int(module.max_seq_len),
        "n_params": int(sum(p.numel() for p in module.parameters())),
        "licence": known.licence if known else LICENCE,
        "forecast": known.forecast if known else family in ("moirai", "moirai-2"),
        "finetune": known.finetune if known else family == "moirai",
        "limits": list(known.limits) if known else [],
    }
    if source == "local" and not known:
        info["licence"] = f"{LICENCE} for Salesforce's weights; check where this folder's weights come from"
    return info


_cache: dict[tuple, LoadedCheckpoint] = {}
_cache_lock = threading.Lock()


def load_checkpoint(id_or_dir: str | os.PathLike, cache: bool = True,
                    local_files_only: bool = False) -> LoadedCheckpoint:
    """Load a Moirai checkpoint: a local folder (``config.json`` + ``model.safetensors``) or a hub
    id. Hub ids go through ``<Module>.from_pretrained(hub_id)`` (huggingface_hub: the HF cache,
    else a download). Without network and cache this raises :class:`NotFound` saying how to
    download the folder. ``cache``: share one loaded module per checkpoint (do not train it).
    ``local_files_only``: a hub id is read from the HF cache only (no network attempt)."""
    ref = str(id_or_dir).strip()
    if not ref:
        raise SpecError("no Moirai checkpoint given (a hub id such as Salesforce/moirai-1.1-R-small or a folder)")
    if is_local(ref):
        path = Path(ref).expanduser().resolve()
        cfg = read_config(path)
        key = ("local", str(path), (path / WEIGHTS).stat().st_mtime_ns)
        family, source, location = family_of_config(cfg), "local", str(path)
    elif _HUB_ID.match(ref) and not ref.startswith((".", "/", "~")):
        key, family, source, location = ("hub", ref), _family_from_id(ref), "hub", None
        path = None
    else:
        raise SpecError(f"checkpoint {ref!r} is neither a folder (config.json + model.safetensors) nor a hub id "
                        "like Salesforce/moirai-1.1-R-small")
    if cache:
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None:
            return hit
    cls = module_class(family)
    if path is not None:
        try:
            with contextlib.redirect_stdout(library_stream()):  # the hub mixin prints; stdout is --json's
                module = cls.from_pretrained(str(path))
        except Exception as exc:  # noqa: BLE001 - a broken folder must read as a clear error
            raise SpecError(f"cannot load the Moirai checkpoint in {path}: {type(exc).__name__}: {exc}") from None
    else:
        try:
            with contextlib.redirect_stdout(library_stream()):
                module = cls.from_pretrained(ref, local_files_only=bool(local_files_only))
        except Exception as exc:  # noqa: BLE001 - no network / unknown repo
            where = "the Hugging Face cache" if local_files_only else "the Hugging Face hub or its cache"
            raise NotFound(
                f"cannot load {ref!r} from {where} ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}). On a machine with network access run "
                f"`huggingface-cli download {ref} --local-dir DIR` (or let from_pretrained fill the HF cache), "
                "then pass DIR as the checkpoint") from None
    module.eval()
    loaded = LoadedCheckpoint(module, _describe(module, family, source, ref, location))
    if cache:
        with _cache_lock:
            _cache[key] = loaded
    return loaded


def module_config(module) -> dict:
    """The JSON config of a loaded module (what ``config.json`` holds), to rebuild it later."""
    cfg = getattr(module, "_hub_mixin_config", None)
    if not isinstance(cfg, dict):
        raise SpecError("this module carries no hub config (build it with from_pretrained or the constructor)")
    from uni2ts.model.moirai.module import encode_distr_output

    out = {}
    for k, v in cfg.items():
        if k == "distr_output" and not isinstance(v, dict):
            v = encode_distr_output(v)
        out[k] = list(v) if isinstance(v, tuple) else v
    return json.loads(json.dumps(out))


def build_module(config: dict, family: str = "moirai"):
    """A module from a ``config.json`` dict (random weights; load a state dict into it)."""
    cls = module_class(family)
    kw = dict(config)
    if "distr_output" in kw and isinstance(kw["distr_output"], dict):
        from uni2ts.model.moirai.module import decode_distr_output

        kw["distr_output"] = decode_distr_output(kw["distr_output"])
    if "patch_sizes" in kw:
        kw["patch_sizes"] = tuple(kw["patch_sizes"])
    try:
        return cls(**kw)
    except TypeError as exc:
        raise SpecError(f"the saved Moirai config does not fit {cls.__name__}: {exc}") from None


def make_tiny_checkpoint(folder: str | os.PathLike, seed: int = 0, d_model: int = 64, num_layers: int = 2,
                         patch_sizes: tuple[int, ...] = _P, max_seq_len: int = 512) -> Path:
    """Write a tiny randomly initialised MoiraiModule (Moirai 1.1's mixture output) with
    ``save_pretrained`` into ``folder`` (config.json + model.safetensors); returns the folder."""
    import torch
    from uni2ts.distribution import (
        LogNormalOutput,
        MixtureOutput,
        NegativeBinomialOutput,
        NormalFixedScaleOutput,
        StudentTOutput,
    )
    from uni2ts.model.moirai import MoiraiModule

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = MoiraiModule(
            distr_output=MixtureOutput([StudentTOutput(), NormalFixedScaleOutput(), NegativeBinomialOutput(),
                                        LogNormalOutput()]),
            d_model=d_model, num_layers=num_layers, patch_sizes=tuple(patch_sizes), max_seq_len=max_seq_len,
            attn_dropout_p=0.0, dropout_p=0.0, scaling=True)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{os.getpid()}-{threading.get_ident()}"
    module.save_pretrained(str(tmp))  # into a temp folder, then renamed: never half-written
    for name in (CONFIG, WEIGHTS):
        os.replace(tmp / name, folder / name)
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return folder


def make_tiny_moirai2_checkpoint(folder: str | os.PathLike, seed: int = 0, d_model: int = 64, num_layers: int = 2,
                                 patch_size: int = 16, max_seq_len: int = 512, num_predict_token: int = 2) -> Path:
    """Write a tiny randomly initialised Moirai2Module (nine quantile levels 0.1 .. 0.9, as
    Salesforce/moirai-2.0-R-small) with ``save_pretrained`` into ``folder``; returns the folder."""
    import shutil

    import torch
    from uni2ts.model.moirai2 import Moirai2Module

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = Moirai2Module(d_model=d_model, d_ff=2 * d_model, num_layers=num_layers, patch_size=patch_size,
                               max_seq_len=max_seq_len, attn_dropout_p=0.0, dropout_p=0.0, scaling=True,
                               num_predict_token=num_predict_token)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{os.getpid()}-{threading.get_ident()}"
    module.save_pretrained(str(tmp))
    for name in (CONFIG, WEIGHTS):
        os.replace(tmp / name, folder / name)
    shutil.rmtree(tmp, ignore_errors=True)
    return folder

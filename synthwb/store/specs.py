"""Saved model specs: ``<store>/_specs/<name>.json``, written atomically.
:class:`synthwb.models.spec.ModelSpec` validates what is read here."""
from __future__ import annotations

import os
from pathlib import Path

from synthwb.core.config import specs_dir
from synthwb.core.errors import NotFound
from synthwb.core.io import atomic_write_json, check_slug, read_json_file

Store = str | os.PathLike | None


def spec_path(name: str, store: Store = None) -> Path:
    return specs_dir(store) / f"{check_slug(name, 'spec name')}.json"


def write_spec(name: str, record: dict, store: Store = None) -> Path:
    path = spec_path(name, store)
    atomic_write_json(path, record)
    return path


def read_spec(name: str, store: Store = None) -> dict:
    path = spec_path(name, store)
    if not path.is_file():
        have = ", ".join(list_specs(store)) or "none"
        raise NotFound(f"no saved model spec named {name!r}; saved: {have}")
    return read_json_file(path, "spec file")


def list_specs(store: Store = None) -> list[str]:
    d = specs_dir(store)
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def delete_spec(name: str, store: Store = None) -> None:
    path = spec_path(name, store)
    if not path.is_file():
        raise NotFound(f"no saved model spec named {name!r}")
    path.unlink()

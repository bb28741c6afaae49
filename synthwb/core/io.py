"""Atomic file writes: write to a temp file in the same folder, fsync, then rename.

A reader never sees a half-written file and a crash leaves the previous version intact.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synthwb.core.errors import NotFound, SpecError

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


def slugify(text: str) -> str:
    """Turn free text into a readable slug: lower case, [a-z0-9._-], at most 80 chars."""
    s = re.sub(r"[^a-z0-9._-]+", "-", str(text).strip().lower()).strip("-._")
    return s[:80].strip("-._")


def check_slug(name: str, what: str = "name") -> str:
    """Validate a name that becomes a path component; never let user text escape a folder."""
    if not isinstance(name, str) or not _SLUG.match(name) or ".." in name:
        raise SpecError(
            f"invalid {what} {name!r}: use 1-80 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_writable(path: str | os.PathLike, what: str = "output", folder: bool | None = None) -> Path:
    """Refuse, before any work starts, an output path that cannot be written: a NUL or an
    over-long name, a file where a folder is needed (or the other way round), or a parent that
    cannot be created (``/proc/nope/x.csv``). Nothing is created: the nearest existing folder
    is probed with a temporary file that is removed at once. ``folder``: True when ``path`` is
    a folder to write into, False for a file, None to decide by its suffix."""
    text = os.fspath(path)
    if not text or "\0" in text:
        raise SpecError(f"invalid {what} path {text!r}; give a file or folder name without NUL characters")
    p = Path(text).expanduser()
    if folder is None:
        folder = not p.suffix
    if any(len(part.encode()) > 255 for part in p.parts):
        raise SpecError(f"{what} path {text[:60]!r}...: a name in it is longer than 255 bytes; use a shorter name")
    if p.exists():
        if folder and not p.is_dir():
            raise SpecError(f"{what} {text!r} is a file, not a folder; give a folder (or a .csv file name)")
        if not folder and p.is_dir():
            raise SpecError(f"{what} {text!r} is a folder; give a file name")
    base = p if (folder and p.is_dir()) else p.parent
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise SpecError(f"cannot write {what} {text!r}: {str(base)!r} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        raise SpecError(f"cannot write {what} {text!r}: {base} is not writable ({exc.strerror or exc}); "
                        "choose another path") from None
    return p


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line (a line is written with a single write call, then flushed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=float) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSONL file, skipping a torn last line (a crash mid-append)."""
    out: list[dict] = []
    p = Path(path)
    if not p.exists():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


_JSON_KINDS = {dict: "a JSON object {...}", list: "a JSON list [...]", str: "a string", bool: "true/false",
               int: "a number", float: "a number", type(None): "null"}


def read_json_file(path: str | os.PathLike, what: str = "file", expect: type | None = dict) -> Any:
    """A user's JSON file (a spec, a config, a task). A missing or unreadable one raises an
    error naming the file and what it was meant to be, e.g. ``what="model spec file"``; so does
    one whose top level is not of type ``expect`` (a JSON object by default; None: anything)."""
    p = Path(path)
    if not p.is_file():
        raise NotFound(f"{what} {str(p)!r} does not exist")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"cannot read {what} {str(p)!r}: {exc}") from None
    if expect is not None and not isinstance(data, expect):
        raise SpecError(f"{what} {str(p)!r} holds {_JSON_KINDS.get(type(data), type(data).__name__)}; "
                        f"it must be {_JSON_KINDS.get(expect, expect.__name__)}")
    return data

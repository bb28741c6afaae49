"""Atomic file writes: write to a temp file in the same folder, fsync, then rename.

A reader never sees a half-written file and a crash leaves the previous version intact. A
write that fails (a full disk, a read-only folder) raises :class:`WriteFailed` naming the file
and the free space, and leaves nothing behind. Also the one bounded reader of users' JSON files
(:func:`read_json_file`) and the one check of user-given names (:func:`check_name`).
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synthwb.core.errors import InvalidName, NotFound, SpecError, WriteFailed

_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
SLUG_RULE = "use 1-80 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"


def slugify(text: str) -> str:
    """Turn free text into a readable slug: lower case, [a-z0-9._-], at most 80 chars."""
    s = re.sub(r"[^a-z0-9._-]+", "-", str(text).strip().lower()).strip("-._")
    return s[:80].strip("-._")


def check_name(name: Any, what: str, pattern: re.Pattern, rule: str, max_len: int) -> str:
    """The one check of a user-given name (a symbol, a feature set, a run, a spec): a string of at
    most ``max_len`` characters, no control character (a trailing newline, a tab, a NUL), no
    ``..``, and the whole of it matching ``pattern`` (``fullmatch``: a ``$`` would let a final
    newline through). Raises :class:`InvalidName` saying which rule it broke and ``rule``."""
    if not isinstance(name, str):
        raise InvalidName(f"invalid {what} {name!r}: {rule}")
    shown = repr(name if len(name) <= 48 else name[:40] + "...")
    if not name:
        raise InvalidName(f"invalid {what} '': it is empty; {rule}")
    if _CONTROL.search(name):
        raise InvalidName(f"invalid {what} {shown}: it holds a control character (a newline, tab or NUL); {rule}")
    if len(name) > max_len:
        raise InvalidName(f"invalid {what} {shown}: {len(name)} characters, more than {max_len}; {rule}")
    if not pattern.fullmatch(name) or ".." in name:
        raise InvalidName(f"invalid {what} {shown}: {rule}")
    return name


def check_label(name: Any, what: str, max_len: int = 200) -> str:
    """A free-text name that is slugified before use (a run name): still no control character
    and a sane length, so what the user typed is what the listing shows."""
    return check_name(name, what, re.compile(r".+", re.S), f"give 1-{max_len} printable characters", max_len)


def check_slug(name: str, what: str = "name") -> str:
    """Validate a name that becomes a path component; never let user text escape a folder."""
    return check_name(name, what, _SLUG, SLUG_RULE, 80)


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


_DISK_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                errno.EFBIG: "file too large for the filesystem", errno.EROFS: "read-only filesystem",
                errno.EACCES: "permission denied", errno.EPERM: "permission denied"}


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free bytes on the filesystem holding ``path`` (its nearest existing folder); None if unknown."""
    p = Path(path).expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def check_free_space(path: str | os.PathLike, need: int, what: str = "output") -> None:
    """Refuse, before a long write, one that cannot fit: ``need`` bytes (plus a 1 MB margin)
    against the free space where ``path`` will be written."""
    free = free_bytes(path)
    if free is not None and free < need + (1 << 20):
        raise WriteFailed(f"cannot write {what} {str(path)!r}: it needs about {_mb(need)} but only {_mb(free)} is "
                          "free on that disk; free some space or choose another folder")


_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def disk_errno(exc: BaseException) -> int | None:
    """The errno of a failed write when it is the disk's fault (full, quota, read-only, denied):
    an OSError's own, or the ``(os error N)`` a Rust writer (polars) puts in its message."""
    if isinstance(exc, WriteFailed):
        return None
    code = getattr(exc, "errno", None)
    if code is None:
        m = _OS_ERROR.search(str(exc))
        code = int(m.group(1)) if m else None
    return code if code in _DISK_ERRORS else None


def write_failed(path: str | os.PathLike, exc: BaseException, what: str = "file") -> WriteFailed:
    """A failed write as the one-line :class:`WriteFailed` (what, where, why, free space)."""
    code = disk_errno(exc)
    why = _DISK_ERRORS.get(code or 0) or getattr(exc, "strerror", None) or str(exc)
    free = free_bytes(Path(path).parent)
    room = f" ({_mb(free)} free there)" if free is not None and code in (errno.ENOSPC, errno.EDQUOT) else ""
    return WriteFailed(f"cannot write {what} {str(path)!r}: {why}{room}; nothing was written. "
                       "Free some space or choose another folder")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path``, else delete it.
    An OSError of the write (a full disk) becomes :class:`WriteFailed`, the temp file removed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise write_failed(path, exc) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_file():
            os.chmod(tmp_path, 0o666 & ~_umask())  # an output file, readable like any other (mkstemp: 0600)
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException as exc:
        _remove(tmp_path)
        if disk_errno(exc) is None:
            raise
        raise write_failed(path, exc) from None


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_all(files: Mapping[str | os.PathLike, str | bytes], what: str = "output") -> list[Path]:
    """Write several files all or none: the free space is checked for all of them first, each
    is written to a temp file beside it, and only when every one is complete are they renamed
    into place. A failure (a full disk) removes every temp file and raises :class:`WriteFailed`."""
    items = [(Path(p), d.encode("utf-8") if isinstance(d, str) else bytes(d)) for p, d in files.items()]
    if not items:
        return []
    check_free_space(items[0][0].parent, sum(len(d) for _, d in items), what)
    done: list[tuple[Path, Path]] = []
    try:
        for path, data in items:  # every file complete and on disk under a temp name ...
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            done.append((Path(tmp), path))
            Path(tmp).write_bytes(data)
            os.chmod(tmp, 0o666 & ~_umask())
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        for tmp, path in done:  # ... before any takes its name
            os.replace(tmp, path)
    except BaseException as exc:
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)
        if disk_errno(exc) is None:
            raise
        raise write_failed(items[0][0], exc, what) from None
    return [p for p, _ in items]


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
MAX_JSON_BYTES = 64 << 20     # a response of 1000 paths x 289 points is about 4 MB
MAX_JSON_DEPTH = 64           # a spec nests a handful of levels
MAX_JSON_INT = 2**63 - 1      # integers beyond 64 bits mean nothing to any setting
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


class _BadNumber(ValueError):
    pass


def _parse_int(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > 19 or abs(int(text)) > MAX_JSON_INT:
        shown = text if len(text) <= 24 else f"{text[:12]}... ({len(digits)} digits)"
        raise _BadNumber(f"holds the integer {shown}, beyond the 64-bit range (at most {MAX_JSON_INT}); "
                         "give a smaller number")
    return int(text)


def json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep ``text``'s lists and objects nest (strings skipped), counting up to ``limit + 1``."""
    depth = deepest = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


def parse_json_text(text: str, where: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` bounded: nesting deeper than ``max_depth`` and integers beyond 64 bits are
    refused with a :class:`SpecError` naming ``where`` (JSON's NaN/Infinity still read, so
    the settings' own checks can say "is not a number")."""
    if json_depth(text, max_depth) > max_depth:
        raise SpecError(f"{where} nests lists or objects more than {max_depth} levels deep; no synthwb file does "
                        "that: check it is the right file")
    try:
        return json.loads(text, parse_int=_parse_int)
    except _BadNumber as exc:
        raise SpecError(f"{where} {exc}") from None
    except RecursionError:
        raise SpecError(f"{where} nests too deeply to read") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"cannot read {where}: {exc}") from None


def check_regular_file(path: str | os.PathLike, what: str = "file", max_bytes: int | None = None,
                       hint: str = "give a file") -> Path:
    """A user's input file, checked without opening it: it exists, is a regular file (a FIFO,
    socket or device would block or never end; a folder is named as one) and holds at most
    ``max_bytes``. Raises :class:`NotFound` / :class:`SpecError` naming it and ``what``."""
    p = Path(path)
    try:
        st = p.stat()
    except (OSError, ValueError):
        raise NotFound(f"{what} {str(p)!r} does not exist") from None
    if stat.S_ISDIR(st.st_mode):
        raise SpecError(f"{what} {str(p)!r} is a folder, not a file; {hint}")
    if not stat.S_ISREG(st.st_mode):
        raise SpecError(f"{what} {str(p)!r} is not a regular file (a pipe, socket or device); {hint}")
    if max_bytes is not None and st.st_size > max_bytes:
        raise SpecError(f"{what} {str(p)!r} is {_mb(st.st_size)}, larger than the {_mb(max_bytes)} it may hold; "
                        "check it is the right file")
    return p


def read_json_file(path: str | os.PathLike, what: str = "file", expect: type | None = dict,
                   max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A user's JSON file (a spec, a config, a task, a response): the one bounded reader. A
    missing one, a folder, a pipe or device (never opened: reading a FIFO would block), one over
    ``max_bytes``, deeper than :data:`MAX_JSON_DEPTH` or holding an integer beyond 64 bits
    raises an error naming the file and what it was meant to be (``what="model spec file"``);
    so does one whose top level is not of type ``expect`` (a JSON object by default; None:
    anything)."""
    p = check_regular_file(path, what, max_bytes, hint="give a .json file")
    text_path = str(p)
    too_big = SpecError(f"{what} {text_path!r} is larger than {_mb(max_bytes)}; no synthwb {what} is that big: "
                        "check it is the right file")
    try:
        with open(p, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise SpecError(f"cannot read {what} {text_path!r}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise too_big
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"cannot read {what} {text_path!r}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    data = parse_json_text(text, f"{what} {text_path!r}")
    if expect is not None and not isinstance(data, expect):
        raise SpecError(f"{what} {text_path!r} holds {_JSON_KINDS.get(type(data), type(data).__name__)}; "
                        f"it must be {_JSON_KINDS.get(expect, expect.__name__)}")
    return data

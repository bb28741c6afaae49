"""The one-way layers (README "Layout"): every import inside ``synthwb`` -- module-level or
inside a function -- points down the stack, so no cycle between subpackages can exist, and an
import inside a function outside ``synthwb.cli`` says why it is lazy."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "synthwb"

#: bottom to top; a package may import itself and the ones before it
LAYERS = ["core", "store", "data", "features", "models", "scoring", "moirai", "forecast", "train",
          "evaluate", "research", "jobs", "live", "charts", "cli"]
RANK = {name: i for i, name in enumerate(LAYERS)}


def _module(path: Path) -> tuple[str, bool]:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _imports(path: Path):
    """(line, imported module, inside a function, the source line) for each synthwb import."""
    mod, is_pkg = _module(path)
    tree = ast.parse(path.read_text(), str(path))
    lines = path.read_text().splitlines()
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inner = {id(x) for f in funcs for x in ast.walk(f) if x is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            target, names = "", [a.name for a in node.names]
        else:
            continue
        for name in ([target] if target else []) + names:
            if name.startswith("synthwb."):
                yield node.lineno, name, id(node) in inner, lines[node.lineno - 1]
                break


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


FILES = sorted(p for p in PKG.rglob("*.py"))


def test_every_subpackage_has_a_layer():
    subpackages = {p.name for p in PKG.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages == set(LAYERS) - {"moirai"} or subpackages == set(LAYERS), f"unplaced: {subpackages ^ set(LAYERS)}"
    loose = sorted(p.name for p in PKG.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert not loose, f"modules outside the layers: {loose}"


def test_imports_point_down():
    wrong = []
    for path in FILES:
        mine = _layer(_module(path)[0])
        if mine is None:
            continue
        for line, target, _, _ in _imports(path):
            theirs = _layer(target)
            if theirs is not None and RANK[theirs] > RANK[mine]:
                wrong.append(f"{path.relative_to(PKG.parent)}:{line} ({mine}) imports {target} ({theirs})")
    assert not wrong, "imports that point up a layer:\n" + "\n".join(wrong)


def test_lazy_imports_say_why():
    """Outside the CLI (whose handlers import lazily to keep --help fast), an import inside a
    function carries ``# lazy: <reason>``; nothing is imported late just to dodge a cycle."""
    hidden = []
    for path in FILES:
        if _layer(_module(path)[0]) == "cli":
            continue
        for line, target, inside, text in _imports(path):
            if inside and "# lazy:" not in text:
                hidden.append(f"{path.relative_to(PKG.parent)}:{line} {target}")
    assert not hidden, "imports inside functions without a reason:\n" + "\n".join(hidden)


def test_the_check_sees_an_upward_import(tmp_path):
    """The checker itself: an upward import, also inside a function, is found."""
    fake = PKG / "core" / "_layer_probe.py"
    fake.write_text("def f():\n    from synthwb.evaluate import backtest\n")
    try:
        found = [t for _, t, inside, _ in _imports(fake) if inside]
        assert [_layer(t) for t in found] == ["evaluate"]
        assert RANK["evaluate"] > RANK["core"]
    finally:
        fake.unlink()


@pytest.mark.parametrize("page", sorted((PKG.parent / "app_pages").glob("*.py")), ids=lambda p: p.name)
def test_pages_are_short(page):
    n = len(page.read_text().splitlines())
    assert n < 300, f"{page.name} has {n} lines; split it"

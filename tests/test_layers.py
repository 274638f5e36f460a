"""The apps stack one way (docs/architecture.md, "Layers"): a module imports only from its
own layer and the ones below it, never from one above. Imports inside functions count too:
a late import is still a dependency."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom first. chatweb's urls and asgi wire every app together and sit on top; its other
# modules (settings, csp, cache, storage) are plumbing every app may use.
LAYERS: list[set[str]] = [
    {"modelclient"},
    {"realtime", "chatweb"},
    # The audit log: every app above records into it (audit.record).
    {"audit"},
    {"catalog"},
    {"accounts"},
    {"conversations"},
    {"streaming"},
    # The HTTP APIs (/v1, /api/v1): transports over the answer engine, like the socket.
    {"api"},
    {"chatweb.urls", "chatweb.asgi"},
]


def layer_of(module: str) -> int | None:
    """The layer of a dotted module name, or None for anything not the project's."""
    found = None
    for index, names in enumerate(LAYERS):
        for name in names:
            matches = module == name or module.startswith(name + ".")
            # The most specific name wins (chatweb.urls over chatweb).
            if matches and (found is None or len(name) > len(found[1])):
                found = (index, name)
    return None if found is None else found[0]


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from streaming import generation` imports streaming.generation.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def violations(paths: list[Path]) -> list[str]:
    wrong = []
    for path in paths:
        own = layer_of(module_name(path))
        if own is None:
            continue
        for line, imported in imports_of(path):
            theirs = layer_of(imported)
            if theirs is not None and theirs > own:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return sorted(set(wrong))


def project_files() -> list[Path]:
    roots = {name.split(".")[0] for layer in LAYERS for name in layer}
    return [
        path
        for root in sorted(roots)
        for path in (ROOT / root).rglob("*.py")
        if "migrations" not in path.parts
    ]


def test_no_module_imports_from_a_layer_above_its_own():
    assert violations(project_files()) == []


def test_the_check_finds_an_upward_import(monkeypatch):
    """The rule can fail: a catalog module importing conversations is reported."""
    fake = ROOT / "catalog" / "_layer_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "import conversations.models\n")
    assert violations([fake]) == ["catalog/_layer_probe.py:1 imports conversations.models"]


def test_every_project_package_has_a_layer():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    placed = {name.split(".")[0] for layer in LAYERS for name in layer}
    assert packages == placed


@pytest.mark.parametrize("package", ["modelclient"])
def test_the_model_client_imports_nothing_of_django(package):
    """modelclient is usable without Django: importing it loads no django module."""
    code = (
        f"import sys, {package}.providers, {package}.netio, {package}.baseurl; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'channels', 'accounts', 'catalog', 'conversations', 'streaming', "
        "'realtime', 'chatweb'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

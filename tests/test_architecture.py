"""The layout's rules, checked on the source: packages import only lower layers (LAYERS), no import circle between
modules, no private name imported across modules, every command's --help renders, and --help loads no heavy
library. Imports count wherever they are (module level or inside a function), except under ``if TYPE_CHECKING``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("adapterx", "cli")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in (REPO / pkg).rglob("*.py"):
            parts = list(p.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


MODULES = _modules()


# The packages from the bottom up: a package imports only packages below it (its own modules aside). One order,
# the one README's architecture table and docs/internals.md list; no exceptions. A new package or top-level module
# must be placed here (the test below fails naming it).
LAYERS = (
    "adapterx",  # the package root: __version__
    "errors",
    "fsio",
    "cachedir",
    "registry",
    "paths",
    "languages",
    "data",
    "backbone",
    "tasks",
    "engine",
    "methods",
    "hub",
    "results",
    "retrieval",
    "evaluate",
    "workflows",
    "grid",
    "cli",
)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, path: Path) -> set[str]:
    """The modules of this project ``path`` imports: every import statement, at module level or inside a function,
    except those under ``if TYPE_CHECKING`` (they never run) and a package ``__init__``'s imports of its own
    modules (re-exports and registration on import). A name imported from a package counts as that module where
    one exists."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                for stmt in child.orelse:  # the else branch runs
                    visit_stmt(stmt)
            else:
                visit_stmt(child)

    def visit_stmt(node: ast.AST) -> None:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package this file is in
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] in PACKAGES:
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] in PACKAGES)
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    if path.name == "__init__.py":
        found = {d for d in found if not d.startswith(module + ".")}
    return {d for d in found if d in MODULES and d != module}


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _package(module: str) -> str:
    """The layer a module belongs to: ``cli``, the package root, or the first name under ``adapterx``."""
    parts = module.split(".")
    if parts[0] == "cli" or len(parts) == 1:
        return parts[0]
    return parts[1]


def test_every_package_has_a_layer() -> None:
    missing = sorted({_package(m) for m in MODULES} - set(LAYERS))
    assert not missing, f"place these in LAYERS (tests/test_architecture.py) and docs/internals.md: {missing}"


def test_packages_import_only_lower_layers() -> None:
    rank = {p: i for i, p in enumerate(LAYERS)}
    upward = []
    for m, deps in sorted(GRAPH.items()):
        for d in sorted(deps):
            a, b = _package(m), _package(d)
            if a != b and rank.get(a, -1) <= rank.get(b, len(LAYERS)):
                upward.append(f"{m} ({a}) imports {d} ({b})")
    assert not upward, "imports against the layer order " + " < ".join(LAYERS) + ":\n" + "\n".join(upward)


def test_no_import_circle_between_modules() -> None:
    """Counting every import outside ``if TYPE_CHECKING``, function-level ones too (as import-linter does)."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(GRAPH[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_private_name_is_imported_across_modules() -> None:
    offenders = []
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                private_module = [part for part in node.module.split(".") if part.startswith("_") and part != "__init__"]
                if private or private_module:
                    offenders.append(f"{m}: from {node.module} import {', '.join(a.name for a in node.names)}")
    assert not offenders, "private names imported across modules:\n" + "\n".join(offenders)


def _command_paths() -> list[tuple[str, ...]]:
    import click
    import typer

    from cli.main import app

    root = typer.main.get_command(app)
    paths: list[tuple[str, ...]] = [()]

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        for name, cmd in group.commands.items():
            paths.append((*prefix, name))
            if isinstance(cmd, click.Group):
                walk(cmd, (*prefix, name))

    walk(root, ())
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "adapterx")
def test_every_commands_help_renders(path: tuple[str, ...]) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "Usage" in result.output and "Traceback" not in result.output


def test_help_imports_no_heavy_library() -> None:
    """`adapterx --help` stays fast because the commands import torch, transformers and the rest only when they run
    (the time itself is measured by benchmarks/bench.py, not asserted here)."""
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom cli.main import app\n"
            "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0, r.output\n"
            "print(','.join(m for m in ('torch', 'transformers', 'adapters', 'peft', 'datasets', 'matplotlib')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"--help imported {out.stdout.strip()}"

"""The house rules docs/architecture.md states, checked on the package's source so they stay true:
provider knowledge lives in its backend's folder, and an import inside a function says why."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from coconot_tasks.judge.backends import BACKENDS

PACKAGE = Path(__file__).resolve().parent.parent / "coconot_tasks"
BACKENDS_DIR = PACKAGE / "judge" / "backends"


def _modules(outside: Path | None = None) -> Iterator[tuple[Path, ast.Module, list[str]]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if outside is not None and path.is_relative_to(outside):
            continue
        source = path.read_text(encoding="utf-8")
        yield path.relative_to(PACKAGE.parent), ast.parse(source), source.splitlines()


def test_no_provider_sdk_is_imported_outside_the_judge_backends() -> None:
    found = [
        f"{path}:{node.lineno}"
        for path, tree, _ in _modules(outside=BACKENDS_DIR)
        for node in ast.walk(tree)
        if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "openai" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "openai")
    ]
    assert not found, f"the openai SDK is imported outside judge/backends/: {found}"


def test_no_code_outside_the_judge_backends_compares_a_backend_name() -> None:
    names = set(BACKENDS)
    found = [
        f"{path}:{node.lineno}"
        for path, tree, _ in _modules(outside=BACKENDS_DIR)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(
            isinstance(operand, ast.Constant) and operand.value in names
            for operand in [node.left, *node.comparators]
            + [e for c in node.comparators if isinstance(c, (ast.Tuple, ast.List, ast.Set)) for e in c.elts]
        )
    ]
    assert not found, f"backend names compared outside judge/backends/ (ask the registry instead): {found}"


def test_every_import_inside_a_function_says_why() -> None:
    """An import below module level hides the dependency graph: it needs a comment (cost, optional
    dependency, cycle) on its line or in the two lines above it."""
    silent = []
    for path, tree, lines in _modules():
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    nearby = lines[max(0, node.lineno - 3) : node.lineno]
                    if not any("#" in line for line in nearby):
                        silent.append(f"{path}:{node.lineno}")
    assert not silent, f"imports inside functions without a comment saying why: {silent}"

"""The wheel a user installs holds every file the package reads, not only its Python modules.

CI installs the package in editable mode, where a data file missing from the wheel would go
unnoticed; this builds the wheel with the project's own build backend and looks inside.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from hatchling.builders.wheel import WheelBuilder

REPO = Path(__file__).resolve().parent.parent


def _package_files() -> set[str]:
    """The files of ``coconot_tasks/`` as they sit in the source tree (no bytecode)."""
    package = REPO / "coconot_tasks"
    return {
        path.relative_to(REPO).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_ships_the_data_files_the_tasks_and_the_autoload_hook(tmp_path: Path) -> None:
    [wheel] = WheelBuilder(str(REPO)).build(directory=str(tmp_path), versions=["standard"])
    names = set(zipfile.ZipFile(wheel).namelist())

    missing = _package_files() - names
    assert not missing, f"files of the package left out of the wheel: {sorted(missing)}"
    # Data files read through importlib.resources (no .py next to them would reveal their loss).
    assert "coconot_tasks/judge/backends/openai/retired_models.json" in names
    assert "coconot_tasks/tools/report/report.css" in names
    # The task YAMLs move inside the package, where paths.task_dir() looks for them.
    yamls = {f"coconot_tasks/task_configs/{path.name}" for path in (REPO / "task_configs").glob("*.yaml")}
    assert yamls and yamls <= names
    assert "coconot_tasks_autoload.pth" in names
    assert not any(name.startswith(("tests/", "utils/")) for name in names)

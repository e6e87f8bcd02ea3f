"""The generated lm-eval YAML, task discovery (include_path and autoload), packaging hygiene."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import coconot_tasks

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "utils" / "generate_task_configs.py"
COMMITTED = REPO / "task_configs"
GENERATED_FILES = ("_coconot.yaml", "coconot_original.yaml", "coconot_contrast.yaml")
TASKS = ("coconot_original", "coconot_contrast")


class _TaggedLoader(yaml.SafeLoader):
    """SafeLoader that reads ``!function x.y`` as the plain string ``x.y``."""


_TaggedLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaggedLoader)  # noqa: S506
    return data


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without PYTHONPATH (so only installed code is importable)."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "COCONOT_TASKS_AUTOLOAD"}}
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=clean_env(**extra_env),
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- the generator's --check -------------------------------------------------------------


def test_committed_yaml_is_current() -> None:
    result = run([str(GENERATOR), "--check"], cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stale" not in result.stdout


def test_check_detects_an_edited_copy(tmp_path: Path) -> None:
    copy = tmp_path / "task_configs"
    shutil.copytree(COMMITTED, copy)
    assert run([str(GENERATOR), "--check", "--out", str(copy)], cwd=REPO).returncode == 0
    target = copy / "coconot_contrast.yaml"
    target.write_text(target.read_text(encoding="utf-8").replace("max_gen_toks: 512", "max_gen_toks: 256"))
    result = run([str(GENERATOR), "--check", "--out", str(copy)], cwd=REPO)
    assert result.returncode == 1
    assert "coconot_contrast.yaml" in result.stdout
    assert "coconot_original.yaml" not in result.stdout


def test_check_detects_a_missing_file(tmp_path: Path) -> None:
    copy = tmp_path / "task_configs"
    shutil.copytree(COMMITTED, copy)
    (copy / "_coconot.yaml").unlink()
    result = run([str(GENERATOR), "--check", "--out", str(copy)], cwd=REPO)
    assert result.returncode == 1
    assert "_coconot.yaml" in result.stdout


def test_generating_reproduces_the_committed_files(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    result = run([str(GENERATOR), "--out", str(out)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in GENERATED_FILES:
        assert (out / name).read_bytes() == (COMMITTED / name).read_bytes(), name


# --- YAML content --------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_task_yaml_generation_settings(task: str) -> None:
    config = load_yaml(coconot_tasks.task_dir() / f"{task}.yaml")
    assert config["task"] == task
    assert config["output_type"] == "generate_until"
    kwargs = config["generation_kwargs"]
    assert "until" in kwargs
    assert kwargs["until"] == []
    assert kwargs["max_gen_toks"] == 512
    assert kwargs["do_sample"] is False
    assert config["num_fewshot"] == 0
    assert config["dataset_name"] == task.removeprefix("coconot_")


def test_group_yaml_lists_both_sets() -> None:
    group = load_yaml(coconot_tasks.task_dir() / "_coconot.yaml")
    assert group["group"] == "coconot"
    assert group["task"] == list(TASKS)


# --- discovery -----------------------------------------------------------------------------


def test_task_manager_with_include_path_lists_the_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    from lm_eval.tasks import TaskManager

    monkeypatch.setenv("COCONOT_TASKS_AUTOLOAD", "0")  # only include_path may find the tasks here
    manager = TaskManager(include_path=str(coconot_tasks.task_dir()), include_defaults=False)
    for task in TASKS:
        assert task in manager.all_subtasks
    assert "coconot" in manager.all_groups
    assert set(manager.all_tasks) >= {"coconot", *TASKS}


_AUTOLOAD_PROBE = (
    "from lm_eval.tasks import TaskManager; tm = TaskManager(include_defaults=False); "
    "print('coconot_original' in tm.all_tasks, 'coconot' in tm.all_groups)"
)


def test_autoload_registers_tasks_and_can_be_switched_off(tmp_path: Path) -> None:
    # Two fresh interpreters, started together to halve the wall time (each imports lm-eval).
    procs = {
        switch: subprocess.Popen(
            [sys.executable, "-c", _AUTOLOAD_PROBE],
            cwd=tmp_path,
            env=clean_env(**({"COCONOT_TASKS_AUTOLOAD": switch} if switch else {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for switch in ("", "0")
    }
    outputs = {}
    for switch, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        outputs[switch] = stdout.strip()
    assert outputs[""] == "True True"
    assert outputs["0"] == "False False"


def test_tasks_dir_command_prints_the_yaml_directory(tmp_path: Path) -> None:
    for args in (["-m", "coconot_tasks", "--tasks-dir"], ["-m", "coconot_tasks", "tasks-dir"]):
        result = run(args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        printed = Path(result.stdout.strip())
        assert printed.is_dir()
        assert (printed / "coconot_original.yaml").is_file()
        assert (printed / "coconot_contrast.yaml").is_file()
        assert printed.resolve() == coconot_tasks.task_dir().resolve()


# --- packaging hygiene ---------------------------------------------------------------------


def test_no_top_level_utils_module_is_installed(tmp_path: Path) -> None:
    result = run(["-c", "import utils"], cwd=tmp_path)
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr
    assert "'utils'" in result.stderr


def test_autoload_pth_does_not_import_lm_eval(tmp_path: Path) -> None:
    probe = (
        "import json, sys\n"
        "from coconot_tasks.harness.autoload import _LmEvalTaskManagerFinder as F\n"
        "loaded = 'coconot_tasks.harness.autoload' in sys.modules\n"
        "print(loaded and any(isinstance(f, F) for f in sys.meta_path))\n"
        "heavy = {'lm_eval', 'openai', 'datasets', 'torch'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    # The first line checks the .pth really ran (the finder was installed at start-up).
    result = run(
        ["-c", "import json, sys; print('coconot_tasks.harness.autoload' in sys.modules)\n" + probe],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "True", "the autoload .pth is not active in this interpreter"
    assert lines[1] == "True"
    assert lines[2] == "[]"

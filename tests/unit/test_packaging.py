"""Packaging: the conda environment names every dependency; the wheel carries zoo/, presets/ and notebooks/."""

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_every_pyproject_dependency():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    missing = {_name(d) for d in deps} - {_name(p) for p in pip if not p.startswith("-")}
    assert not missing, f"environment.yml lacks {sorted(missing)}"
    assert pip[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"  # Binder: PyTorch's CPU wheels, not CUDA's


@pytest.mark.slow
def test_wheel_ships_the_data_folders_and_finds_them(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)], check=True
    )
    wheel = next(tmp_path.glob("deepq_widgets-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    template = "notebooks/jupyter/voila/templates/deepq/index.html.j2"
    for bundled in ("zoo/catalog.json", "presets/pneumothorax.yaml", "notebooks/create_task.ipynb", "notebooks/voila.json", template):
        assert f"deepq_widgets/_bundled/{bundled}" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True)
    code = (
        "from deepq_widgets.resources import data_dir; from deepq_widgets.zoo import catalog; print(data_dir('zoo')); print(len(catalog()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0].startswith(str(target)) and int(out[1]) >= 200


def test_dq_spec_stays_the_function_after_the_spec_module_is_imported():
    import subprocess
    import sys

    code = (
        "import deepq_widgets as dq, deepq_widgets.spec, deepq_widgets.api; from deepq_widgets.spec import TaskSpec; "
        "print(callable(dq.spec), dq.spec.__module__, TaskSpec.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "deepq_widgets.api.workspace", "deepq_widgets.spec"]

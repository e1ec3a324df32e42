"""A wheel install is complete: built from the source tree, installed (not editable) into a fresh
virtual environment and run from outside the source tree, `mixtune sft|dpo <shipped recipe> --launch
zero3 --gpus 8 --dry-run` print commands whose config file and recipe exist inside the installed
package, and the StarChat2 end-to-end script finds everything it names."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mixtune.paths import REPO_ROOT

SKIP = shutil.ignore_patterns(
    ".git",
    "runs",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".venv",
    ".pytest_cache",
    ".ruff_cache",
    "tests",
)


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO_ROOT, src, symlinks=True, ignore=SKIP)  # the build never writes into the checkout
    dist = tmp / "dist"
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(dist),
        ".",
    ]
    proc = subprocess.run(build, cwd=src, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [wheel] = dist.glob("mixtune-*.whl")
    venv = tmp / "venv"
    # the environment's torch/transformers/... are reused; mixtune itself must come from the wheel
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120
    )
    install = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        str(wheel),
    ]
    proc = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    work = tmp / "elsewhere"
    work.mkdir()
    return {"venv": venv, "work": work}


def run(env: dict[str, Path], *argv: str) -> subprocess.CompletedProcess[str]:
    bin_dir = env["venv"] / "bin"
    environ = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    environ.pop("PYTHONPATH", None)
    return subprocess.run(argv, cwd=env["work"], env=environ, capture_output=True, text=True, timeout=300)


def test_mixtune_comes_from_the_wheel(wheel_env: dict[str, Path]) -> None:
    proc = run(wheel_env, "python", "-c", "import mixtune, sft, dpo; print(mixtune.__file__, sft.__file__)")
    assert proc.returncode == 0, proc.stderr
    site = str(wheel_env["venv"])
    assert all(path.startswith(site) for path in proc.stdout.split()), proc.stdout


@pytest.mark.parametrize("stage", ["sft", "dpo"])
def test_zero3_dry_run_names_files_that_exist(wheel_env: dict[str, Path], stage: str) -> None:
    proc = run(
        wheel_env,
        "mixtune",
        stage,
        f"{stage}/recipes/starchat2-15b.yaml",
        "--launch",
        "zero3",
        "--gpus",
        "8",
        "--dry-run",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    argv = shlex.split(proc.stdout.strip().splitlines()[-1])
    assert argv[:2] == ["accelerate", "launch"]
    config = Path(argv[argv.index("--config_file") + 1])
    recipe = Path(argv[argv.index("-m") + 2])
    for path in (config, recipe):
        assert path.is_absolute() and path.is_file(), path
        assert str(path).startswith(str(wheel_env["venv"])), path
    assert config.name == "zero3.yaml" and "DEEPSPEED" in config.read_text()
    assert recipe.name == "starchat2-15b.yaml"


def test_shipped_scripts_and_recipes_are_found(wheel_env: dict[str, Path]) -> None:
    names = [
        "recipes/starchat2-15b/run.sh",
        "accelerate_configs/slurm_launch.sh",
        "accelerate_configs/fsdp.yaml",
    ]
    proc = run(wheel_env, "python", "-m", "mixtune.paths", *names)
    assert proc.returncode == 0, proc.stderr
    paths = [Path(p) for p in proc.stdout.split()]
    assert all(p.is_file() and str(p).startswith(str(wheel_env["venv"])) for p in paths)
    out = wheel_env["work"] / "out"
    proc = run(wheel_env, "env", f"OUT={out}", "bash", str(paths[0]), "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mixture 'starchat2-sft' (sft), 5 source(s)" in proc.stdout
    launches = [
        shlex.split(line) for line in proc.stdout.splitlines() if line.startswith("accelerate launch")
    ]
    assert len(launches) == 2
    for argv in launches:
        assert Path(argv[argv.index("--config_file") + 1]).is_file()
        assert Path(argv[argv.index("-m") + 2]).is_file()
    assert not out.exists(), "a dry run writes nothing"

"""`mixtune mix build | validate | show` and `python -m mixtures`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mixtune.cli import main

from .conftest import RECIPES, REPO


@pytest.mark.parametrize(
    "name",
    [
        "starchat2-sft",
        "starchat2-dpo",
        "demo-sft",
        "demo-dpo",
        "demo-code",
        "demo-completion",
        "hf-personal-copilot",
    ],
)
def test_shipped_recipes_validate_offline(name, capsys) -> None:
    assert main(["mix", "validate", str(RECIPES / f"{name}.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"mixture '{name}'" in out and ": ok" in out


def test_starchat2_recipes_are_the_published_mixtures() -> None:
    from mixtures.recipe import load_mixture_recipe

    sft = load_mixture_recipe(RECIPES / "starchat2-sft.yaml")
    assert [s.hub for s in sft.sources] == [
        "HuggingFaceH4/airoboros-3.2",
        "HuggingFaceH4/Code-Feedback",
        "HuggingFaceH4/orca-math-word-problems-200k",
        "HuggingFaceH4/SystemChat",
        "HuggingFaceH4/capybara",
    ]
    assert {(s.split, s.test_split, s.weight) for s in sft.sources} == {("train_sft", "test_sft", 1.0)}
    dpo = load_mixture_recipe(RECIPES / "starchat2-dpo.yaml")
    assert dpo.kind == "preference"
    assert [s.hub for s in dpo.sources] == [
        "HuggingFaceH4/ultrafeedback_binarized",
        "HuggingFaceH4/orca_dpo_pairs",
    ]
    assert {(s.split, s.test_split, s.weight) for s in dpo.sources} == {("train_prefs", "test_prefs", 1.0)}


def test_build_then_show(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["mix", "build", str(RECIPES / "demo-dpo.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.strip().endswith(str(out)) and "demo-dpo" in printed
    assert main(["mix", "show", str(out), "--rows", "1"]) == 0
    shown = capsys.readouterr().out
    assert "prefs-ultrafeedback" in shown and "chosen" in shown and "train[0]" in shown


def test_errors_exit_2_without_traceback(tmp_path, write_recipe, capsys) -> None:
    recipe = write_recipe({"name": "x", "kind": "sft", "sources": [{"path": "d.jsonl", "wieght": 2}]})
    assert main(["mix", "validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "did you mean 'weight'" in err and "Traceback" not in err
    assert main(["mix", "show", str(tmp_path)]) == 2
    assert "not a built mixture" in capsys.readouterr().err


def test_python_dash_m_mixtures(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "mixtures", "validate", str(RECIPES / "demo-sft.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "mixture 'demo-sft' (sft), 6 source(s)" in proc.stdout

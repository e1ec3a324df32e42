"""Output-directory policy: resume an interrupted run, refuse to overwrite a finished one or foreign files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixtune.errors import MixtuneError
from mixtune.training.output_dir import RUN_RECORD, plan_output_dir, prepare_output_dir


def _checkpoint(out: Path, step: int) -> None:
    ck = out / f"checkpoint-{step}"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text("{}")


def test_fresh_and_empty_dirs_start_fresh(tmp_path: Path) -> None:
    assert plan_output_dir(tmp_path / "new").resume_from is None
    (tmp_path / "empty").mkdir()
    assert plan_output_dir(tmp_path / "empty").resume_from is None


def test_interrupted_run_resumes_from_the_last_checkpoint(tmp_path: Path) -> None:
    for step in (4, 12, 8):
        _checkpoint(tmp_path, step)
    plan = plan_output_dir(tmp_path)
    assert plan.resume_from == tmp_path / "checkpoint-12" and not plan.cleared


def test_finished_run_is_kept_unless_overwrite(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"w")
    (tmp_path / RUN_RECORD).write_text("{}")
    with pytest.raises(MixtuneError, match="finished run.*--overwrite"):
        plan_output_dir(tmp_path)
    plan = prepare_output_dir(tmp_path, overwrite=True)
    assert plan.cleared and plan.resume_from is None
    assert tmp_path.is_dir() and not any(tmp_path.iterdir())


def test_foreign_files_are_never_deleted(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(MixtuneError, match="no checkpoint"):
        plan_output_dir(tmp_path)
    with pytest.raises(MixtuneError, match="refusing to delete"):
        prepare_output_dir(tmp_path, overwrite=True)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("stage", ["sft", "dpo"])
def test_the_trl_config_sets_up_the_process_state_before_the_output_dir_is_touched(
    stage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prepare_output_dir asks accelerate who the main process is: by then the TRL config (with
    use_cpu on a CPU, so torchrun's CPU processes form their gloo group) must have set that up."""
    import importlib

    from accelerate.state import AcceleratorState, PartialState

    import mixtune.training.output_dir as output_dir
    from mixtune.training.stage import prepare_stage

    recipe_module = importlib.import_module(f"{stage}.recipe")
    recipe = getattr(recipe_module, f"build_{stage}_recipe")(
        {
            "model_name_or_path": "m",
            "dataset_mixture": {"datasets": [{"id": "d.jsonl"}]},
            "output_dir": str(tmp_path),
        }
    )
    seen = []

    def record_state(*args: object) -> None:
        seen.append(PartialState._shared_state.get("_cpu"))
        raise MixtuneError("stop here")

    AcceleratorState._reset_state(reset_partial_state=True)
    monkeypatch.setattr(output_dir, "prepare_output_dir", record_state)
    stage_hooks = getattr(importlib.import_module(f"{stage}.train"), f"{stage.upper()}Stage")()
    with pytest.raises(MixtuneError, match="stop here"):
        prepare_stage(recipe, stage_hooks)
    assert seen == [True]

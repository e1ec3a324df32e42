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

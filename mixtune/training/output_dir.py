"""Output-directory policy: an interrupted run resumes by itself, a finished run is never overwritten
by accident, and a directory that holds something else is never deleted.

A run is finished when its run record (`mixtune_run.json`) exists: it is written last.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from mixtune.errors import MixtuneError
from mixtune.run_record import RUN_RECORD

log = logging.getLogger(__name__)

# What a mixtune/transformers run can leave in its output directory; anything else makes a directory foreign.
_RUN_FILE_PATTERNS = (
    "checkpoint-*",
    "*.safetensors",
    "*.bin",
    "*.json",
    "*.md",
    "*.png",
    "*.jinja",
    "*.txt",
    "*.model",
    "runs",
    "merges.txt",
    "vocab.json",
)


@dataclass(frozen=True)
class OutputDirPlan:
    """What to do with the output directory: start fresh, or resume from `resume_from`."""

    output_dir: Path
    resume_from: Path | None
    cleared: bool  # an earlier run was removed (--overwrite)


def last_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete `checkpoint-N` directory, or None.

    Complete means its `trainer_state.json` exists: transformers writes it after the weights,
    optimizer and RNG states, so a run killed while saving resumes from the checkpoint before."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if not output_dir.is_dir():
        return None
    steps = []
    for child in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        suffix = child.name.rsplit("-", 1)[-1]
        if suffix.isdigit() and (child / "trainer_state.json").is_file():
            steps.append((int(suffix), child))
    return max(steps)[1] if steps else None


def is_finished(output_dir: Path) -> bool:
    return (Path(output_dir) / RUN_RECORD).is_file()


def _looks_like_run(output_dir: Path) -> bool:
    return all(any(child.match(p) for p in _RUN_FILE_PATTERNS) for child in output_dir.iterdir())


def plan_output_dir(output_dir: str | Path, overwrite: bool = False) -> OutputDirPlan:
    """Decide, without touching anything, how a run uses `output_dir`.

    - missing or empty: fresh run
    - finished run (run record present): error, unless `overwrite`
    - checkpoints present: resume from the last one, unless `overwrite`
    - other files: error (mixtune never deletes what it did not write), unless they look like an
      earlier run's files and `overwrite` is given
    """
    out = Path(output_dir)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return OutputDirPlan(out, None, False)
    if not out.is_dir():
        raise MixtuneError(f"output_dir {out} exists and is not a directory")
    if overwrite:
        if not _looks_like_run(out):
            raise MixtuneError(
                f"output_dir {out} holds files that a training run does not write; "
                "refusing to delete it even with --overwrite: choose another output_dir"
            )
        return OutputDirPlan(out, None, True)
    if is_finished(out):
        raise MixtuneError(
            f"output_dir {out} already holds a finished run ({RUN_RECORD}); "
            "pass --overwrite to replace it, or choose another output_dir"
        )
    ckpt = last_checkpoint(out)
    if ckpt is not None:
        return OutputDirPlan(out, ckpt, False)
    raise MixtuneError(
        f"output_dir {out} is not empty and has no checkpoint to resume from; "
        "pass --overwrite to replace it, or choose another output_dir"
    )


def prepare_output_dir(output_dir: str | Path, overwrite: bool = False) -> OutputDirPlan:
    """Apply `plan_output_dir`: clear an earlier run when asked (main process only), create the directory.

    Safe to call from every process of a distributed run: only the main process deletes, and all
    processes wait for it.
    """
    plan = plan_output_dir(output_dir, overwrite)
    from accelerate import PartialState

    state = PartialState()
    if state.is_main_process:
        if plan.cleared:
            log.info("--overwrite: removing the earlier run in %s", plan.output_dir)
            shutil.rmtree(plan.output_dir)
        plan.output_dir.mkdir(parents=True, exist_ok=True)
    state.wait_for_everyone()
    if plan.resume_from is not None:
        log.info("resuming from %s", plan.resume_from)
    return plan

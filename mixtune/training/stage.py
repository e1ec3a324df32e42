"""One training stage, three steps: prepare -> train -> finish. SFT and DPO (and any later stage) run
this same skeleton; what truly differs between them is a `StageHooks` subclass.

prepare: capability checks, the TRL config, the output directory (resume or fresh), model name,
    tokenizer, data (`mixtune.training.data`), model, then the stage encodes its rows and builds
    its trainer.
train: `trainer.train()` (resuming from the last checkpoint), evaluation on the test split, and
    the stage's own final metrics.
finish: the weights (LoRA merged unless `merge_adapter: false`), tokenizer and generation config
    in every process's shared directory; then, on the main process only, the stage's check of
    what was saved, the curves (`CURVES_PNG`), the model card and, last, the run record (the same
    keys for every stage).

The same functions run in one process and in every process of an `accelerate launch` / `torchrun`
job. Heavy libraries load inside functions.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixtune.training.curves import DEFAULT_KEYS
from mixtune.training.model_card import CardSection
from mixtune.training.recipe import StageRecipe
from mixtune.training.run_record import RECORDED_TRAINING_ARGS, DataStats, RunRecord

log = logging.getLogger(__name__)


@dataclass
class StageRun:
    """Everything one run consists of, filled in step by step (the hooks read and write it)."""

    recipe: StageRecipe
    stage: StageHooks
    args: Any  # the stage's TRL config (SFTConfig, DPOConfig, ...)
    model_args: Any  # trl.ModelConfig
    caps: Any  # mixtune.training.device.Capabilities
    output_dir: Path
    resume_from: Path | None
    model_name: str
    tokenizer: Any
    data: Any = None  # mixtune.training.data.TrainingData: the rows as the recipe names them
    train_set: Any = None  # the rows the trainer gets (the stage's encoding of data.train)
    test_set: Any = None
    trainer: Any = None
    data_stats: dict[str, DataStats] = field(default_factory=dict)  # split -> kept/dropped/truncated
    batching: dict[str, Any] = field(default_factory=dict)  # mode, why, probe
    details: dict[str, Any] = field(default_factory=dict)  # the record's stage_details
    history_before: list[dict[str, Any]] = field(default_factory=list)  # logged before step 1
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)


class StageHooks:
    """What one training stage does its own way. Subclass it, set the class attributes, and override
    the methods whose default does not fit; `prepare_stage` / `train_stage` / `finish_stage` call
    them in the order they are listed here. One instance serves one run (it may keep state)."""

    name = "stage"  # the package: `mixtune <name>`, run record `stage`, mixture lineage stage
    data_kind = "sft"  # which rows `load_training_data` accepts (a key of its COLUMN_SETS)
    curve_panels: tuple[tuple[str, ...], ...] = DEFAULT_KEYS
    hyperparameter_keys: tuple[str, ...] = ()  # the stage's TRL config keys recorded besides the common ones

    @property
    def title(self) -> str:
        """How the card and the curves name the stage ("SFT")."""
        return self.name.upper()

    def config_cls(self) -> type:
        """The stage's TRL config class: `<name>.recipe.<name>_config_cls()` (TRL loads only then)."""
        module = importlib.import_module(f"{self.name}.recipe")
        return getattr(module, f"{self.name}_config_cls")()

    def config_values(self, run_recipe: StageRecipe, model_args: Any, caps: Any) -> tuple[dict, dict]:
        """(defaults, forced) values for the TRL config beyond the common ones."""
        return {}, {}

    def check_tokenizer(self, run: StageRun) -> None:
        """Refuse a tokenizer the stage cannot use (before data and model are loaded)."""

    def prepare_model(self, run: StageRun, model: Any) -> None:
        """Adjust the loaded model and tokenizer (chat format, memory settings)."""

    def encode(self, run: StageRun) -> None:
        """Set `run.train_set` / `run.test_set` (and `run.data_stats` where counted here)."""
        run.train_set, run.test_set = run.data.train, run.data.test

    def build_trainer(self, run: StageRun, model: Any, callbacks: list[Any]) -> Any:
        """The TRL trainer; also sets `run.batching` (and `run.data_stats` where the trainer counts)."""
        raise NotImplementedError

    def before_train(self, run: StageRun) -> dict[str, Any]:
        """Metrics measured before the first step (and `run.history_before` for the curves)."""
        return {}

    def final_metrics(self, run: StageRun, metrics: dict[str, Any]) -> dict[str, Any]:
        """The stage's own metrics from the finished training (`metrics` so far: TRL's + evaluation)."""
        return {}

    def check_saved(self, run: StageRun) -> None:
        """Check the saved directory (main process), before the card and record mark it finished."""

    def hyperparameters(self, run: StageRun) -> dict[str, Any]:
        """Recorded hyper-parameters that are not TRL config keys (batching mode, loss path, ...)."""
        return {}

    def card_sections(self, run: StageRun) -> list[CardSection]:
        """The stage's own model-card sections (placed after the data, before the hyper-parameters)."""
        return []


def default_output_dir(recipe: StageRecipe) -> str:
    """`runs/<recipe file stem>` (or `runs/<stage>` for a recipe given as a mapping)."""
    return str(Path("runs") / (recipe.path.stem if recipe.path else recipe.stage))


def build_training_args(
    recipe: StageRecipe, stage: StageHooks, model_args: Any, caps: Any, notes: list[str]
) -> Any:
    """The stage's TRL config: `defaults` < the recipe < capability decisions.

    Built before anything else asks accelerate for the process state (`prepare_output_dir`,
    `resolve_model_name`, `load_training_data` all do): constructing a TrainingArguments resets
    accelerate's shared state and sets it up from this config, and CPU processes launched by
    torchrun only form their gloo group when `use_cpu` is in it. A state created earlier would
    have seen each CPU process as a lone main process (each one deleting and creating the output
    directory). Under ZeRO-3 it must also exist before the model is loaded.
    """
    from mixtune.training.device import resolve_precision

    precision = resolve_precision(recipe.training.get("bf16"), recipe.training.get("fp16"), caps, notes)
    defaults: dict[str, Any] = {"report_to": "none", "save_total_limit": 2}
    forced: dict[str, Any] = {
        "output_dir": str(recipe.training.get("output_dir") or default_output_dir(recipe)),
        **precision,
    }
    if not caps.cuda:
        forced["use_cpu"] = True
        defaults["dataloader_pin_memory"] = False
    stage_defaults, stage_forced = stage.config_values(recipe, model_args, caps)
    return recipe.training_config(
        stage.config_cls(), defaults={**defaults, **stage_defaults}, **{**forced, **stage_forced}
    )


def prepare_stage(
    recipe: StageRecipe, stage: StageHooks, overwrite: bool = False, callbacks: list[Any] | None = None
) -> StageRun:
    """Everything up to `trainer.train()`."""
    from mixtune.training.data import load_training_data
    from mixtune.training.device import detect_capabilities
    from mixtune.training.model import (
        check_model_capabilities,
        load_model,
        load_tokenizer,
        resolve_model_name,
    )
    from mixtune.training.output_dir import prepare_output_dir

    started = time.time()
    notes = list(recipe.notes)
    caps = detect_capabilities()
    model_args = recipe.model_config()
    check_model_capabilities(model_args, caps)
    args = build_training_args(recipe, stage, model_args, caps, notes)
    plan = prepare_output_dir(args.output_dir, overwrite or recipe.options.overwrite)
    model_name = resolve_model_name(model_args.model_name_or_path, recipe.path)
    tokenizer = load_tokenizer(model_name, model_args.model_revision, args.trust_remote_code)
    run = StageRun(
        recipe=recipe,
        stage=stage,
        args=args,
        model_args=model_args,
        caps=caps,
        output_dir=plan.output_dir,
        resume_from=plan.resume_from,
        model_name=model_name,
        tokenizer=tokenizer,
        notes=notes,
        started=started,
    )
    stage.check_tokenizer(run)
    run.data = load_training_data(recipe.options, stage.data_kind, stage.name, recipe.path, recipe.source)
    model = load_model(model_args, model_name, caps, args)
    stage.prepare_model(run, model)
    stage.encode(run)
    run.trainer = stage.build_trainer(run, model, list(callbacks or []))
    if run.batching.get("why"):
        notes.append(str(run.batching["why"]))
    return run


def train_stage(run: StageRun) -> dict[str, Any]:
    """Train (resuming where a checkpoint exists), evaluate, and return the metrics."""
    trainer = run.trainer
    metrics = dict(run.stage.before_train(run))
    resume = str(run.resume_from) if run.resume_from else None
    metrics.update(trainer.train(resume_from_checkpoint=resume).metrics)
    if run.test_set is not None:
        after = trainer.evaluate()
        metrics.update({k: v for k, v in after.items() if isinstance(v, (int, float))})
    metrics.update(run.stage.final_metrics(run, metrics))
    return metrics


def finish_stage(run: StageRun, metrics: dict[str, Any]) -> Path:
    """Save the model, then (main process) curves, card and run record, the record last."""
    from mixtune.training.curves import CURVES_PNG, plot_log_history
    from mixtune.training.model import save_trained_model
    from mixtune.training.model_card import write_model_card
    from mixtune.training.run_record import write_run_record

    trainer, out = run.trainer, run.output_dir
    merge = bool(getattr(run.recipe.options, "merge_adapter", True))
    saved_as = save_trained_model(trainer, out, run.model_args, run.model_name, merge_adapter=merge)
    if trainer.accelerator.is_main_process:
        run.tokenizer.save_pretrained(out)
        trainer.accelerator.unwrap_model(trainer.model).generation_config.save_pretrained(out)
        run.stage.check_saved(run)
        history = run.history_before + trainer.state.log_history
        title = f"{run.stage.title} {out.name}"
        png = plot_log_history(history, out / CURVES_PNG, title=title, panels=run.stage.curve_panels)
        record = run_record(run, metrics, saved_as)
        card_title = f"{out.name}: {run.stage.title} of {Path(run.model_name).name}"
        sections = run.stage.card_sections(run)
        write_model_card(out, record.as_dict(), card_title, png.name if png else None, sections)
        write_run_record(out, record)
    trainer.accelerator.wait_for_everyone()
    return out


def recorded_hyperparameters(run: StageRun) -> dict[str, Any]:
    """The common TRL keys, the stage's own keys, every key the recipe set, the batch shape, the
    model keys (LoRA settings whenever LoRA is on) and the stage's additions."""
    from mixtune.training.run_record import json_safe

    args, model_args = run.trainer.args, run.model_args
    keys = {*RECORDED_TRAINING_ARGS, *run.stage.hyperparameter_keys, *run.recipe.training}
    hp = {k: v for k, v in json_safe(args.to_dict()).items() if k in keys}
    world = max(1, args.world_size)
    hp.update(
        world_size=world,
        global_batch_size=args.per_device_train_batch_size * args.gradient_accumulation_steps * world,
        batching=run.batching.get("mode"),
        use_peft=bool(model_args.use_peft),
    )
    if model_args.use_peft:
        hp.update(
            lora_r=model_args.lora_r, lora_alpha=model_args.lora_alpha, lora_dropout=model_args.lora_dropout
        )
    hp.update(json_safe(run.recipe.model))
    hp.update(run.stage.hyperparameters(run))
    return hp


def run_record(run: StageRun, metrics: dict[str, Any], saved_as: str) -> RunRecord:
    """The run record: lineage (every mixture of every stage), numbers, and how the run went."""
    from mixtune.training.run_record import (
        base_model_of,
        json_safe,
        library_versions,
        parent_mixtures,
        parent_run_summary,
    )

    return RunRecord(
        stage=run.stage.name,
        parent_model=run.model_name,
        base_model=base_model_of(run.model_name),
        mixtures=parent_mixtures(run.model_name) + [m.as_dict() for m in run.data.mixtures],
        hyperparameters=recorded_hyperparameters(run),
        metrics=json_safe(metrics),
        versions=library_versions(),
        recipe=json_safe(run.recipe.resolved),
        parent_run=parent_run_summary(run.model_name),
        data={split: stats.as_dict() for split, stats in run.data_stats.items()},
        batching=json_safe(run.batching),
        saved_as=saved_as,
        resumed_from=str(run.resume_from) if run.resume_from else None,
        notes=run.notes,
        device=json_safe(run.caps.as_dict()),
        seconds=round(time.time() - run.started, 1),
        log_history=json_safe(run.history_before + run.trainer.state.log_history),
        stage_details=json_safe(run.details),
    )


def run_stage(
    recipe: StageRecipe, stage: StageHooks, overwrite: bool = False, callbacks: list[Any] | None = None
) -> Path:
    """prepare -> train -> finish; returns the finished model directory."""
    run = prepare_stage(recipe, stage, overwrite, callbacks)
    return finish_stage(run, train_stage(run))

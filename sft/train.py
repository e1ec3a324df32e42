"""One SFT run: recipe -> model + chat format -> data -> TRL SFTTrainer -> a finished model directory.

The same function runs in one process (`mixtune sft`, `python -m sft`) and in every process of an
`accelerate launch` / `torchrun` job; only the main process writes the card, curves and run record.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mixtune.errors import MixtuneError
from mixtune.training.recipe import MixtuneOptions, StageRecipe, load_stage_recipe
from mixtune.training.run_record import RECORDED_TRAINING_ARGS
from sft.batching import BatchingMode

log = logging.getLogger(__name__)

CURVE_PNG = "training_curves.png"


class SFTOptions(MixtuneOptions):
    """mixtune's own SFT recipe keys (next to TRL's SFTConfig / ModelConfig keys)."""

    batching: BatchingMode = Field(
        default="auto", description="auto | grouped | packed | padded (see sft.batching)"
    )
    lm_head_loss: Literal["auto", "chunked", "full"] = Field(
        default="auto",
        description="chunked: TRL's fused LM-head loss (no full logits; GPU memory); full: plain logits + "
        "cross-entropy (faster on CPU); auto: chunked on CUDA, full on CPU",
    )


def load_sft_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> StageRecipe:
    """Load + translate + validate an SFT recipe (no model or data is touched)."""
    from trl import SFTConfig

    recipe = load_stage_recipe(path, SFTConfig, "sft", options_cls=SFTOptions, overrides=overrides)
    if not recipe.model.get("model_name_or_path"):
        raise MixtuneError(f"{recipe.source}: model_name_or_path: required")
    if not (recipe.options.mixture or recipe.options.dataset_mixture):
        raise MixtuneError(f"{recipe.source}: no training data: set 'mixture' or 'dataset_mixture'")
    return recipe


def default_output_dir(recipe: StageRecipe) -> str:
    stem = recipe.path.stem if recipe.path else "sft"
    return str(Path("runs") / stem)


def _auto_activation_checkpointing(model: Any) -> bool:
    """Recompute activations only where memory is the limit: models of a billion parameters or more."""
    return sum(p.numel() for p in model.parameters()) >= 1_000_000_000


def _check_assistant_masks(tokenizer: Any) -> None:
    """assistant-only loss needs {% generation %} markers; TRL can patch a few known templates."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template):
        return
    try:
        get_training_chat_template(tokenizer)
    except (ValueError, NotImplementedError):
        raise MixtuneError(
            "assistant_only_loss needs a chat template with {% generation %} markers, and this tokenizer's "
            "template has none: set chat_template: chatml (or starchat), or assistant_only_loss: false"
        ) from None


@dataclass
class SFTRun:
    """Everything a prepared (not yet trained) SFT run consists of."""

    recipe: StageRecipe
    trainer: Any  # sft.trainer.MixtuneSFTTrainer
    tokenizer: Any
    data: Any  # mixtune.training.data.TrainingData
    model_name: str
    output_dir: Path
    resume_from: Path | None
    batching: Any  # sft.batching.BatchingPlan
    caps: Any  # mixtune.training.device.Capabilities
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)


def prepare_sft(
    recipe_path: str | Path,
    overrides: dict[str, Any] | None = None,
    overwrite: bool = False,
    callbacks: list[Any] | None = None,
) -> SFTRun:
    """Everything up to `trainer.train()`: recipe, output dir, precision, batching, model, chat format,
    data, and the TRL trainer (whose prepared `train_dataset` holds the tokenized rows and labels)."""
    from trl import SFTConfig

    from mixtune.training.data import load_training_data
    from mixtune.training.device import detect_capabilities, resolve_precision
    from mixtune.training.model import (
        check_model_capabilities,
        load_model,
        load_tokenizer,
        peft_config,
        resolve_model_name,
        setup_chat,
    )
    from mixtune.training.output_dir import prepare_output_dir
    from sft.batching import choose_batching, decision_keeper, settle_batching
    from sft.trainer import MixtuneSFTTrainer

    started = time.time()
    recipe = load_sft_recipe(recipe_path, overrides)
    options: SFTOptions = recipe.options  # type: ignore[assignment]
    notes = list(recipe.notes)
    caps = detect_capabilities()
    check_model_capabilities(recipe.model_config(), caps)
    output_dir = Path(recipe.training.get("output_dir") or default_output_dir(recipe))
    plan = prepare_output_dir(output_dir, overwrite or options.overwrite)

    precision = resolve_precision(recipe.training.get("bf16"), recipe.training.get("fp16"), caps, notes)
    model_args = recipe.model_config()
    batching = choose_batching(options.batching, caps, recipe.training, model_args.attn_implementation)
    if batching.attn_implementation and not model_args.attn_implementation:
        model_args.attn_implementation = batching.attn_implementation

    model_name = resolve_model_name(model_args.model_name_or_path, recipe.path)
    tokenizer = load_tokenizer(
        model_name, model_args.model_revision, recipe.training.get("trust_remote_code", False)
    )
    defaults: dict[str, Any] = {"report_to": "none", "save_total_limit": 2}
    forced: dict[str, Any] = {"output_dir": str(output_dir), **precision, **batching.config}
    if not caps.cuda:
        forced["use_cpu"] = True
    args = recipe.training_config(SFTConfig, defaults=defaults, **forced)

    model = load_model(model_args, model_name, caps, args)
    added = setup_chat(model, tokenizer, options.chat_template, recipe.path)
    if "activation_checkpointing" not in recipe.training:
        args.activation_checkpointing = args.gradient_checkpointing = _auto_activation_checkpointing(model)

    data = load_training_data(options, "sft", "sft", recipe.path, recipe.source)
    if "tools" in data.train.column_names:
        from mixtune.chat_format import tool_template_problem

        problem = tool_template_problem(tokenizer)
        if problem:
            raise MixtuneError(
                f"{recipe.source}: the data has tool calls, but {problem}: "
                "set chat_template: chatml (or starchat), which renders them in the documented convention"
            )
    conversational = any(c in data.train.column_names for c in ("messages", "conversations"))
    if "assistant_only_loss" not in recipe.training:
        args.assistant_only_loss = conversational
    if args.assistant_only_loss:
        _check_assistant_masks(tokenizer)
    if data.test is None and str(args.eval_strategy) not in ("no", "IntervalStrategy.NO"):
        raise MixtuneError(
            f"{recipe.source}: eval_strategy is '{args.eval_strategy}' but the data has no test split"
        )

    batching = settle_batching(batching, model, args, data.train, tokenizer, caps, plan.resume_from)
    notes.append(f"batching: {batching.mode} ({batching.reason})")
    full_logits = options.lm_head_loss == "full" or (options.lm_head_loss == "auto" and not caps.cuda)
    notes.append(f"loss: {'full logits' if full_logits else 'chunked fused LM head'}")
    trainer = MixtuneSFTTrainer(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.test,
        processing_class=tokenizer,
        peft_config=peft_config(model_args, added),
        length_buckets=batching.length_buckets,
        full_logits_loss=full_logits,
        callbacks=[*(callbacks or []), *filter(None, [decision_keeper(batching)])],
    )
    return SFTRun(
        recipe,
        trainer,
        tokenizer,
        data,
        model_name,
        output_dir,
        plan.resume_from,
        batching,
        caps,
        notes,
        started,
    )


def train_sft(
    recipe_path: str | Path,
    overrides: dict[str, Any] | None = None,
    overwrite: bool = False,
    callbacks: list[Any] | None = None,
) -> Path:
    """Run SFT as the recipe says (resuming an interrupted run); return the finished model directory.

    callbacks: extra `transformers.TrainerCallback`s (progress reporting, early stopping, ...).
    """
    run = prepare_sft(recipe_path, overrides, overwrite, callbacks)
    trainer = run.trainer
    result = trainer.train(resume_from_checkpoint=str(run.resume_from) if run.resume_from else None)
    metrics: dict[str, Any] = dict(result.metrics)
    real, positions = trainer.token_totals()
    if metrics.get("train_runtime"):
        metrics["train_tokens_per_second"] = round(real / metrics["train_runtime"], 1)
    metrics["pad_share"] = round(1 - real / positions, 4) if positions else 0.0
    if run.data.test is not None:
        metrics.update(trainer.evaluate())
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    if losses:
        metrics["final_loss"] = losses[-1]

    from mixtune.training.model import save_trained_model

    saved = save_trained_model(trainer, run.output_dir, run.recipe.model_config(), run.model_name)
    if saved["adapter"]:
        run.notes.append(f"LoRA adapter kept in {saved['adapter']}; merged weights in the model directory")
    if trainer.accelerator.is_main_process:
        finish_run(run, metrics)
    trainer.accelerator.wait_for_everyone()
    return run.output_dir


def finish_run(run: SFTRun, metrics: dict[str, Any]) -> None:
    """Write what makes the directory a finished mixtune model: tokenizer, curves, card, run record (last)."""
    from mixtune.training.curves import plot_log_history
    from mixtune.training.model_card import write_model_card
    from mixtune.training.run_record import (
        RunRecord,
        base_model_of,
        json_safe,
        library_versions,
        parent_mixtures,
        write_run_record,
    )

    out, trainer, recipe = run.output_dir, run.trainer, run.recipe
    run.tokenizer.save_pretrained(out)
    trainer.accelerator.unwrap_model(trainer.model).generation_config.save_pretrained(out)
    png = plot_log_history(trainer.state.log_history, out / CURVE_PNG, title=f"SFT {out.name}")
    args = trainer.args
    world = max(1, args.world_size)
    hyper = {
        k: v for k, v in json_safe(args.to_dict()).items() if k in _RECORDED_ARGS or k in recipe.training
    }
    hyper.update(
        world_size=world,
        global_batch_size=args.per_device_train_batch_size * args.gradient_accumulation_steps * world,
        batching=run.batching.mode,
        lm_head_loss="full" if trainer.full_logits_loss else "chunked",
        chat_template=recipe.options.chat_template or "chatml (or the tokenizer's own)",
        **json_safe(recipe.model),
    )
    record = RunRecord(
        stage="sft",
        parent_model=run.model_name,
        base_model=base_model_of(run.model_name),
        mixtures=parent_mixtures(run.model_name) + [m.as_dict() for m in run.data.mixtures],
        hyperparameters=hyper,
        metrics=json_safe(metrics),
        versions=library_versions(),
        recipe=json_safe(recipe.resolved),
        extra={
            "notes": run.notes,
            "device": json_safe(run.caps.as_dict()),
            "seconds": round(time.time() - run.started, 1),
            "log_history": json_safe(trainer.state.log_history),
        },
    )
    write_model_card(out, record.as_dict(), curve_png=png.name if png else None)
    write_run_record(out, record)


_RECORDED_ARGS = {
    *RECORDED_TRAINING_ARGS,
    "packing",
    "packing_strategy",
    "padding_free",
    "assistant_only_loss",
    "completion_only_loss",
    "adam_beta1",
    "adam_beta2",
    "max_grad_norm",
}

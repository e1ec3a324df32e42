"""`mixtune dpo`: a chat (SFT) model -> an aligned model, with TRL's `DPOTrainer` on a preference mixture.

The run keeps the SFT model's chat template and end-of-turn EOS exactly as they are (checked after
saving), encodes every pair the way the model sees it at inference (`dpo.encoding`), picks the
cheapest honest reference (`dpo.reference`), resumes from its last checkpoint when interrupted, and
leaves a normal model directory with a model card naming both mixtures and the SFT parent, a run
record and a curves PNG.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mixtune.errors import MixtuneError
from mixtune.training.recipe import StageRecipe
from mixtune.training.run_record import RECORDED_TRAINING_ARGS

log = logging.getLogger(__name__)

CURVES_PNG = "dpo_curves.png"
CURVE_PANELS = (
    ("loss", "eval_loss"),
    ("rewards/margins", "eval_rewards/margins"),
    ("rewards/accuracies", "eval_rewards/accuracies"),
    ("rewards/chosen", "rewards/rejected"),
    ("learning_rate",),
)
HYPERPARAMETER_KEYS = (
    *RECORDED_TRAINING_ARGS,
    "beta",
    "loss_weights",
    "label_smoothing",
    "precompute_ref_log_probs",
)


def default_output_dir(recipe: StageRecipe) -> str:
    stem = recipe.path.stem if recipe.path else "dpo"
    return str(Path("runs") / stem)


def _parent_generation_eos(model_dir: str) -> Any:
    """The parent's generation_config eos_token_id (what must carry through), or None."""
    path = Path(model_dir) / "generation_config.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")


def _hyperparameters(args: Any, model_args: Any, options: Any, world_size: int) -> dict[str, Any]:
    values = args.to_dict()
    hp = {k: values.get(k) for k in HYPERPARAMETER_KEYS if k in values}
    hp["max_prompt_length"] = options.max_prompt_length
    hp["world_size"] = world_size
    hp["global_batch_size"] = args.per_device_train_batch_size * args.gradient_accumulation_steps * world_size
    hp["use_peft"] = bool(model_args.use_peft)
    if model_args.use_peft:
        hp.update(
            lora_r=model_args.lora_r, lora_alpha=model_args.lora_alpha, lora_dropout=model_args.lora_dropout
        )
    return hp


def _final_metrics(trainer: Any, train_output: Any) -> dict[str, Any]:
    """Train summary plus the last logged value of each DPO training metric."""
    metrics: dict[str, Any] = dict(train_output.metrics)
    last: dict[str, Any] = {}
    for entry in trainer.state.log_history:
        for key in ("loss", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected"):
            if key in entry:
                last[f"final_train_{key}"] = entry[key]
    metrics.update(last)
    return metrics


def _logps_margin(metrics: dict[str, Any], prefix: str) -> float | None:
    chosen, rejected = metrics.get(f"{prefix}logps/chosen"), metrics.get(f"{prefix}logps/rejected")
    if chosen is None or rejected is None:
        return None
    return float(chosen) - float(rejected)


def _save_model(
    trainer: Any, tokenizer: Any, out: Path, model_args: Any, options: Any, model_name: str
) -> str:
    """Save weights + tokenizer; with LoRA, merged weights (plus the adapter in adapter/) unless asked not to.

    Returns how the weights were saved, for the run record.
    """
    from accelerate.utils import is_peft_model

    from mixtune.training.model import save_trained_model
    from mixtune.training.sharded import save_fsdp_model

    model = trainer.model
    sharded = trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled
    if is_peft_model(model) and options.merge_adapter and sharded:
        # gathered adapter, merged onto a fresh copy of the parent on the main process
        save_trained_model(trainer, out, model_args, model_name)
        if trainer.accelerator.is_main_process:
            tokenizer.save_pretrained(out)
        return "merged LoRA weights (adapter in adapter/)"
    if is_peft_model(model) and options.merge_adapter:
        if trainer.accelerator.is_main_process:
            model.save_pretrained(out / "adapter")
            merged = trainer.accelerator.unwrap_model(model).merge_and_unload()
            merged.save_pretrained(out)
            tokenizer.save_pretrained(out)
        trainer.accelerator.wait_for_everyone()
        return "merged LoRA weights (adapter in adapter/)"
    if not save_fsdp_model(trainer, out):
        trainer.save_model(str(out))
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(out)
        if is_peft_model(model):
            # an adapter directory still tells generation where the turn ends
            trainer.accelerator.unwrap_model(model).generation_config.save_pretrained(out)
    return "LoRA adapter (base: the parent model)" if is_peft_model(model) else "full weights"


def _check_carried_through(out: Path, parent_template: str, parent_eos: Any) -> None:
    """The saved tokenizer template and generation EOS must be the parent's, byte for byte."""
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(out)
    if saved.chat_template != parent_template:
        raise MixtuneError(f"{out}: the saved chat template differs from the parent's")
    if parent_eos is not None and _parent_generation_eos(str(out)) != parent_eos:
        raise MixtuneError(f"{out}: generation_config eos_token_id differs from the parent's ({parent_eos})")


def _parent_run_summary(parent: dict[str, Any] | None, model_name: str) -> dict[str, Any]:
    if not parent:
        return {"model": model_name, "stage": None}
    mixes = [m for m in parent.get("mixtures", []) if m.get("stage") == parent.get("stage")]
    return {
        "model": model_name,
        "stage": parent.get("stage"),
        "base_model": parent.get("base_model"),
        "mixtures": [{"name": m.get("name"), "hash": m.get("hash")} for m in mixes],
        "learning_rate": parent.get("hyperparameters", {}).get("learning_rate"),
    }


def _starting_point_section(parent_run: dict[str, Any], reference: str, data_stats: dict[str, Any]) -> str:
    lines = ["## Starting point", ""]
    if parent_run.get("stage"):
        mixes = ", ".join(f"`{m['name']}` (hash `{m['hash']}`)" for m in parent_run.get("mixtures", []))
        lines.append(
            f"DPO from the {str(parent_run['stage']).upper()} run `{parent_run['model']}`"
            + (f", itself trained on {mixes}" if mixes else "")
            + f"; base model `{parent_run.get('base_model')}`."
        )
    else:
        lines.append(f"DPO from `{parent_run['model']}` (not a mixtune run: no run record).")
    lines += ["", f"Reference: {reference}.", ""]
    train = data_stats.get("train", {})
    if train:
        dropped = ", ".join(f"{k}: {v}" for k, v in train.get("dropped", {}).items()) or "none"
        lines.append(
            f"Preference pairs: {train.get('kept')} of {train.get('rows_in')} used (dropped: {dropped}); "
            f"prompts truncated (end kept): {train.get('truncated_prompts')}, "
            f"completions truncated: {train.get('truncated_completions')}."
        )
    return "\n".join(lines) + "\n"


def _with_section(card: str, section: str) -> str:
    marker = "\n## Hyper-parameters"
    if marker in card:
        head, tail = card.split(marker, 1)
        return head.rstrip("\n") + "\n\n" + section + marker + tail
    return card.rstrip("\n") + "\n\n" + section


def run_dpo(recipe: StageRecipe, overwrite: bool = False, callbacks: list[Any] | None = None) -> Path:
    """Train DPO as the recipe says; return the output model directory.

    `callbacks` are extra `transformers.TrainerCallback`s (progress reporting, instrumentation).
    """
    from accelerate import PartialState
    from trl import DPOConfig

    from dpo.data import explicit_preferences
    from dpo.encoding import check_chat_template, encode_preferences
    from dpo.reference import load_explicit_reference, plan_reference, verify_reference
    from dpo.trainer import EncodedDPOTrainer, choose_dpo_batching
    from mixtune.training.curves import plot_log_history
    from mixtune.training.data import load_training_data
    from mixtune.training.device import detect_capabilities, resolve_precision
    from mixtune.training.model import load_model, load_tokenizer, peft_config, resolve_model_name
    from mixtune.training.model_card import render_model_card
    from mixtune.training.output_dir import prepare_output_dir
    from mixtune.training.run_record import (
        RunRecord,
        base_model_of,
        library_versions,
        parent_mixtures,
        read_run_record,
        write_run_record,
    )

    options = recipe.options
    notes = list(recipe.notes)
    caps = detect_capabilities()
    model_args = recipe.model_config()
    precision = resolve_precision(recipe.training.get("bf16"), recipe.training.get("fp16"), caps, notes)
    output_dir = recipe.training.get("output_dir") or default_output_dir(recipe)
    # The TRL config is built before anything asks accelerate for the process state: it decides the
    # distributed set-up (and CPU processes launched by torchrun need use_cpu to join a gloo group).
    # Pairs arrive encoded and truncated (prompt end kept), so TRL's collator never has to cut.
    forced: dict[str, Any] = {"output_dir": str(output_dir), "truncation_mode": "keep_start", **precision}
    defaults: dict[str, Any] = {"report_to": "none", "save_total_limit": 2}
    if not caps.cuda:
        forced["use_cpu"] = True
        defaults["dataloader_pin_memory"] = False
    args = recipe.training_config(DPOConfig, defaults=defaults, **forced)
    out_plan = prepare_output_dir(output_dir, overwrite or options.overwrite)
    model_name = resolve_model_name(model_args.model_name_or_path, recipe.path)
    state = PartialState()

    tokenizer = load_tokenizer(model_name, model_args.model_revision, args.trust_remote_code)
    check_chat_template(tokenizer, model_name)
    parent_template, parent_eos = tokenizer.chat_template, _parent_generation_eos(model_name)
    parent = read_run_record(model_name) if Path(model_name).is_dir() else None

    data = load_training_data(options, "preference", "dpo", recipe.path, recipe.source)
    with state.main_process_first():
        train_rows = explicit_preferences(data.train, args.dataset_num_proc, "train")
        test_rows = explicit_preferences(data.test, args.dataset_num_proc, "test")
        encode = {
            "max_length": args.max_length,
            "max_prompt_length": options.max_prompt_length,
            "on_mismatch": options.prompt_mismatch,
            "num_proc": args.dataset_num_proc,
        }
        train_set, train_stats = encode_preferences(train_rows, tokenizer, split="train", **encode)
        test_set, test_stats = (None, None)
        if test_rows is not None:
            test_set, test_stats = encode_preferences(test_rows, tokenizer, split="test", **encode)
    data_stats = {"train": train_stats.as_dict(), **({"test": test_stats.as_dict()} if test_stats else {})}

    model = load_model(model_args, model_name, caps, args)
    packed, batching_note, batching_probe = choose_dpo_batching(options.batching, model, args, train_set)
    notes.append(batching_note)
    plan = plan_reference(
        model_name, bool(model_args.use_peft), args.precompute_ref_log_probs, options.ref_model_name_or_path
    )
    ref_model = load_explicit_reference(plan, model.dtype, model_args.attn_implementation)
    log.info("reference: %s", plan.describe())
    trainer = EncodedDPOTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=train_set,
        eval_dataset=test_set,
        processing_class=tokenizer,
        peft_config=peft_config(model_args),
        callbacks=callbacks,
        packed=packed,
    )
    verify_reference(trainer, plan)

    metrics: dict[str, Any] = {}
    history_before: list[dict[str, Any]] = []
    if test_set is not None and out_plan.resume_from is None:
        before = trainer.evaluate()
        metrics["eval_before_logps_margin"] = _logps_margin(before, "eval_")
        # before any step the policy is the reference: rewards are ties, so accuracy is undefined
        history_before = [{**{k: v for k, v in before.items() if k != "eval_rewards/accuracies"}, "step": 0}]
    train_output = trainer.train(
        resume_from_checkpoint=str(out_plan.resume_from) if out_plan.resume_from else None
    )
    metrics.update(_final_metrics(trainer, train_output))
    if test_set is not None:
        after = trainer.evaluate()
        metrics.update({k: v for k, v in after.items() if isinstance(v, (int, float))})
        metrics["eval_logps_margin"] = _logps_margin(after, "eval_")

    out = out_plan.output_dir
    saved_as = _save_model(trainer, tokenizer, out, model_args, options, model_name)
    if not state.is_main_process:
        state.wait_for_everyone()
        return out
    _check_carried_through(out, parent_template, parent_eos)
    curves = plot_log_history(
        history_before + trainer.state.log_history,
        out / CURVES_PNG,
        title=f"DPO {out.name}",
        panels=CURVE_PANELS,
    )
    parent_run = _parent_run_summary(parent, model_name)
    lineage = [m.as_dict() for m in data.mixtures]
    record = RunRecord(
        stage="dpo",
        parent_model=model_name,
        base_model=base_model_of(model_name),
        mixtures=[m for m in parent_mixtures(model_name) if m.get("stage") != "dpo"] + lineage,
        hyperparameters=_hyperparameters(args, model_args, options, state.num_processes),
        metrics=metrics,
        versions=library_versions(),
        recipe=recipe.resolved,
        extra={
            "parent_run": parent_run,
            "reference": plan.as_dict(),
            "data": data_stats,
            "saved_as": saved_as,
            "batching": {
                "mode": "packed" if packed else "padded",
                "why": batching_note,
                "probe": batching_probe,
            },
            "resumed_from": str(out_plan.resume_from) if out_plan.resume_from else None,
            "notes": notes,
            "capabilities": caps.as_dict(),
        },
    )
    card = render_model_card(
        record.as_dict(),
        title=f"{out.name}: DPO of {Path(model_name).name}",
        curve_png=curves and curves.name,
    )
    (out / "README.md").write_text(
        _with_section(card, _starting_point_section(parent_run, plan.describe(), data_stats)),
        encoding="utf-8",
    )
    write_run_record(out, record)
    state.wait_for_everyone()
    return out

"""`mixtune sft`: a base code model -> a chat model, with TRL's `SFTTrainer` on a chat mixture.

The run gives the model a chat template with a stopping end-of-turn token, trains on the
assistant turns only (conversational data), forms batches by measurement (`sft.batching`),
resumes from its last checkpoint when interrupted, and leaves a normal model directory with a
model card, a run record and a curves PNG. The prepare -> train -> finish skeleton is
`mixtune.training.stage`; this module holds what SFT does its own way (`SFTStage`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mixtune.errors import MixtuneError
from mixtune.training.recipe import StageRecipe
from mixtune.training.stage import StageHooks, StageRun, prepare_stage, run_stage

log = logging.getLogger(__name__)

CURVE_PANELS = (
    ("loss", "eval_loss"),
    ("learning_rate",),
    ("mean_token_accuracy", "eval_mean_token_accuracy"),
    ("grad_norm",),
)
HYPERPARAMETER_KEYS = (
    "packing",
    "packing_strategy",
    "padding_free",
    "assistant_only_loss",
    "completion_only_loss",
    "adam_beta1",
    "adam_beta2",
    "max_grad_norm",
)


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


def _check_tool_template(run: StageRun) -> None:
    """Tool-calling rows need a template that renders calls and results in the documented convention."""
    from mixtune.chat_format import tool_template_problem

    problem = tool_template_problem(run.tokenizer)
    if problem:
        raise MixtuneError(
            f"{run.recipe.source}: the data has tool calls, but {problem}: "
            "set chat_template: chatml (or starchat), which renders them in the documented convention"
        )


class SFTStage(StageHooks):
    """SFT's own steps: batching decided by measurement, the chat format set up on the base model,
    assistant-only loss, and TRL's tokenization (whose truncation the trainer counts)."""

    name = "sft"
    curve_panels = CURVE_PANELS
    hyperparameter_keys = HYPERPARAMETER_KEYS

    def __init__(self) -> None:
        self.plan: Any = None  # sft.batching.BatchingPlan
        self.added_tokens: list[int] = []

    def config_values(self, recipe: StageRecipe, model_args: Any, caps: Any) -> tuple[dict, dict]:
        from sft.batching import choose_batching

        self.plan = choose_batching(
            recipe.options.batching, caps, recipe.training, model_args.attn_implementation
        )
        if self.plan.attn_implementation and not model_args.attn_implementation:
            model_args.attn_implementation = self.plan.attn_implementation
        return {}, dict(self.plan.config)

    def prepare_model(self, run: StageRun, model: Any) -> None:
        from mixtune.training.model import setup_chat

        self.added_tokens = setup_chat(
            model, run.tokenizer, run.recipe.options.chat_template, run.recipe.path
        )
        if "activation_checkpointing" not in run.recipe.training:
            run.args.activation_checkpointing = run.args.gradient_checkpointing = (
                _auto_activation_checkpointing(model)
            )

    def encode(self, run: StageRun) -> None:
        """TRL tokenizes inside the trainer; here the rows are checked against the chat template."""
        run.train_set, run.test_set = run.data.train, run.data.test
        columns = run.train_set.column_names
        if "tools" in columns:
            _check_tool_template(run)
        if "assistant_only_loss" not in run.recipe.training:
            run.args.assistant_only_loss = any(c in columns for c in ("messages", "conversations"))
        if run.args.assistant_only_loss:
            _check_assistant_masks(run.tokenizer)
        if run.test_set is None and str(run.args.eval_strategy) not in ("no", "IntervalStrategy.NO"):
            raise MixtuneError(
                f"{run.recipe.source}: eval_strategy is '{run.args.eval_strategy}' but the data has no test split"
            )

    def build_trainer(self, run: StageRun, model: Any, callbacks: list[Any]) -> Any:
        from mixtune.training.model import peft_config
        from sft.batching import decision_keeper, settle_batching
        from sft.trainer import MixtuneSFTTrainer

        args, caps = run.args, run.caps
        plan = settle_batching(self.plan, model, args, run.train_set, run.tokenizer, caps, run.resume_from)
        full_logits = run.recipe.options.lm_head_loss == "full" or (
            run.recipe.options.lm_head_loss == "auto" and not caps.cuda
        )
        run.notes.append(f"loss: {'full logits' if full_logits else 'chunked fused LM head'}")
        run.batching = {
            "mode": plan.mode,
            "why": f"batching: {plan.mode} ({plan.reason})",
            "probe": plan.probe,
        }
        trainer = MixtuneSFTTrainer(
            model=model,
            args=args,
            train_dataset=run.train_set,
            eval_dataset=run.test_set,
            processing_class=run.tokenizer,
            peft_config=peft_config(run.model_args, self.added_tokens),
            length_buckets=plan.length_buckets,
            full_logits_loss=full_logits,
            callbacks=[*callbacks, *filter(None, [decision_keeper(plan)])],
        )
        run.data_stats = dict(trainer.data_stats)
        return trainer

    def final_metrics(self, run: StageRun, metrics: dict[str, Any]) -> dict[str, Any]:
        """Real tokens per second and the share of computed positions that were padding; last loss."""
        real, positions = run.trainer.token_totals()
        out: dict[str, Any] = {"pad_share": round(1 - real / positions, 4) if positions else 0.0}
        if metrics.get("train_runtime"):
            out["train_tokens_per_second"] = round(real / metrics["train_runtime"], 1)
        losses = [e["loss"] for e in run.trainer.state.log_history if "loss" in e]
        if losses:
            out["final_loss"] = losses[-1]
        return out

    def hyperparameters(self, run: StageRun) -> dict[str, Any]:
        return {
            "lm_head_loss": "full" if run.trainer.full_logits_loss else "chunked",
            "chat_template": run.recipe.options.chat_template or "chatml (or the tokenizer's own)",
        }


def prepare_sft(recipe: StageRecipe, overwrite: bool = False, callbacks: list[Any] | None = None) -> StageRun:
    """Everything up to `trainer.train()` (the trainer's `train_dataset` holds the tokenized rows and labels)."""
    return prepare_stage(recipe, SFTStage(), overwrite, callbacks)


def train_sft(recipe: StageRecipe, overwrite: bool = False, callbacks: list[Any] | None = None) -> Path:
    """Run SFT as the recipe says (resuming an interrupted run); return the finished model directory.

    callbacks: extra `transformers.TrainerCallback`s (progress reporting, early stopping, ...).
    """
    return run_stage(recipe, SFTStage(), overwrite, callbacks)

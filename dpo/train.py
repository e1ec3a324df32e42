"""`mixtune dpo`: a chat (SFT) model -> an aligned model, with TRL's `DPOTrainer` on a preference mixture.

The run keeps the SFT model's chat template and end-of-turn EOS exactly as they are (checked after
saving), encodes every pair the way the model sees it at inference (`dpo.encoding`), picks the
cheapest honest reference (`dpo.reference`), resumes from its last checkpoint when interrupted, and
leaves a normal model directory with a model card naming both mixtures and the SFT parent, a run
record and a curves PNG. The prepare -> train -> finish skeleton is `mixtune.training.stage`; this
module holds what DPO does its own way (`DPOStage`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mixtune.errors import MixtuneError
from mixtune.training.model_card import CardSection
from mixtune.training.recipe import StageRecipe
from mixtune.training.stage import StageHooks, StageRun, prepare_stage, run_stage

log = logging.getLogger(__name__)

CURVE_PANELS = (
    ("loss", "eval_loss"),
    ("rewards/margins", "eval_rewards/margins"),
    ("rewards/accuracies", "eval_rewards/accuracies"),
    ("rewards/chosen", "rewards/rejected"),
    ("learning_rate",),
)
HYPERPARAMETER_KEYS = (
    "beta",
    "loss_weights",
    "label_smoothing",
    "precompute_ref_log_probs",
)
_LAST_LOGGED = ("loss", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected")


def _parent_generation_eos(model_dir: str) -> Any:
    """The parent's generation_config eos_token_id (what must carry through), or None."""
    path = Path(model_dir) / "generation_config.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")


def _logps_margin(metrics: dict[str, Any], prefix: str) -> float | None:
    chosen, rejected = metrics.get(f"{prefix}logps/chosen"), metrics.get(f"{prefix}logps/rejected")
    if chosen is None or rejected is None:
        return None
    return float(chosen) - float(rejected)


def _starting_point(run: StageRun, reference: str) -> CardSection:
    """Which model DPO started from (and what that model was trained on), and the reference."""
    from mixtune.training.run_record import parent_run_summary

    parent = parent_run_summary(run.model_name)
    if parent.get("stage"):
        mixes = ", ".join(f"`{m['name']}` (hash `{m['hash']}`)" for m in parent.get("mixtures", []))
        line = (
            f"DPO from the {str(parent['stage']).upper()} run `{parent['model']}`"
            + (f", itself trained on {mixes}" if mixes else "")
            + f"; base model `{parent.get('base_model')}`."
        )
    else:
        line = f"DPO from `{parent['model']}` (not a mixtune run: no run record)."
    return CardSection("Starting point", [line, "", f"Reference: {reference}."])


class DPOStage(StageHooks):
    """DPO's own steps: the parent's chat template kept and checked, pairs encoded and truncated by
    `dpo.encoding`, a reference chosen by `dpo.reference`, pairs padded or packed by measurement."""

    name = "dpo"
    data_kind = "preference"
    curve_panels = CURVE_PANELS
    hyperparameter_keys = HYPERPARAMETER_KEYS

    def __init__(self) -> None:
        self.parent_template: str | None = None
        self.parent_eos: Any = None
        self.reference: Any = None  # dpo.reference.ReferencePlan

    def config_values(self, recipe: StageRecipe, model_args: Any, caps: Any) -> tuple[dict, dict]:
        # pairs arrive encoded and truncated (prompt end kept), so TRL's collator never has to cut
        return {}, {"truncation_mode": "keep_start"}

    def check_tokenizer(self, run: StageRun) -> None:
        from dpo.encoding import check_chat_template

        check_chat_template(run.tokenizer, run.model_name)
        self.parent_template = run.tokenizer.chat_template
        self.parent_eos = _parent_generation_eos(run.model_name)

    def encode(self, run: StageRun) -> None:
        from accelerate import PartialState

        from dpo.data import explicit_preferences
        from dpo.encoding import encode_preferences

        args, options = run.args, run.recipe.options
        settings = {
            "max_length": args.max_length,
            "max_prompt_length": options.max_prompt_length,
            "on_mismatch": options.prompt_mismatch,
            "num_proc": args.dataset_num_proc,
        }
        with PartialState().main_process_first():
            for split, rows in (("train", run.data.train), ("test", run.data.test)):
                rows = explicit_preferences(rows, args.dataset_num_proc, split)
                if rows is None:
                    continue
                encoded, run.data_stats[split] = encode_preferences(
                    rows, run.tokenizer, split=split, **settings
                )
                setattr(run, f"{split}_set", encoded)

    def build_trainer(self, run: StageRun, model: Any, callbacks: list[Any]) -> Any:
        from dpo.batching import settle_batching
        from dpo.reference import load_explicit_reference, plan_reference, verify_reference
        from dpo.trainer import MixtuneDPOTrainer
        from mixtune.training.model import peft_config

        args, model_args, options = run.args, run.model_args, run.recipe.options
        packed, why, probe = settle_batching(options.batching, model, args, run.train_set)
        run.batching = {"mode": "packed" if packed else "padded", "why": why, "probe": probe}
        self.reference = plan_reference(
            run.model_name,
            bool(model_args.use_peft),
            args.precompute_ref_log_probs,
            options.ref_model_name_or_path,
        )
        run.details["reference"] = self.reference.as_dict()
        log.info("reference: %s", self.reference.describe())
        trainer = MixtuneDPOTrainer(
            model=model,
            ref_model=load_explicit_reference(self.reference, model.dtype, model_args.attn_implementation),
            args=args,
            train_dataset=run.train_set,
            eval_dataset=run.test_set,
            processing_class=run.tokenizer,
            peft_config=peft_config(model_args),
            callbacks=callbacks,
            packed=packed,
        )
        verify_reference(trainer, self.reference)
        return trainer

    def before_train(self, run: StageRun) -> dict[str, Any]:
        """The margin before any step (a fresh run with a test split), plotted at step 0."""
        if run.test_set is None or run.resume_from is not None:
            return {}
        before = run.trainer.evaluate()
        # before any step the policy is the reference: rewards are ties, so accuracy is undefined
        run.history_before = [
            {**{k: v for k, v in before.items() if k != "eval_rewards/accuracies"}, "step": 0}
        ]
        return {"eval_before_logps_margin": _logps_margin(before, "eval_")}

    def final_metrics(self, run: StageRun, metrics: dict[str, Any]) -> dict[str, Any]:
        """The last logged value of each DPO training metric, and the held-out log-prob margin."""
        out: dict[str, Any] = {}
        for entry in run.trainer.state.log_history:
            for key in _LAST_LOGGED:
                if key in entry:
                    out[f"final_train_{key}"] = entry[key]
        if run.test_set is not None:
            out["eval_logps_margin"] = _logps_margin(metrics, "eval_")
        return out

    def check_saved(self, run: StageRun) -> None:
        """The saved tokenizer template and generation EOS must be the parent's, byte for byte."""
        from transformers import AutoTokenizer

        out = run.output_dir
        if AutoTokenizer.from_pretrained(out).chat_template != self.parent_template:
            raise MixtuneError(f"{out}: the saved chat template differs from the parent's")
        if self.parent_eos is not None and _parent_generation_eos(str(out)) != self.parent_eos:
            raise MixtuneError(
                f"{out}: generation_config eos_token_id differs from the parent's ({self.parent_eos})"
            )

    def hyperparameters(self, run: StageRun) -> dict[str, Any]:
        return {"max_prompt_length": run.recipe.options.max_prompt_length}

    def card_sections(self, run: StageRun) -> list[CardSection]:
        return [_starting_point(run, self.reference.describe())]


def prepare_dpo(recipe: StageRecipe, overwrite: bool = False, callbacks: list[Any] | None = None) -> StageRun:
    """Everything up to `trainer.train()` (the trainer's datasets hold the encoded pairs)."""
    return prepare_stage(recipe, DPOStage(), overwrite, callbacks)


def train_dpo(recipe: StageRecipe, overwrite: bool = False, callbacks: list[Any] | None = None) -> Path:
    """Run DPO as the recipe says (resuming an interrupted run); return the finished model directory.

    callbacks: extra `transformers.TrainerCallback`s (progress reporting, instrumentation).
    """
    return run_stage(recipe, DPOStage(), overwrite, callbacks)

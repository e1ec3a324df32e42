"""One completion run: code files -> FIM rows (`completion.data`) -> transformers `Trainer` -> a
finished model directory (weights, tokenizer, curves, model card, run record), on the stage
skeleton every training stage shares (`mixtune.training.stage`): launch, resume, LoRA/QLoRA,
run record and model card work as they do for SFT and DPO.

The trainer is transformers' own `Trainer`, given the packed rows and a padding-free collator:
causal-LM loss on the labels the rows carry, nothing else to override.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from mixtune.errors import DataError, MixtuneError
from mixtune.training.model_card import CardSection
from mixtune.training.recipe import StageRecipe
from mixtune.training.run_record import DataStats
from mixtune.training.stage import StageHooks, StageRun, prepare_stage, run_stage

log = logging.getLogger(__name__)

CURVE_PANELS = (("loss", "eval_loss"), ("learning_rate",), ("grad_norm",))


class TokenCountingCollator:
    """Collates rows (packed: one padding-free row; else padded) and counts real tokens."""

    def __init__(self, packing: bool, pad_id: int) -> None:
        self.packing = packing
        self.pad_id = pad_id
        self.tokens = 0

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        from completion.data import collate_packed, collate_padded

        self.tokens += sum(len(r["input_ids"]) for r in rows)
        return collate_packed(rows) if self.packing else collate_padded(rows, self.pad_id)


def epoch_callback(dataset: Any) -> Any:
    """A TrainerCallback that tells the FIM dataset which epoch starts (also after a resume, where
    `state.epoch` was restored), so every epoch draws its own split points."""
    from transformers import TrainerCallback

    class SetFimEpoch(TrainerCallback):
        def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            dataset.set_epoch(math.floor((state.epoch or 0.0) + 1e-6))

    return SetFimEpoch()


def _auto_activation_checkpointing(model: Any) -> bool:
    """Recompute activations only where memory is the limit: models of a billion parameters or more."""
    return sum(p.numel() for p in model.parameters()) >= 1_000_000_000


def _texts(dataset: Any, where: str) -> list[str]:
    """Each file's text (a missing text counts as an empty file)."""
    if dataset is None:
        return []
    if "content" not in dataset.column_names:
        raise DataError(
            f"{where}: completion rows need a 'content' column (one file each); it has {dataset.column_names}"
        )
    return [t if isinstance(t, str) else "" for t in dataset["content"]]


def _data_stats(stats: Any) -> DataStats:
    return DataStats(
        rows_in=stats.files,
        kept=stats.files - stats.empty_files,
        dropped={"empty": stats.empty_files} if stats.empty_files else {},
        truncated={"files_cut_into_pieces": stats.split_files} if stats.split_files else {},
    )


class CompletionStage(StageHooks):
    """Completion's own steps: a tokenizer with FIM sentinels, FIM rows redrawn per epoch, LoRA
    applied here (the plain Trainer does not), and a check that packed documents stay apart."""

    name = "completion"
    title = "Completion (FIM)"
    data_kind = "completion"
    curve_panels = CURVE_PANELS

    def __init__(self) -> None:
        self.train_fim: Any = None
        self.test_fim: Any = None
        self.collator: TokenCountingCollator | None = None

    def config_cls(self) -> type:
        from completion.recipe import completion_config_cls

        return completion_config_cls()

    def config_values(self, recipe: StageRecipe, model_args: Any, caps: Any) -> tuple[dict, dict]:
        # the rows are built here, not by the Trainer: keep every column the collator makes
        return {"remove_unused_columns": False}, {}

    def check_tokenizer(self, run: StageRun) -> None:
        from completion.data import FimIds

        try:
            FimIds.of(run.tokenizer)
        except MixtuneError as exc:
            raise MixtuneError(f"{run.recipe.source}: {exc}") from None

    def prepare_model(self, run: StageRun, model: Any) -> None:
        # a cache in the forward would stop transformers deriving the document mask from position ids
        model.config.use_cache = False
        if "activation_checkpointing" not in run.recipe.training:
            run.args.activation_checkpointing = run.args.gradient_checkpointing = (
                _auto_activation_checkpointing(model)
            )

    def encode(self, run: StageRun) -> None:
        from completion.data import FimSettings, build_fim_dataset

        o = run.recipe.options
        settings = FimSettings(o.fim_rate, o.fim_spm_rate, o.seq_length, o.loss_on, o.packing, run.args.seed)
        where = run.recipe.source
        self.train_fim = build_fim_dataset(_texts(run.data.train, where), run.tokenizer, settings)
        if len(self.train_fim) == 0:
            raise DataError(f"{where}: no file has any text to train on")
        run.data_stats["train"] = _data_stats(self.train_fim.stats)
        if run.data.test is not None:
            self.test_fim = build_fim_dataset(_texts(run.data.test, where), run.tokenizer, settings)
            run.data_stats["test"] = _data_stats(self.test_fim.stats)
            if len(self.test_fim) == 0:
                self.test_fim = None
        if self.test_fim is None and str(run.args.eval_strategy) not in ("no", "IntervalStrategy.NO"):
            raise MixtuneError(
                f"{where}: eval_strategy is '{run.args.eval_strategy}' but the data has no test split"
            )
        run.train_set, run.test_set = self.train_fim, self.test_fim

    def _check_packing(self, run: StageRun, model: Any) -> None:
        from mixtune.training.batching import LEAK_TOLERANCE, packing_leak

        packing = run.recipe.options.packing
        if not packing:
            run.batching = {
                "mode": "padded",
                "why": "batching: padded (packing: false), one document per row",
            }
            return
        leak = packing_leak(model)
        if leak > LEAK_TOLERANCE:
            raise MixtuneError(
                f"{run.recipe.source}: packed documents would attend to each other with this model's attention "
                f"({model.config._attn_implementation}; logits move by {leak:.3g}): set attn_implementation: sdpa "
                "(or eager), or packing: false"
            )
        run.batching = {
            "mode": "packed",
            "why": "batching: packed (documents kept apart by restarting position ids; measured leak "
            f"{leak:.1e} with {model.config._attn_implementation} attention)",
            "probe": {"leak": leak},
        }

    def build_trainer(self, run: StageRun, model: Any, callbacks: list[Any]) -> Any:
        from transformers import Trainer

        from mixtune.training.model import peft_config

        self._check_packing(run, model)
        config = peft_config(run.model_args)
        if config is not None:
            from peft import get_peft_model, prepare_model_for_kbit_training

            if run.model_args.load_in_4bit or run.model_args.load_in_8bit:
                model = prepare_model_for_kbit_training(model, run.args.gradient_checkpointing)
            model = get_peft_model(model, config)
        pad = (
            run.tokenizer.pad_token_id
            if run.tokenizer.pad_token_id is not None
            else run.tokenizer.eos_token_id
        )
        self.collator = TokenCountingCollator(run.recipe.options.packing, pad)
        return Trainer(
            model=model,
            args=run.args,
            train_dataset=self.train_fim,
            eval_dataset=self.test_fim,
            data_collator=self.collator,
            processing_class=run.tokenizer,
            callbacks=[*callbacks, epoch_callback(self.train_fim)],
        )

    def final_metrics(self, run: StageRun, metrics: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if metrics.get("train_runtime") and self.collator is not None:
            out["train_tokens_per_second"] = round(self.collator.tokens / metrics["train_runtime"], 1)
        losses = [e["loss"] for e in run.trainer.state.log_history if "loss" in e]
        if losses:
            out["final_loss"] = losses[-1]
        run.details["fim"] = {"train": self.train_fim.stats.as_dict()}
        if self.test_fim is not None:
            run.details["fim"]["test"] = self.test_fim.stats.as_dict()
        return out

    def hyperparameters(self, run: StageRun) -> dict[str, Any]:
        o = run.recipe.options
        return {
            "fim_rate": o.fim_rate,
            "fim_spm_rate": o.fim_spm_rate,
            "seq_length": o.seq_length,
            "loss_on": o.loss_on,
            "packing": o.packing,
        }

    def card_sections(self, run: StageRun) -> list[CardSection]:
        o = run.recipe.options
        return [
            CardSection(
                "Fill-in-the-middle",
                [
                    f"Trained with StarCoder's FIM layouts: {o.fim_rate:.0%} of documents transformed per epoch, "
                    f"{o.fim_spm_rate:.0%} of those in SPM, the rest PSM; split points on characters; "
                    f"{o.seq_length}-token rows; loss on {'the middles' if o.loss_on == 'middle' else 'every token'}.",
                    "",
                    "Prompt for the code between `prefix` and `suffix` (PSM), then generate until `<|endoftext|>`:",
                    "",
                    "    <fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
                    "",
                    "`mixtune serve MODEL` answers `POST /v1/completions` with `prompt` and `suffix` in this layout.",
                ],
            )
        ]


def prepare_completion(
    recipe: StageRecipe, overwrite: bool = False, callbacks: list[Any] | None = None
) -> StageRun:
    """Everything up to `trainer.train()` (`run.train_set` is the FIM dataset)."""
    return prepare_stage(recipe, CompletionStage(), overwrite, callbacks)


def train_completion(
    recipe: StageRecipe, overwrite: bool = False, callbacks: list[Any] | None = None
) -> Path:
    """Run the completion stage as the recipe says (resuming an interrupted run); return the model dir."""
    return run_stage(recipe, CompletionStage(), overwrite, callbacks)

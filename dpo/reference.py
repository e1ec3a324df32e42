"""Where DPO's reference log-probabilities come from, decided once and checked after set-up.

Four ways, cheapest memory first:
- precomputed: one pass over the data before training stores reference log-probs in the dataset,
  so no reference model is kept at all during training (TRL's `precompute_ref_log_probs`);
- adapter_disabled: with LoRA, the reference *is* the frozen base weights with the adapter switched
  off, so there is no second model in memory (alignment-handbook loads a full copy here);
- explicit: a named reference model directory;
- frozen_copy: a second, frozen copy of the starting model (full fine-tuning).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mixtune.errors import MixtuneError


@dataclass(frozen=True)
class ReferencePlan:
    kind: str
    path: str | None
    adapter: bool

    def describe(self) -> str:
        text = {
            "precomputed": "reference log-probs precomputed before training (no reference model kept)",
            "adapter_disabled": "base weights with the LoRA adapter disabled (no second model in memory)",
            "explicit": f"frozen reference model from {self.path}",
            "frozen_copy": f"frozen copy of the starting model {self.path}",
        }[self.kind]
        if self.kind == "precomputed" and self.adapter:
            text += ", computed with the LoRA adapter disabled"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.describe()}


def plan_reference(
    model_path: str, use_peft: bool, precompute_ref_log_probs: bool, ref_model_path: str | None = None
) -> ReferencePlan:
    """Decide the reference strategy from the recipe's (TRL-named) settings."""
    if ref_model_path:
        return ReferencePlan("explicit", str(ref_model_path), use_peft)
    if precompute_ref_log_probs:
        return ReferencePlan("precomputed", None, use_peft)
    if use_peft:
        return ReferencePlan("adapter_disabled", None, True)
    return ReferencePlan("frozen_copy", str(model_path), False)


def load_explicit_reference(plan: ReferencePlan, dtype: Any, attn_implementation: str | None) -> Any:
    """The reference model for an 'explicit' plan, else None (TRL builds or avoids it itself)."""
    if plan.kind != "explicit":
        return None
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    return AutoModelForCausalLM.from_pretrained(plan.path, **kwargs)


def verify_reference(trainer: Any, plan: ReferencePlan) -> None:
    """Fail loudly if the trainer's set-up does not match the plan (e.g. a surprise second model)."""
    from accelerate.utils import is_peft_model

    has_ref = trainer.ref_model is not None
    if plan.adapter and not is_peft_model(trainer.model):
        raise MixtuneError("use_peft is set but the model was not wrapped with a LoRA adapter")
    if plan.kind in ("adapter_disabled", "precomputed") and has_ref and not trainer.is_fsdp_enabled:
        raise MixtuneError(
            f"reference plan '{plan.kind}' should keep no reference model, but one was created"
        )
    if plan.kind in ("frozen_copy", "explicit") and not has_ref:
        raise MixtuneError(f"reference plan '{plan.kind}' needs a reference model, but none was created")

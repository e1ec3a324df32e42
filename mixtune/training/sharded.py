"""The final save of a sharded (FSDP) run: one normal Hugging Face model directory.

FSDP checkpoints during training are sharded (`SHARDED_STATE_DICT`: every process writes its own
part, and resuming reads them back), and with that setting transformers' `Trainer.save_model`
writes no weights at all. At the end the full state dict is gathered (a collective: every process
calls it), and the main process writes it through a fresh, unsharded copy of the model, so
`save_pretrained` never touches the sharded parameters (which would start collectives on one
process only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def gather_full_state_dict(trainer: Any) -> dict[str, Any]:
    """The full (unsharded) state dict on the main process, {} elsewhere. Call on every process."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(trainer.model_wrapped, options=options)


def unsharded_copy(model: Any, state_dict: dict[str, Any]) -> Any:
    """A plain (non-FSDP) model of the same class and config holding `state_dict`."""
    import torch

    with torch.device("meta"):
        fresh = type(model)(model.config)
    fresh.load_state_dict(state_dict, assign=True, strict=True)
    fresh.tie_weights()
    fresh.generation_config = model.generation_config
    return fresh.eval()


def save_fsdp_model(trainer: Any, out: str | Path) -> bool:
    """Save an FSDP run's full model into `out` (main process writes). False when not FSDP.

    With a PEFT model the adapter is saved (what `out` then holds); merging is the caller's step."""
    if not trainer.is_fsdp_enabled:
        return False
    from accelerate.utils import is_peft_model

    state = gather_full_state_dict(trainer)
    model = trainer.accelerator.unwrap_model(trainer.model)
    if trainer.accelerator.is_main_process:
        Path(out).mkdir(parents=True, exist_ok=True)
        if is_peft_model(model):
            from peft import get_peft_model_state_dict

            model.save_pretrained(str(out), state_dict=get_peft_model_state_dict(model, state_dict=state))
        else:
            unsharded_copy(model, state).save_pretrained(str(out))
    trainer.accelerator.wait_for_everyone()
    return True

"""Model and tokenizer for a training stage: name resolution (including the embedded base model),
capability-checked loading, chat-format set-up and the peft / bitsandbytes configs from
`trl.ModelConfig`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mixtune.errors import MixtuneError
from mixtune.training.device import Capabilities, check_attention, check_quantization

log = logging.getLogger(__name__)

EMBEDDED_PREFIX = "mixtune:base-model"


def resolve_model_name(name: str | None, recipe_path: Path | None = None) -> str:
    """Hub id or directory, with `mixtune:base-model[/test|tiny|small]` meaning the embedded base model
    (built offline on first use, then reused from the cache)."""
    if not name:
        raise MixtuneError("model_name_or_path is not set")
    if name == EMBEDDED_PREFIX or name.startswith(EMBEDDED_PREFIX + "/"):
        from mixtune.base_model import DEFAULT_SIZE, build_base_model

        size = name[len(EMBEDDED_PREFIX) + 1 :] or DEFAULT_SIZE
        from accelerate import PartialState

        with PartialState().main_process_first():
            return str(build_base_model(size=size))
    if recipe_path is not None and not Path(name).exists():
        beside = recipe_path.parent / name
        if beside.exists():
            return str(beside)
    return name


def load_tokenizer(name: str, revision: str = "main", trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise MixtuneError(f"cannot load the tokenizer of '{name}': {exc}") from None


def setup_chat(
    model: Any, tokenizer: Any, chat_template: str | None, recipe_path: Path | None = None
) -> list[int]:
    """Give model + tokenizer a chat template and a stopping end-of-turn token.

    chat_template: None keeps the tokenizer's own template (ChatML for a base model without one);
    a template name (chatml, starchat) replaces it; 'tokenizer' insists on the tokenizer's own;
    a .jinja file or inline Jinja text is installed as is. Returns the ids of added tokens.
    """
    from mixtune.chat_format import TEMPLATES, setup_chat_format

    before = len(tokenizer)
    if chat_template is None:
        setup_chat_format(model, tokenizer, "chatml", overwrite=False)
    elif chat_template in TEMPLATES:
        setup_chat_format(model, tokenizer, chat_template, overwrite=True)
    elif chat_template == "tokenizer":
        setup_chat_format(model, tokenizer, "tokenizer")
    else:
        text = chat_template
        candidate = Path(chat_template)
        if recipe_path is not None and not candidate.is_file():
            candidate = recipe_path.parent / chat_template
        if candidate.suffix in (".jinja", ".j2") or (len(chat_template) < 300 and candidate.is_file()):
            if not candidate.is_file():
                raise MixtuneError(f"chat_template file not found: {chat_template}")
            text = candidate.read_text(encoding="utf-8")
        elif "{%" not in chat_template and "{{" not in chat_template:
            raise MixtuneError(
                f"chat_template '{chat_template}' is not a template name ({', '.join(TEMPLATES)}, tokenizer), "
                "a .jinja file, or Jinja text"
            )
        tokenizer.chat_template = text
        setup_chat_format(model, tokenizer, "tokenizer")
    return list(range(before, len(tokenizer)))


def check_model_capabilities(model_args: Any, caps: Capabilities) -> None:
    """Every hardware requirement of the model settings, checked before anything is downloaded or loaded."""
    check_attention(model_args.attn_implementation, caps)
    check_quantization(model_args.load_in_4bit, model_args.load_in_8bit, caps)
    if (model_args.load_in_4bit or model_args.load_in_8bit) and not model_args.use_peft:
        raise MixtuneError(
            "load_in_4bit/load_in_8bit train LoRA adapters on a frozen quantized model: set use_peft: true"
        )


def quantization_config(model_args: Any) -> Any:
    """bitsandbytes config for QLoRA, or None (`check_model_capabilities` has checked the hardware)."""
    if not (model_args.load_in_4bit or model_args.load_in_8bit):
        return None
    from trl import get_quantization_config

    return get_quantization_config(model_args)


def peft_config(model_args: Any, added_token_ids: list[int] | None = None) -> Any:
    """LoRA config from ModelConfig (None unless use_peft); tokens added for the chat format stay trainable."""
    from trl import get_peft_config

    config = get_peft_config(model_args)
    if config is not None and added_token_ids:
        config.trainable_token_indices = {"embed_tokens": list(added_token_ids)}
        config.modules_to_save = sorted({*(config.modules_to_save or []), "lm_head"})
    return config


def load_model(model_args: Any, name: str, caps: Capabilities, training_args: Any | None = None) -> Any:
    """AutoModelForCausalLM with the recipe's dtype / attention / quantization (checked against the
    hardware by `check_model_capabilities` before anything is loaded).

    Build the TRL config (`training_args`) first: under DeepSpeed ZeRO-3 it must exist before
    from_pretrained so the weights are partitioned while loading.
    """
    from transformers import AutoModelForCausalLM

    quant = quantization_config(model_args)
    kwargs: dict[str, Any] = {"revision": model_args.model_revision}
    if model_args.dtype not in (None, "auto"):
        import torch

        kwargs["dtype"] = getattr(torch, model_args.dtype)
    elif model_args.dtype == "auto":
        kwargs["dtype"] = "auto"
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    if quant is not None:
        from accelerate import PartialState

        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": PartialState().local_process_index}
    if training_args is not None and getattr(training_args, "trust_remote_code", False):
        kwargs["trust_remote_code"] = True
    try:
        return AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except OSError as exc:
        raise MixtuneError(f"cannot load model '{name}': {exc}") from None


def save_trained_model(
    trainer: Any, output_dir: str | Path, model_args: Any, model_name: str, merge_adapter: bool = True
) -> str:
    """Save the trained weights so `output_dir` is a plain model directory (from_pretrained, vLLM).

    A LoRA/QLoRA run with `merge_adapter` keeps its adapter in `output_dir/adapter` and writes the
    merged full model to `output_dir`: merged in place, or, for a quantized or ZeRO-3/FSDP-sharded
    model, onto a fresh copy of the parent weights loaded on the main process. Without
    `merge_adapter` the adapter alone is the model directory. Returns how the weights were saved,
    for the run record.
    """
    from peft import PeftModel

    from mixtune.training.sharded import save_fsdp_model

    out = Path(output_dir)
    model = trainer.accelerator.unwrap_model(trainer.model)
    peft = isinstance(model, PeftModel)
    if not peft or not merge_adapter:
        if not save_fsdp_model(trainer, out):
            trainer.save_model(str(out))
        return "LoRA adapter (base: the parent model)" if peft else "full weights"
    adapter_dir = out / "adapter"
    if not save_fsdp_model(trainer, adapter_dir):
        trainer.save_model(str(adapter_dir))
    if trainer.accelerator.is_main_process:
        quantized = getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)
        sharded = trainer.is_fsdp_enabled or (
            trainer.is_deepspeed_enabled and trainer.accelerator.state.deepspeed_plugin.zero_stage == 3
        )
        merged = (
            _merged_onto_parent(model, adapter_dir, model_args, model_name) if quantized or sharded else None
        )
        (merged or model.merge_and_unload()).save_pretrained(out)
    trainer.accelerator.wait_for_everyone()
    return "merged LoRA weights (adapter in adapter/)"


def _merged_onto_parent(model: Any, adapter_dir: Path, model_args: Any, model_name: str) -> Any:
    """The saved adapter merged onto a fresh full-precision copy of the parent (for a model whose own
    weights are quantized or sharded across processes)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else "auto"
    base = AutoModelForCausalLM.from_pretrained(model_name, dtype=dtype, revision=model_args.model_revision)
    vocab = model.get_input_embeddings().weight.shape[0]
    if base.get_input_embeddings().weight.shape[0] != vocab:
        base.resize_token_embeddings(vocab)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.generation_config = model.generation_config
    return merged

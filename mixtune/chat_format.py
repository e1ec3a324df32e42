"""Chat templates for turning a base code model into a chat model.

A base model has no chat template and no end-of-turn token. `setup_chat_format` adds both
(ChatML by default, as StarChat2 used), resizes the embeddings when tokens were added, and
points every EOS (tokenizer, model config, generation config) at the end-of-turn token so
that generation stops at the end of the assistant's turn in transformers and in vLLM alike.

The templates mark assistant content with `{% generation %}` so TRL can compute an
assistant-only loss mask (`return_assistant_tokens_mask`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mixtune.errors import MixtuneError


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    jinja: str
    end_of_turn: str
    special_tokens: tuple[str, ...]


CHATML = ChatTemplate(
    name="chatml",
    jinja=(
        "{%- for message in messages %}"
        "{{- '<|im_start|>' + message['role'] + '\n' }}"
        "{%- if message['role'] == 'assistant' %}"
        "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}{{- '\n' }}"
        "{%- else %}"
        "{{- message['content'] + '<|im_end|>' + '\n' }}"
        "{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
    ),
    end_of_turn="<|im_end|>",
    special_tokens=("<|im_start|>", "<|im_end|>"),
)

# The original StarChat (alpha/beta) dialogue format.
STARCHAT = ChatTemplate(
    name="starchat",
    jinja=(
        "{%- for message in messages %}"
        "{{- '<|' + message['role'] + '|>\n' }}"
        "{%- if message['role'] == 'assistant' %}"
        "{%- generation %}{{- message['content'] + '<|end|>' }}{%- endgeneration %}{{- '\n' }}"
        "{%- else %}"
        "{{- message['content'] + '<|end|>' + '\n' }}"
        "{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|assistant|>\n' }}{%- endif %}"
    ),
    end_of_turn="<|end|>",
    special_tokens=("<|system|>", "<|user|>", "<|assistant|>", "<|end|>"),
)

TEMPLATES: dict[str, ChatTemplate] = {t.name: t for t in (CHATML, STARCHAT)}


def get_template(name: str) -> ChatTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise MixtuneError(
            f"unknown chat template '{name}'; choose one of {sorted(TEMPLATES)} or 'tokenizer'"
        ) from None


def end_of_turn_token(tokenizer: Any) -> str | None:
    """The token that ends an assistant turn under this tokenizer's template, if known."""
    template = tokenizer.chat_template or ""
    for t in TEMPLATES.values():
        if t.end_of_turn in template:
            return t.end_of_turn
    return tokenizer.eos_token


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Every token id at which chat generation must stop (end of turn, then end of text)."""
    ids: list[int] = []
    for tok in (end_of_turn_token(tokenizer), "<|endoftext|>", tokenizer.eos_token):
        if tok is None:
            continue
        if tok not in tokenizer.get_vocab():
            continue
        tid = tokenizer.convert_tokens_to_ids(tok)
        if tid not in ids:
            ids.append(tid)
    return ids


def setup_chat_format(model: Any, tokenizer: Any, template: str = "chatml", overwrite: bool = False) -> bool:
    """Give a (base) model and tokenizer a chat template and a stopping end-of-turn token.

    template: a name from TEMPLATES, or "tokenizer" to keep the tokenizer's own template
    (an error if it has none). An existing template is kept unless `overwrite`.
    Returns True when tokens were added (embeddings resized).
    """
    if template == "tokenizer" or (tokenizer.chat_template and not overwrite):
        if not tokenizer.chat_template:
            raise MixtuneError(
                "chat_template 'tokenizer' was asked for, but the tokenizer has no chat template"
            )
        added = 0
    else:
        spec = get_template(template)
        vocab = tokenizer.get_vocab()
        missing = [t for t in spec.special_tokens if t not in vocab]
        added = tokenizer.add_special_tokens({"additional_special_tokens": missing}) if missing else 0
        tokenizer.chat_template = spec.jinja
    if tokenizer.pad_token is None:
        tokenizer.pad_token = (
            "<|endoftext|>" if "<|endoftext|>" in tokenizer.get_vocab() else tokenizer.eos_token
        )
    eot = end_of_turn_token(tokenizer)
    if eot is not None:
        tokenizer.eos_token = eot
    if model is not None:
        if added or len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=8)
        stops = stop_token_ids(tokenizer)
        model.config.eos_token_id = stops[0]
        model.config.pad_token_id = tokenizer.pad_token_id
        if model.generation_config is not None:
            model.generation_config.eos_token_id = stops
            model.generation_config.pad_token_id = tokenizer.pad_token_id
    return bool(added)

"""The in-process backend: a transformers model generating in a thread, streamed with a text streamer.

Generation stops at the end-of-turn token (`mixtune.chat_format.stop_token_ids`), at
max_new_tokens, or within one token when the caller's cancel event is set (a StoppingCriteria
reads it), which is what makes the playground's stop button real.

Sampling draws from torch's global random generator, so replies are generated one at a time
under a process-wide lock (chat_ui/generate_thread.py): that is what makes "same seed, same
answer" hold while several people chat. For many concurrent users, serve the model with vLLM
(`mixtune serve`) instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chat_ui.backend import GenerationSettings, Message, ReplyStream, cut_at_stop_strings
from chat_ui.lineage import read_lineage
from mixtune.errors import MixtuneError
from mixtune.fim import Layout, fim_prompt, fim_tokens_of

log = logging.getLogger(__name__)

NO_CHAT_TEMPLATE = (
    "the tokenizer has no chat template, so this is not a chat model "
    "(train it with `mixtune sft`, which sets one up)"
)
# where a raw continuation ends: the end of the text or of the file (StarCoder2's repository layout)
END_OF_TEXT_TOKENS = ("<|endoftext|>", "<file_sep>")


def end_of_text_ids(tokenizer: Any) -> list[int]:
    """Token ids that end a raw (no chat template) continuation: end of text, end of file, EOS."""
    vocab = tokenizer.get_vocab()
    ids = [vocab[t] for t in (*END_OF_TEXT_TOKENS, tokenizer.eos_token) if t is not None and t in vocab]
    return list(dict.fromkeys(ids))


def _pick_device(device: str | None) -> str:
    import torch

    if device:
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def _pick_dtype(device: str) -> Any:
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


class TransformersBackend:
    """Chat with a local model directory or a Hub id through transformers' `generate`."""

    def __init__(
        self,
        model: str | Path,
        name: str | None = None,
        device: str | None = None,
        chat: bool = True,
        fim_layout: Layout = "psm",
    ) -> None:
        """chat=False also takes a model without a chat template (a base or completion model):
        it then only continues raw prompts (`complete`). fim_layout is how `complete` lays out
        a prompt with a suffix (the layout the model was trained on; StarCoder takes both)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from mixtune.chat_format import stop_token_ids

        self.model_ref = str(model)
        self.name = name or Path(self.model_ref.rstrip("/")).name
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_ref)
        except (OSError, ValueError) as exc:
            raise MixtuneError(f"cannot load a tokenizer from {self.model_ref}: {exc}") from None
        if chat and not self.tokenizer.chat_template:
            raise MixtuneError(f"{self.model_ref}: {NO_CHAT_TEMPLATE}")
        if fim_layout not in ("psm", "spm"):
            raise MixtuneError(f"unknown FIM layout {fim_layout!r}: expected 'psm' or 'spm'")
        self.fim_layout: Layout = fim_layout
        self.device = _pick_device(device)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(self.model_ref, dtype=_pick_dtype(self.device))
        except (OSError, ValueError) as exc:
            raise MixtuneError(f"cannot load a model from {self.model_ref}: {exc}") from None
        self.model.to(self.device).eval()
        self.stop_ids = stop_token_ids(self.tokenizer)
        self.text_stop_ids = end_of_text_ids(self.tokenizer)
        self._lineage = read_lineage(self.model_ref)

    @property
    def context_limit(self) -> int | None:
        limits = [getattr(self.model.config, "max_position_embeddings", None)]
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and tok_max < 10**8:
            limits.append(tok_max)
        limits = [x for x in limits if isinstance(x, int) and x > 0]
        return min(limits) if limits else None

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": "transformers",
            "model": self.model_ref,
            "context_limit": self.context_limit,
            "lineage": self._lineage,
        }

    def render_prompt(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> str:
        from jinja2 import TemplateError

        if not self.tokenizer.chat_template:
            raise MixtuneError(f"{self.name}: {NO_CHAT_TEMPLATE}; it only completes raw prompts")
        try:
            return self.tokenizer.apply_chat_template(
                messages, tools=tools or None, tokenize=False, add_generation_prompt=True
            )
        except TemplateError as exc:  # e.g. a template's raise_exception on a role order it refuses
            raise MixtuneError(f"{self.name}'s chat template rejects this conversation: {exc}") from None

    def _encode(self, prompt: str) -> list[int]:
        return self.tokenizer(prompt, add_special_tokens=False)["input_ids"]

    def count_tokens(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> int:
        return len(self._encode(self.render_prompt(messages, tools)))

    def generation_kwargs(
        self, settings: GenerationSettings, stop_ids: list[int] | None = None
    ) -> dict[str, Any]:
        """The `generate` arguments for these settings: every slider lands here."""
        from transformers import GenerationConfig

        sample = settings.temperature > 0
        config = GenerationConfig(
            max_new_tokens=settings.max_new_tokens,
            do_sample=sample,
            temperature=settings.temperature if sample else None,
            top_k=settings.top_k if sample else None,
            top_p=settings.top_p if sample else None,
            repetition_penalty=settings.repetition_penalty,
            eos_token_id=self.stop_ids if stop_ids is None else stop_ids,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        return {"generation_config": config}

    def stream(
        self,
        messages: list[Message],
        settings: GenerationSettings,
        cancel: threading.Event | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> ReplyStream:
        prompt_ids = self._encode(self.render_prompt(messages, tools))
        return self._generate(prompt_ids, settings, cancel, self.stop_ids)

    def fim_prompt(self, prefix: str, suffix: str) -> str:
        """The fill-in-the-middle prompt for a cursor between `prefix` and `suffix`, in this
        model's FIM tokens and layout (an error naming the problem when it has none)."""
        return fim_prompt(prefix, suffix, fim_tokens_of(self.tokenizer), self.fim_layout)

    def complete(
        self,
        prompt: str,
        settings: GenerationSettings,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        suffix: str | None = None,
    ) -> ReplyStream:
        """The raw continuation of `prompt` (or, with `suffix`, the middle between them), ending at
        the end of text or file, max_new_tokens, or before the first stop string."""
        text = self.fim_prompt(prompt, suffix) if suffix is not None else prompt
        prompt_ids = self._encode(text)
        if not prompt_ids:
            raise MixtuneError("the prompt is empty: give the text to continue")
        reply = self._generate(prompt_ids, settings, cancel, self.text_stop_ids)
        reply.prompt = text
        return cut_at_stop_strings(reply, stop)

    def _generate(
        self,
        prompt_ids: list[int],
        settings: GenerationSettings,
        cancel: threading.Event | None,
        stop_ids: list[int],
    ) -> ReplyStream:
        """Start generating after `prompt_ids` (the reply length capped by the context window)."""
        from chat_ui.generate_thread import GenerateThread

        settings = settings.validate().with_seed()
        limit = self.context_limit
        if limit is not None:
            room = limit - len(prompt_ids)
            if room < 1:
                raise MixtuneError(
                    f"the prompt has {len(prompt_ids)} tokens, more than {self.name}'s context window of {limit}"
                )
            if settings.max_new_tokens > room:
                settings = GenerationSettings(**{**settings.to_dict(), "max_new_tokens": room})
        run = GenerateThread(
            self.model,
            self.tokenizer,
            prompt_ids,
            self.generation_kwargs(settings, stop_ids),
            settings.seed,
            cancel,
            self.name,
        )
        reply = ReplyStream(iter(()), prompt_tokens=len(prompt_ids), seed=settings.seed)
        reply.pieces = run.pieces(reply, stop_ids, settings.max_new_tokens)
        reply._on_close.append(run.stop.set)
        return reply

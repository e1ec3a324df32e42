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
from pathlib import Path
from typing import Any

from chat_ui.backend import GenerationSettings, Message, ReplyStream
from chat_ui.lineage import read_lineage
from mixtune.errors import MixtuneError

log = logging.getLogger(__name__)


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

    def __init__(self, model: str | Path, name: str | None = None, device: str | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from mixtune.chat_format import stop_token_ids

        self.model_ref = str(model)
        self.name = name or Path(self.model_ref.rstrip("/")).name
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_ref)
        except (OSError, ValueError) as exc:
            raise MixtuneError(f"cannot load a tokenizer from {self.model_ref}: {exc}") from None
        if not self.tokenizer.chat_template:
            raise MixtuneError(
                f"{self.model_ref}: the tokenizer has no chat template, so this is not a chat model "
                "(train it with `mixtune sft`, which sets one up)"
            )
        self.device = _pick_device(device)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(self.model_ref, dtype=_pick_dtype(self.device))
        except (OSError, ValueError) as exc:
            raise MixtuneError(f"cannot load a model from {self.model_ref}: {exc}") from None
        self.model.to(self.device).eval()
        self.stop_ids = stop_token_ids(self.tokenizer)
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

    def generation_kwargs(self, settings: GenerationSettings) -> dict[str, Any]:
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
            eos_token_id=self.stop_ids,
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
        from chat_ui.generate_thread import GenerateThread

        settings = settings.validate().with_seed()
        prompt_ids = self._encode(self.render_prompt(messages, tools))
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
            self.generation_kwargs(settings),
            settings.seed,
            cancel,
            self.name,
        )
        reply = ReplyStream(iter(()), prompt_tokens=len(prompt_ids), seed=settings.seed)
        reply.pieces = run.pieces(reply, self.stop_ids, settings.max_new_tokens)
        reply._on_close.append(run.stop.set)
        return reply

"""The in-process backend: a transformers model generating in a thread, streamed with a text streamer.

Generation stops at the end-of-turn token (`mixtune.chat_format.stop_token_ids`), at
max_new_tokens, or within one token when the caller's cancel event is set (a StoppingCriteria
reads it), which is what makes the playground's stop button real.

Sampling draws from torch's global random generator, so replies are generated one at a time
under a process-wide lock: that is what makes "same seed, same answer" hold while several
people chat. For many concurrent users, serve the model with vLLM (`mixtune serve`) instead.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any

from chat_ui.backend import GenerationSettings, Message, ReplyStream
from chat_ui.lineage import read_lineage
from mixtune.errors import MixtuneError

log = logging.getLogger(__name__)

GENERATION_LOCK = threading.Lock()
STOP_POLL_S = 0.1  # how often a reader waiting for its first token checks for a stop


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
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

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
        stop = threading.Event()

        def halted() -> bool:
            return stop.is_set() or (cancel is not None and cancel.is_set())

        class CancelCriteria(StoppingCriteria):
            """Ends generation within a token of a stop; its answers are made once, not per token."""

            answers: dict[bool, Any] = {}

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                halt = halted()
                if halt not in self.answers:
                    self.answers[halt] = torch.full(
                        (input_ids.shape[0],), halt, dtype=torch.bool, device=input_ids.device
                    )
                return self.answers[halt]

        class CountingStreamer(TextIteratorStreamer):
            generated = 0
            last_token: int | None = None

            def put(self, value: Any) -> None:
                if not (self.skip_prompt and self.next_tokens_are_prompt):
                    flat = value.reshape(-1)
                    self.generated += int(flat.numel())
                    self.last_token = int(flat[-1])
                super().put(value)

        # the timeout lets the reader notice a stop while it waits for the model (see pieces())
        streamer = CountingStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=STOP_POLL_S
        )
        input_ids = torch.tensor([prompt_ids], device=self.model.device)
        kwargs = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([CancelCriteria()]),
            **self.generation_kwargs(settings),
        }
        failure: list[BaseException] = []
        generating = threading.Event()

        def run() -> None:
            try:
                with GENERATION_LOCK:
                    if halted():
                        streamer.end()
                        return
                    generating.set()
                    torch.manual_seed(settings.seed)
                    with torch.inference_mode():
                        self.model.generate(**kwargs)
            except BaseException as exc:  # surfaced to the reader below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, name=f"generate-{self.name}", daemon=True)
        reply = ReplyStream(iter(()), prompt_tokens=len(prompt_ids), seed=settings.seed)

        def pieces():
            thread.start()
            try:
                while True:
                    try:
                        text = next(streamer)
                    except StopIteration:
                        break
                    except queue.Empty:
                        # no token yet: still waiting for another reply to release the model, or
                        # a slow step; a stop asked meanwhile ends the reply now, not when the
                        # model is free (the generation thread then sees it and does not start)
                        if halted():
                            break
                        continue
                    if text:
                        yield text
            finally:
                if thread.is_alive():
                    stop.set()
                if generating.is_set():  # it ends within a token; one still waiting for the model
                    thread.join(timeout=30)  # returns as soon as it gets it, so it is not waited for
            if failure:
                raise MixtuneError(f"generation with {self.name} failed: {failure[0]}") from failure[0]
            reply.completion_tokens = streamer.generated
            if streamer.last_token in self.stop_ids:
                reply.finish_reason = "stop"
            elif streamer.generated >= settings.max_new_tokens:
                reply.finish_reason = "length"
            else:
                reply.finish_reason = "cancelled"

        reply.pieces = pieces()
        reply._on_close.append(stop.set)
        return reply

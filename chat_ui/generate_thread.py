"""One reply of the in-process backend: transformers' `generate` in a thread of its own, read as
text pieces, stopped within a token by a stop criterion that watches the cancel events.

Kept apart from chat_ui/transformers_backend.py because it subclasses transformers' classes, so
importing it imports torch and transformers (the backend imports it when it first streams).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from chat_ui.backend import ReplyStream
from mixtune.errors import MixtuneError

# Sampling draws from torch's global random generator, so replies are generated one at a time:
# that is what makes "same seed, same answer" hold while several people chat.
GENERATION_LOCK = threading.Lock()
STOP_POLL_S = 0.1  # how often a reader waiting for its first token checks for a stop


class CancelCriteria(StoppingCriteria):
    """Ends generation within a token of a stop; its answers are made once, not per token."""

    def __init__(self, halted: Any) -> None:
        self.halted = halted
        self.answers: dict[bool, Any] = {}

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        halt = self.halted()
        if halt not in self.answers:
            self.answers[halt] = torch.full(
                (input_ids.shape[0],), halt, dtype=torch.bool, device=input_ids.device
            )
        return self.answers[halt]


class CountingStreamer(TextIteratorStreamer):
    """A text streamer that also counts the generated tokens and keeps the last one."""

    def __init__(self, tokenizer: Any, **kwargs: Any) -> None:
        super().__init__(tokenizer, **kwargs)
        self.generated = 0
        self.last_token: int | None = None

    def put(self, value: Any) -> None:
        if not (self.skip_prompt and self.next_tokens_are_prompt):
            flat = value.reshape(-1)
            self.generated += int(flat.numel())
            self.last_token = int(flat[-1])
        super().put(value)


class GenerateThread:
    """A reply generated in a daemon thread, started by the first read of `pieces`.

    `stop` (or the caller's `cancel`) ends it within a token; a reply still waiting for the
    model (another one holds GENERATION_LOCK) then never starts."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompt_ids: list[int],
        generate_kwargs: dict[str, Any],
        seed: int,
        cancel: threading.Event | None,
        name: str,
    ) -> None:
        self.model = model
        self.seed = seed
        self.cancel = cancel
        self.name = name
        self.stop = threading.Event()
        self.generating = threading.Event()
        self.failure: list[BaseException] = []
        # the timeout lets the reader notice a stop while it waits for the model (see pieces())
        self.streamer = CountingStreamer(
            tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=STOP_POLL_S
        )
        input_ids = torch.tensor([prompt_ids], device=model.device)
        self.kwargs = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "streamer": self.streamer,
            "stopping_criteria": StoppingCriteriaList([CancelCriteria(self.halted)]),
            **generate_kwargs,
        }
        self.thread = threading.Thread(target=self._run, name=f"generate-{name}", daemon=True)

    def halted(self) -> bool:
        return self.stop.is_set() or (self.cancel is not None and self.cancel.is_set())

    def _run(self) -> None:
        try:
            with GENERATION_LOCK:
                if self.halted():
                    self.streamer.end()
                    return
                self.generating.set()
                torch.manual_seed(self.seed)
                with torch.inference_mode():
                    self.model.generate(**self.kwargs)
        except BaseException as exc:  # surfaced to the reader in pieces()
            self.failure.append(exc)
            self.streamer.end()

    def pieces(self, reply: ReplyStream, stop_ids: list[int], max_new_tokens: int) -> Iterator[str]:
        """The reply's text as it comes; at the end, its token count and finish reason go to `reply`."""
        self.thread.start()
        try:
            while True:
                try:
                    text = next(self.streamer)
                except StopIteration:
                    break
                except queue.Empty:
                    # no token yet: still waiting for another reply to release the model, or
                    # a slow step; a stop asked meanwhile ends the reply now, not when the
                    # model is free (the generation thread then sees it and does not start)
                    if self.halted():
                        break
                    continue
                if text:
                    yield text
        finally:
            if self.thread.is_alive():
                self.stop.set()
            if self.generating.is_set():  # it ends within a token; one still waiting for the model
                self.thread.join(timeout=30)  # returns as soon as it gets it, so it is not waited for
        if self.failure:
            raise MixtuneError(f"generation with {self.name} failed: {self.failure[0]}") from self.failure[0]
        reply.completion_tokens = self.streamer.generated
        if self.streamer.last_token in stop_ids:
            reply.finish_reason = "stop"
        elif self.streamer.generated >= max_new_tokens:
            reply.finish_reason = "length"
        else:
            reply.finish_reason = "cancelled"

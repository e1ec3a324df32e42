"""`POST /v1/completions`: OpenAI's text completion endpoint over a backend's raw completion.

It takes what code editors send: `prompt` (a text, or a list of texts), `suffix` (the text after
the cursor: the server then builds the fill-in-the-middle prompt in the model's FIM tokens and
the layout it was served with, `mixtune serve --fim-layout`), `max_tokens` (16 when absent, as
OpenAI's default), `temperature`, `top_p`, `seed`, `n`, `stop` (a text or a list, never
returned), `echo`, `stream` (server-sent `text_completion` chunks, then `data: [DONE]`) and
`stream_options.include_usage`; vLLM's `top_k` and `repetition_penalty` too. What it cannot
honour (`logprobs`, frequency and presence penalties, `logit_bias`, `best_of` other than `n`,
token-id prompts, `echo` with `suffix`) is a 400 saying so, never silently ignored.

`check_training_data: true` (an extension field, e.g. `extra_body` in the `openai` client)
adds to each choice a `training_data` field: the completion's matches in the model's training
mixtures (chat_ui/training_data.py), looked up after generation in a worker thread; when
streaming, it comes in the choice's last chunk, with its finish_reason.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from chat_ui.backend import CompletionBackend, GenerationSettings, ReplyStream
from chat_ui.openai_api import (
    BadRequest,
    close_reply,
    event_stream,
    find_backend,
    next_piece,
    parse_body,
    sse,
    validated,
)
from chat_ui.training_data import training_data_field
from mixtune.errors import MixtuneError

MAX_CHOICES = 16  # prompts x n in one request: choices are generated one after another
MAX_STOPS = 16
DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions (vLLM's too)
TOKEN_IDS = (
    "token-id prompts are not supported by this server; send the text "
    "(POST /detokenize turns token ids into text)"
)


class CompletionRequest(BaseModel):
    """The fields of OpenAI's completion request; the unsupported ones are checked in `refusals`."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)

    model: str
    prompt: Any = None  # text or a list of texts: checked by `prompts` for clear messages
    suffix: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = 1.0  # strict still takes integers for floats (not booleans or text)
    top_p: float = 1.0
    top_k: int = Field(default=-1, ge=-1)
    repetition_penalty: float = 1.0
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=MAX_CHOICES)
    best_of: int | None = Field(default=None, ge=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    stop: str | list[str] | None = None
    echo: bool = False
    logprobs: int | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logit_bias: dict[str, Any] | None = None
    user: str | None = None
    check_training_data: bool = False

    def prompts(self) -> list[str]:
        """The prompt as a list of texts, or a 400 naming what is wrong with it."""
        prompt = self.prompt
        if isinstance(prompt, str):
            return [prompt]
        if prompt is None:
            raise BadRequest("prompt: a prompt is required (a text, or a list of texts)", "prompt")
        if not isinstance(prompt, list):
            raise BadRequest(
                f"prompt: expected a text or a list of texts, got {type(prompt).__name__}", "prompt"
            )
        if not prompt:
            raise BadRequest("prompt: the list of prompts is empty", "prompt")
        for i, item in enumerate(prompt):
            if isinstance(item, int) and not isinstance(item, bool) or isinstance(item, list):
                raise BadRequest(f"prompt: {TOKEN_IDS}", "prompt")
            if not isinstance(item, str):
                raise BadRequest(f"prompt.{i}: expected text, got {type(item).__name__}", "prompt")
        return list(prompt)

    def refusals(self, prompts: list[str]) -> None:
        """A 400 for every field this server cannot honour (rather than ignoring it)."""
        unsupported = [
            (
                self.logprobs is not None,
                "logprobs",
                "token log-probabilities are not returned by this server",
            ),
            (self.frequency_penalty != 0, "frequency_penalty", "not supported; use repetition_penalty"),
            (self.presence_penalty != 0, "presence_penalty", "not supported; use repetition_penalty"),
            (bool(self.logit_bias), "logit_bias", "not supported by this server"),
            (self.best_of not in (None, self.n), "best_of", "only best_of equal to n is supported"),
            (self.echo and self.suffix is not None, "echo", "cannot be combined with suffix"),
        ]
        for refused, param, why in unsupported:
            if refused:
                raise BadRequest(f"{param}: {why}", param)
        if len(prompts) * self.n > MAX_CHOICES:
            raise BadRequest(
                f"n: {len(prompts)} prompts x n={self.n} asks for {len(prompts) * self.n} completions; "
                f"at most {MAX_CHOICES} per request",
                "n",
            )
        if isinstance(self.stop, list) and len(self.stop) > MAX_STOPS:
            raise BadRequest(f"stop: at most {MAX_STOPS} stop strings, got {len(self.stop)}", "stop")

    def stop_strings(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop if s]

    def settings(self, choice: int) -> GenerationSettings:
        """The settings of the `choice`-th completion (with a seed, each choice gets the next one)."""
        seed = None if self.seed is None else self.seed + choice
        return GenerationSettings(
            temperature=self.temperature,
            top_k=max(self.top_k, 0),
            top_p=self.top_p,
            max_new_tokens=self.max_tokens or DEFAULT_MAX_TOKENS,
            repetition_penalty=self.repetition_penalty,
            seed=seed,
        ).validate()


@dataclass
class Choice:
    """One completion of the answer: its index, the prompt it continues, its streamed reply."""

    index: int
    prompt: str
    reply: ReplyStream


def start_choices(
    req: CompletionRequest, backend: CompletionBackend, cancel: threading.Event
) -> list[Choice]:
    """Every completion of the request, started (each generates when first read); a 400 for a
    prompt the model cannot take (too long, empty, a suffix without FIM tokens)."""
    prompts = req.prompts()
    req.refusals(prompts)
    if req.seed is not None and not 0 <= req.seed + len(prompts) * req.n - 1 < 2**32:
        raise BadRequest(
            f"seed must be in [0, 2**32 - {len(prompts) * req.n}) for this many completions", "seed"
        )
    fim_prompt = getattr(backend, "fim_prompt", None)
    if req.suffix is not None and fim_prompt is not None:
        try:
            fim_prompt("", "")
        except MixtuneError as exc:
            raise BadRequest(f"suffix: {exc}", "suffix") from None
    choices = []
    for i, prompt in enumerate(prompts):
        for j in range(req.n):
            index = i * req.n + j
            try:
                settings = req.settings(index)
                reply = backend.complete(prompt, settings, req.stop_strings(), cancel, suffix=req.suffix)
            except MixtuneError as exc:
                raise BadRequest(str(exc), "prompt" if "prompt" in str(exc) else None) from None
            choices.append(Choice(index, prompt, reply))
    return choices


class TextCompletion:
    """One `/v1/completions` answer, whole (`answer`) or as server-sent events (`events`); either
    way generation stops when the answer ends or the client leaves."""

    def __init__(
        self, req: CompletionRequest, choices: list[Choice], cancel: threading.Event, model_ref: Any
    ) -> None:
        self.req = req
        self.choices = choices
        self.cancel = cancel
        self.model_ref = model_ref
        self.id = f"cmpl-{uuid.uuid4().hex}"

    def body(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        """A `text_completion` object (the whole answer or one chunk) with these choices."""
        seed = self.choices[0].reply.seed
        return {
            "id": self.id,
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.req.model,
            "system_fingerprint": f"seed-{seed}",
            "choices": choices,
            **extra,
        }

    @staticmethod
    def piece(choice: Choice, text: str, finish: str | None = None) -> dict[str, Any]:
        return {"text": text, "index": choice.index, "logprobs": None, "finish_reason": finish}

    def usage(self) -> dict[str, int]:
        # a prompt is counted once, however many completions it has (as OpenAI counts)
        prompt = sum(c.reply.prompt_tokens for c in self.choices if c.index % self.req.n == 0)
        completion = sum(c.reply.completion_tokens for c in self.choices)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def checked(self) -> list[dict[str, Any]]:
        """Each completion's `training_data` field (run in a worker thread, after generation)."""
        return [training_data_field(self.model_ref, c.reply.text, blocks=False) for c in self.choices]

    async def close(self) -> None:
        for choice in self.choices:
            await close_reply(choice.reply, self.cancel)

    async def answer(self) -> dict[str, Any]:
        """The whole answer as one `text_completion` object."""
        try:
            for choice in self.choices:
                while await next_piece(choice.reply) is not None:
                    pass
        except MixtuneError as exc:
            raise BadRequest(str(exc)) from None
        finally:
            await self.close()
        out = [
            self.piece(c, (c.prompt if self.req.echo else "") + c.reply.text, c.reply.finish_reason)
            for c in self.choices
        ]
        if self.req.check_training_data:
            for choice, field in zip(out, await anyio.to_thread.run_sync(self.checked), strict=True):
                choice["training_data"] = field
        return self.body(out, usage=self.usage())

    async def events(self) -> AsyncIterator[str]:
        """The answer as `text_completion` chunks: the text as it comes, each choice's last chunk
        with its finish_reason (and training_data when asked), the usage when asked (then [DONE],
        added by `event_stream`)."""
        held = []
        for choice in self.choices:
            if self.req.echo:
                yield sse(self.body([self.piece(choice, choice.prompt)]))
            while (text := await next_piece(choice.reply)) is not None:
                yield sse(self.body([self.piece(choice, text)]))
            last = self.piece(choice, "", choice.reply.finish_reason)
            if self.req.check_training_data:
                held.append(last)  # sent with its training_data once every choice is done
            else:
                yield sse(self.body([last]))
        if held:
            for last, field in zip(held, await anyio.to_thread.run_sync(self.checked), strict=True):
                yield sse(self.body([{**last, "training_data": field}]))
        if (self.req.stream_options or {}).get("include_usage"):
            yield sse(self.body([], usage=self.usage()))


async def completions(request: Request) -> Any:
    req = validated(CompletionRequest, parse_body(await request.body()))
    backend = find_backend(request, req.model)
    if not hasattr(backend, "complete"):
        raise BadRequest(
            f"model {req.model!r} cannot continue raw prompts here; use /v1/chat/completions", "model"
        )
    cancel = threading.Event()
    choices = await anyio.to_thread.run_sync(start_choices, req, backend, cancel)
    completion = TextCompletion(req, choices, cancel, backend.info().get("model"))
    if not req.stream:
        return await completion.answer()
    return StreamingResponse(
        event_stream(completion.events(), completion.close), media_type="text/event-stream"
    )

"""A small OpenAI-compatible server over the in-process backend, for CPU use and tests.

It speaks the subset of the API the playground and common clients use: `GET /v1/models`,
`POST /v1/chat/completions` (streamed as server-sent events or not, with usage counts),
`POST /v1/completions` (chat_ui/openai_completions.py: raw prompts, fill-in-the-middle from
`suffix`), and vLLM's `/tokenize` and `/detokenize`, so the same client code works against
`vllm serve`. When the client disconnects mid-stream, generation is cancelled. The extension field
`check_training_data` adds the answer's matches in the model's training data (chat_ui/training_data.py).

Tool calling works as `vllm serve --enable-auto-tool-choice --tool-call-parser hermes` does it:
`tools` are rendered by the chat template, `<tool_call>` blocks in the reply come back as
OpenAI `tool_calls` (arguments as JSON text, finish_reason "tool_calls"), streamed or not.

Every malformed request is a 400 naming what is wrong (body not UTF-8 or not a JSON object,
a non-finite number, a wrong type, a bad message, token ids out of range), never a 500.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from chat_ui.backend import ChatBackend, GenerationSettings, ReplyStream, check_messages
from chat_ui.openai_api import (
    ApiError,
    BadRequest,
    api_error,
    close_reply,
    event_stream,
    find_backend,
    next_piece,
    parse_body,
    sse,
    validated,
)
from chat_ui.openai_completions import completions
from chat_ui.training_data import training_data_field
from mixtune.chat_format import TOOL_CALL_TAG, decode_tools, parse_tool_calls
from mixtune.errors import MixtuneError


class ChatCompletionRequest(BaseModel):
    """The fields this server honours; other OpenAI fields (user, logprobs: false, ...) are ignored."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float = 1.0  # strict still takes integers for floats (not booleans or text)
    top_p: float = 1.0
    top_k: int = Field(default=-1, ge=-1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    repetition_penalty: float = 1.0
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    stop: str | list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    check_training_data: bool = False  # extension: each code block's matches in the training data

    def settings(self, default_max_tokens: int) -> GenerationSettings:
        max_new = next(
            v for v in (self.max_completion_tokens, self.max_tokens, default_max_tokens) if v is not None
        )
        return GenerationSettings(
            temperature=self.temperature,
            top_k=max(self.top_k, 0),
            top_p=self.top_p,
            max_new_tokens=max_new,
            repetition_penalty=self.repetition_penalty,
            seed=self.seed,
        ).validate()

    def stop_strings(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop if s]

    def active_tools(self) -> list[dict[str, Any]] | None:
        """The tools the model sees: none with tool_choice "none" (the reply is then plain text)."""
        if self.tool_choice not in (None, "auto", "none"):
            shown = "a named function" if isinstance(self.tool_choice, dict) else repr(self.tool_choice)
            raise BadRequest(
                f"tool_choice: {shown} is not supported by this server; use 'auto' or 'none' "
                "(forcing a call needs constrained decoding: serve the model with vLLM for it)",
                "tool_choice",
            )
        if self.tool_choice == "none":
            return None
        try:
            return decode_tools(self.tools)
        except MixtuneError as exc:
            raise BadRequest(str(exc), "tools") from None


def openai_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parsed calls as OpenAI's `tool_calls`: an id each, arguments as JSON text."""
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)},
        }
        for c in calls
    ]


def _partial_tag(text: str, tag: str) -> int:
    """Length of the longest end of `text` that could be the start of `tag` (held back while streaming)."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


def _apply_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class StreamedText:
    """What of a streamed reply may be sent yet. Content goes out as it comes, less a tail that
    could be the start of a stop string or of a `<tool_call>` tag; from such a tag on, the rest is
    held and read as tool calls at the end (or sent as content if it is not one)."""

    def __init__(self, stops: list[str], tools: bool) -> None:
        self.stops = stops
        self.tools = tools
        self.held = ""  # the reply so far, cut at a stop string
        self.sent = 0  # how much of `held` went out as content
        self.stopped = False
        self.calling = False

    def feed(self, piece: str) -> str:
        """Take the next piece; returns the content to send now."""
        self.held, self.stopped = _apply_stop(self.held + piece, self.stops)
        if self.tools and not self.calling and TOOL_CALL_TAG in self.held:
            self.calling = True
            out = self.held[self.sent : self.held.index(TOOL_CALL_TAG)]
        elif self.calling:
            out = ""
        else:
            keep = 0 if self.stopped else max((len(s) - 1 for s in self.stops), default=0)
            if self.tools:
                keep = max(keep, _partial_tag(self.held, TOOL_CALL_TAG))
            out = self.held[self.sent : len(self.held) - keep] if keep else self.held[self.sent :]
        self.sent += len(out)
        return out

    @property
    def unsent(self) -> str:
        return self.held[self.sent :]


class ChatCompletion:
    """One `/v1/chat/completions` reply, answered whole (`answer`) or as server-sent events
    (`events`); either way generation stops when the reply ends or the client leaves."""

    def __init__(
        self,
        req: ChatCompletionRequest,
        reply: ReplyStream,
        cancel: threading.Event,
        tools: list[dict[str, Any]] | None,
        model_ref: Any = None,
    ) -> None:
        self.req = req
        self.reply = reply
        self.cancel = cancel
        self.tools = tools
        self.model_ref = model_ref  # the model directory whose training data `check_training_data` searches
        self.stops = req.stop_strings()
        self.id = f"chatcmpl-{uuid.uuid4().hex}"

    def head(self, kind: str) -> dict[str, Any]:
        """The fields every answer and chunk starts with."""
        return {"id": self.id, "object": kind, "created": int(time.time()), "model": self.req.model}

    def usage(self) -> dict[str, int]:
        prompt, completion = self.reply.prompt_tokens, self.reply.completion_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            **self.head("chat.completion.chunk"),
            "system_fingerprint": f"seed-{self.reply.seed}",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **extra}],
        }
        return sse(body)

    async def training_data(self, text: str) -> dict[str, Any]:
        """The opt-in `training_data` field: each code block of the answer looked up in the
        model's training mixtures, in a worker thread once generation has ended ({} when not asked)."""
        if not self.req.check_training_data:
            return {}
        field = await anyio.to_thread.run_sync(training_data_field, self.model_ref, text, True)
        return {"training_data": field}

    async def next_piece(self) -> str | None:
        return await next_piece(self.reply)

    async def close(self) -> None:
        await close_reply(self.reply, self.cancel)

    async def answer(self) -> dict[str, Any]:
        """The whole reply as one `chat.completion` object."""
        text, stopped = "", False
        try:
            while (piece := await self.next_piece()) is not None:
                text, stopped = _apply_stop(text + piece, self.stops)
                if stopped:
                    break
        finally:
            await self.close()
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop" if stopped else self.reply.finish_reason
        parsed = parse_tool_calls(text) if self.tools else None
        if parsed is not None and parsed.calls:
            message = {
                "role": "assistant",
                "content": parsed.content or None,
                "tool_calls": openai_tool_calls(parsed.calls),
            }
            finish = "tool_calls"
        checked = await self.training_data(text)
        return {
            **self.head("chat.completion"),
            "system_fingerprint": f"seed-{self.reply.seed}",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, **checked}],
            "usage": self.usage(),
        }

    async def events(self) -> AsyncIterator[str]:
        """The reply as `chat.completion.chunk` events, then the usage when asked (then [DONE],
        added by `event_stream`)."""
        text = StreamedText(self.stops, bool(self.tools))
        yield self.chunk({"role": "assistant", "content": ""})
        while (piece := await self.next_piece()) is not None:
            if out := text.feed(piece):
                yield self.chunk({"content": out})
            if text.stopped:
                break
        *deltas, (delta, finish) = self.last_deltas(text)
        for each, _ in deltas:
            yield self.chunk(each)
        yield self.chunk(delta, finish, **await self.training_data(text.held))
        if (self.req.stream_options or {}).get("include_usage"):
            yield sse({**self.head("chat.completion.chunk"), "choices": [], "usage": self.usage()})

    def last_deltas(self, text: StreamedText) -> list[tuple[dict[str, Any], str | None]]:
        """What follows the streamed content: the tool calls or the held-back rest, then the finish."""
        finish = "stop" if text.stopped else self.reply.finish_reason
        parsed = parse_tool_calls(text.held) if text.calling else None
        deltas: list[tuple[dict[str, Any], str | None]] = []
        if parsed is not None and parsed.calls:
            for index, call in enumerate(openai_tool_calls(parsed.calls)):
                deltas.append(({"tool_calls": [{"index": index, **call}]}, None))
            finish = "tool_calls"
        elif text.unsent:
            deltas.append(({"content": text.unsent}, None))
        return [*deltas, ({}, finish)]


def local_tokenizer(request: Request, body: dict[str, Any]) -> tuple[ChatBackend, Any]:
    """The backend named in `body` and its tokenizer (a 501 for a backend without one)."""
    backend = find_backend(request, body.get("model"))
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is None:
        raise ApiError(501, f"model {body.get('model')!r} has no local tokenizer")
    return backend, tokenizer


def health() -> dict[str, str]:
    return {"status": "ok"}


def list_models(request: Request) -> dict[str, Any]:
    data = []
    for name, backend in request.app.state.backends.items():
        info = backend.info()
        data.append(
            {
                "id": name,
                "object": "model",
                "created": request.app.state.created,
                "owned_by": "mixtune",
                "root": info.get("model"),
                "max_model_len": backend.context_limit,
                "lineage": info.get("lineage") or {},
            }
        )
    return {"object": "list", "data": data}


async def tokenize(request: Request) -> Any:
    body = parse_body(await request.body())
    backend, tokenizer = local_tokenizer(request, body)
    if "messages" in body:
        try:
            messages = check_messages(body["messages"])
            tools = decode_tools(body.get("tools"))
            prompt = backend.render_prompt(messages, tools) if tools else backend.render_prompt(messages)
        except MixtuneError as exc:
            raise BadRequest(str(exc), "messages") from None
    elif "prompt" in body:
        if not isinstance(body["prompt"], str):
            raise BadRequest(f"prompt: expected text, got {type(body['prompt']).__name__}", "prompt")
        prompt = body["prompt"]
    else:
        raise BadRequest("give 'messages' (a conversation) or 'prompt' (text)")
    tokens = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return {"count": len(tokens), "max_model_len": backend.context_limit, "tokens": tokens}


async def detokenize(request: Request) -> Any:
    body = parse_body(await request.body())
    _, tokenizer = local_tokenizer(request, body)
    tokens = body.get("tokens")
    if not isinstance(tokens, list):
        raise BadRequest("tokens: expected a list of token ids", "tokens")
    vocab = len(tokenizer)
    for i, t in enumerate(tokens):
        if isinstance(t, bool) or not isinstance(t, int):
            raise BadRequest(f"tokens.{i}: expected an integer token id, got {t!r}", "tokens")
        if not 0 <= t < vocab:
            raise BadRequest(f"tokens.{i}: token id {t} is out of range [0, {vocab})", "tokens")
    return {"prompt": tokenizer.decode(tokens, skip_special_tokens=False)}


async def chat_completions(request: Request) -> Any:
    req = validated(ChatCompletionRequest, parse_body(await request.body()))
    backend = find_backend(request, req.model)
    try:
        messages = check_messages(req.messages)
    except MixtuneError as exc:
        raise BadRequest(str(exc), "messages") from None
    try:
        settings = req.settings(request.app.state.default_max_tokens)
    except MixtuneError as exc:
        raise BadRequest(str(exc)) from None
    tools = req.active_tools()
    cancel = threading.Event()
    extra = {"tools": tools} if tools else {}
    try:
        reply = await anyio.to_thread.run_sync(lambda: backend.stream(messages, settings, cancel, **extra))
    except MixtuneError as exc:
        raise BadRequest(str(exc), "messages") from None
    completion = ChatCompletion(req, reply, cancel, tools, backend.info().get("model"))
    if not req.stream:
        return await completion.answer()
    return StreamingResponse(
        event_stream(completion.events(), completion.close), media_type="text/event-stream"
    )


def create_app(backends: dict[str, ChatBackend], default_max_tokens: int = 512) -> FastAPI:
    """The FastAPI application serving these backends under their names."""
    app = FastAPI(title="mixtune OpenAI-compatible server")
    app.state.backends = backends
    app.state.default_max_tokens = default_max_tokens
    app.state.created = int(time.time())
    app.add_exception_handler(ApiError, api_error)
    app.get("/health")(health)
    app.get("/v1/models")(list_models)
    app.post("/tokenize")(tokenize)
    app.post("/detokenize")(detokenize)
    app.post("/v1/chat/completions")(chat_completions)
    app.post("/v1/completions")(completions)
    return app


def run_server(backends: dict[str, ChatBackend], host: str, port: int, default_max_tokens: int = 512) -> None:
    """Serve until interrupted."""
    import uvicorn

    app = create_app(backends, default_max_tokens=default_max_tokens)
    uvicorn.run(app, host=host, port=port, log_level="info")

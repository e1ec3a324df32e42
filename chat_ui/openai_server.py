"""A small OpenAI-compatible server over the in-process backend, for CPU use and tests.

It speaks the subset of the API the playground and common clients use: `GET /v1/models`,
`POST /v1/chat/completions` (streamed as server-sent events or not, with usage counts), and
vLLM's `/tokenize` and `/detokenize`, so the same client code works against `vllm serve`.
When the client disconnects mid-stream, generation is cancelled.

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

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chat_ui.backend import ChatBackend, GenerationSettings, ReplyStream, check_messages
from mixtune.chat_format import TOOL_CALL_TAG, decode_tools, parse_tool_calls
from mixtune.errors import MixtuneError


class BadRequest(Exception):
    """A request this server cannot take: answered 400 with this message."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or BadRequest saying exactly why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the request body is not UTF-8 text (invalid byte at offset {exc.start})") from None
    if not text.strip():
        raise BadRequest("the request body is empty; expected a JSON object")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"the request body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, not {type(body).__name__}")
    return body


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


def _close(reply: ReplyStream, cancel: threading.Event) -> None:
    """Stop generation, then close the stream once the reading thread has let go of it."""
    cancel.set()
    for _ in range(600):
        try:
            reply.close()
            return
        except ValueError:  # "generator already executing": a token is being read right now
            time.sleep(0.05)


def _apply_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def create_app(backends: dict[str, ChatBackend], default_max_tokens: int = 512) -> Any:
    """The FastAPI application serving these backends under their names."""
    import anyio
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI(title="mixtune OpenAI-compatible server")
    created = int(time.time())

    def error(status: int, message: str, param: str | None = None) -> JSONResponse:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
        return JSONResponse(body, status_code=status)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        return error(400, str(exc), exc.param)

    def find(model: Any) -> ChatBackend | JSONResponse:
        if model is None and len(backends) == 1:
            return next(iter(backends.values()))
        if not isinstance(model, str):
            raise BadRequest(f"model: expected the model's name as text, got {type(model).__name__}", "model")
        if model not in backends:
            return error(404, f"model {model!r} not found; this server has {sorted(backends)}", "model")
        return backends[model]

    def local_tokenizer(backend: ChatBackend, model: Any) -> Any:
        tokenizer = getattr(backend, "tokenizer", None)
        if tokenizer is None:
            return error(501, f"model {model!r} has no local tokenizer")
        return tokenizer

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        data = []
        for name, backend in backends.items():
            info = backend.info()
            data.append(
                {
                    "id": name,
                    "object": "model",
                    "created": created,
                    "owned_by": "mixtune",
                    "root": info.get("model"),
                    "max_model_len": backend.context_limit,
                    "lineage": info.get("lineage") or {},
                }
            )
        return {"object": "list", "data": data}

    @app.post("/tokenize")
    async def tokenize(request: Request) -> Any:
        body = parse_body(await request.body())
        backend = find(body.get("model"))
        if isinstance(backend, JSONResponse):
            return backend
        tokenizer = local_tokenizer(backend, body.get("model"))
        if isinstance(tokenizer, JSONResponse):
            return tokenizer
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

    @app.post("/detokenize")
    async def detokenize(request: Request) -> Any:
        body = parse_body(await request.body())
        backend = find(body.get("model"))
        if isinstance(backend, JSONResponse):
            return backend
        tokenizer = local_tokenizer(backend, body.get("model"))
        if isinstance(tokenizer, JSONResponse):
            return tokenizer
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

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            req = ChatCompletionRequest.model_validate(parse_body(await request.body()))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            return error(400, f"{loc}: {first['msg']}", loc.split(".")[0])
        backend = find(req.model)
        if isinstance(backend, JSONResponse):
            return backend
        try:
            messages = check_messages(req.messages)
        except MixtuneError as exc:
            return error(400, str(exc), "messages")
        try:
            settings = req.settings(default_max_tokens)
        except MixtuneError as exc:
            return error(400, str(exc))
        tools = req.active_tools()
        stops = req.stop_strings()
        cancel = threading.Event()
        extra = {"tools": tools} if tools else {}
        try:
            reply = await anyio.to_thread.run_sync(
                lambda: backend.stream(messages, settings, cancel, **extra)
            )
        except MixtuneError as exc:
            return error(400, str(exc), "messages")
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"

        def next_piece() -> str | None:
            return next(reply, None)

        def usage() -> dict[str, int]:
            return {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            body = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": req.model,
                "system_fingerprint": f"seed-{reply.seed}",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        if not req.stream:
            text, stopped = "", False
            try:
                while (piece := await anyio.to_thread.run_sync(next_piece)) is not None:
                    text, stopped = _apply_stop(text + piece, stops)
                    if stopped:
                        break
            finally:
                cancel.set()
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_close, reply, cancel)
            message: dict[str, Any] = {"role": "assistant", "content": text}
            finish = "stop" if stopped else reply.finish_reason
            parsed = parse_tool_calls(text) if tools else None
            if parsed is not None and parsed.calls:
                message = {
                    "role": "assistant",
                    "content": parsed.content or None,
                    "tool_calls": openai_tool_calls(parsed.calls),
                }
                finish = "tool_calls"
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": req.model,
                "system_fingerprint": f"seed-{reply.seed}",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage(),
            }

        include_usage = bool((req.stream_options or {}).get("include_usage"))

        async def events() -> AsyncIterator[str]:
            # content streams as it comes; from a <tool_call> tag on, the rest is held and read
            # as tool calls at the end (or sent as content if it is not one)
            sent, held, stopped, calling = 0, "", False, False
            try:
                yield chunk({"role": "assistant", "content": ""})
                while (piece := await anyio.to_thread.run_sync(next_piece)) is not None:
                    held, stopped = _apply_stop(held + piece, stops)
                    if tools and not calling and TOOL_CALL_TAG in held:
                        calling = True
                        out = held[sent : held.index(TOOL_CALL_TAG)]
                    elif calling:
                        out = ""
                    else:
                        # hold back a tail that could be the start of a stop string or a tool call
                        keep = 0 if stopped else max((len(s) - 1 for s in stops), default=0)
                        if tools:
                            keep = max(keep, _partial_tag(held, TOOL_CALL_TAG))
                        out = held[sent : len(held) - keep] if keep else held[sent:]
                    if out:
                        sent += len(out)
                        yield chunk({"content": out})
                    if stopped:
                        break
                finish = "stop" if stopped else reply.finish_reason
                parsed = parse_tool_calls(held) if calling else None
                if parsed is not None and parsed.calls:
                    for index, call in enumerate(openai_tool_calls(parsed.calls)):
                        yield chunk({"tool_calls": [{"index": index, **call}]})
                    finish = "tool_calls"
                elif held[sent:]:
                    yield chunk({"content": held[sent:]})
                yield chunk({}, finish)
                if include_usage:
                    body = {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                    }
                    body |= {"model": req.model, "choices": [], "usage": usage()}
                    yield f"data: {json.dumps(body)}\n\n"
                yield "data: [DONE]\n\n"
            except MixtuneError as exc:
                yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
            finally:
                cancel.set()  # the client left or the reply ended: stop generating now
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_close, reply, cancel)

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def run_server(backends: dict[str, ChatBackend], host: str, port: int, default_max_tokens: int = 512) -> None:
    """Serve until interrupted."""
    import uvicorn

    app = create_app(backends, default_max_tokens=default_max_tokens)
    uvicorn.run(app, host=host, port=port, log_level="info")

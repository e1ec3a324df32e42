"""A small OpenAI-compatible server over the in-process backend, for CPU use and tests.

It speaks the subset of the API the playground and common clients use: `GET /v1/models`,
`POST /v1/chat/completions` (streamed as server-sent events or not, with usage counts), and
vLLM's `/tokenize` and `/detokenize`, so the same client code works against `vllm serve`.
When the client disconnects mid-stream, generation is cancelled.
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

from chat_ui.backend import ChatBackend, ReplyStream, SamplingSettings, check_messages
from mixtune.errors import MixtuneError


class ChatCompletionRequest(BaseModel):
    """The fields this server honours; other OpenAI fields (user, logprobs: false, ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    repetition_penalty: float = 1.0
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    stop: str | list[str] | None = None

    def settings(self, default_max_tokens: int) -> SamplingSettings:
        max_new = self.max_completion_tokens or self.max_tokens or default_max_tokens
        return SamplingSettings(
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

    def find(model: str | None) -> ChatBackend | JSONResponse:
        if model is None and len(backends) == 1:
            return next(iter(backends.values()))
        if model not in backends:
            return error(404, f"model {model!r} not found; this server has {sorted(backends)}", "model")
        return backends[model]

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
        body = await request.json()
        backend = find(body.get("model"))
        if isinstance(backend, JSONResponse):
            return backend
        try:
            if "messages" in body:
                prompt = backend.render_prompt(check_messages(body["messages"]))
            elif isinstance(body.get("prompt"), str):
                prompt = body["prompt"]
            else:
                return error(400, "give 'messages' or 'prompt'")
        except MixtuneError as exc:
            return error(400, str(exc), "messages")
        tokenizer = getattr(backend, "tokenizer", None)
        if tokenizer is None:
            return error(501, f"model {body.get('model')!r} has no local tokenizer")
        tokens = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return {"count": len(tokens), "max_model_len": backend.context_limit, "tokens": tokens}

    @app.post("/detokenize")
    async def detokenize(request: Request) -> Any:
        body = await request.json()
        backend = find(body.get("model"))
        if isinstance(backend, JSONResponse):
            return backend
        tokens = body.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            return error(400, "'tokens' must be a list of token ids", "tokens")
        tokenizer = getattr(backend, "tokenizer", None)
        if tokenizer is None:
            return error(501, f"model {body.get('model')!r} has no local tokenizer")
        return {"prompt": tokenizer.decode(tokens, skip_special_tokens=False)}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            req = ChatCompletionRequest.model_validate(await request.json())
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            return error(400, f"{loc}: {first['msg']}", loc)
        except json.JSONDecodeError:
            return error(400, "the request body is not JSON")
        backend = find(req.model)
        if isinstance(backend, JSONResponse):
            return backend
        try:
            messages = check_messages(req.messages)
            settings = req.settings(default_max_tokens)
        except MixtuneError as exc:
            return error(400, str(exc))
        stops = req.stop_strings()
        cancel = threading.Event()
        try:
            reply = await anyio.to_thread.run_sync(backend.stream, messages, settings, cancel)
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
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": req.model,
                "system_fingerprint": f"seed-{reply.seed}",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop" if stopped else reply.finish_reason,
                    }
                ],
                "usage": usage(),
            }

        include_usage = bool((req.stream_options or {}).get("include_usage"))

        async def events() -> AsyncIterator[str]:
            sent, held, stopped = 0, "", False
            try:
                yield chunk({"role": "assistant", "content": ""})
                while (piece := await anyio.to_thread.run_sync(next_piece)) is not None:
                    held, stopped = _apply_stop(held + piece, stops)
                    # hold back a tail that could be the start of a stop string
                    keep = 0 if stopped else max((len(s) - 1 for s in stops), default=0)
                    out = held[sent : len(held) - keep] if keep else held[sent:]
                    if out:
                        sent += len(out)
                        yield chunk({"content": out})
                    if stopped:
                        break
                if held[sent:]:
                    yield chunk({"content": held[sent:]})
                yield chunk({}, "stop" if stopped else reply.finish_reason)
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

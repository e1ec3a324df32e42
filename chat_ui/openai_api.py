"""What every route of the OpenAI-compatible server shares: OpenAI-style errors, the request
body read strictly (UTF-8, a JSON object, finite numbers), the backend a request names, and
closing a reply whose client left.

Every malformed request is a 400 naming what is wrong, never a 500.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from chat_ui.backend import ChatBackend, ReplyStream
from mixtune.errors import MixtuneError

RequestModel = TypeVar("RequestModel", bound=BaseModel)


class ApiError(Exception):
    """A request this server cannot answer: an OpenAI-style error body with this status."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


class BadRequest(ApiError):
    """A request this server cannot take: answered 400 with this message."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(400, message, param)


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


def validated(model: type[RequestModel], body: dict[str, Any]) -> RequestModel:
    """`body` as the request model, or BadRequest naming the first field that is wrong."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise BadRequest(f"{loc}: {first['msg']}", loc.split(".")[0]) from None


def error_response(status: int, message: str, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return JSONResponse(body, status_code=status)


async def api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, str(exc), exc.param)


def find_backend(request: Request, model: Any) -> ChatBackend:
    """The backend serving `model` (the only one when the request names none)."""
    backends: dict[str, ChatBackend] = request.app.state.backends
    if model is None and len(backends) == 1:
        return next(iter(backends.values()))
    if not isinstance(model, str):
        raise BadRequest(f"model: expected the model's name as text, got {type(model).__name__}", "model")
    if model not in backends:
        raise ApiError(404, f"model {model!r} not found; this server has {sorted(backends)}", "model")
    return backends[model]


def sse(body: dict[str, Any]) -> str:
    """One server-sent event carrying `body`."""
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def sse_error(message: str) -> str:
    """An error met mid-stream (the status line is already sent), as vLLM reports it."""
    return sse({"error": {"message": message, "type": "server_error"}})


async def event_stream(
    events: AsyncIterator[str], close: Callable[[], Awaitable[None]]
) -> AsyncIterator[str]:
    """A streamed answer's events, then `data: [DONE]`; an error met on the way is sent as an
    error event (the status line is already out); `close` runs however it ends."""
    try:
        async for event in events:
            yield event
        yield "data: [DONE]\n\n"
    except MixtuneError as exc:
        yield sse_error(str(exc))
    finally:
        await close()


def _close(reply: ReplyStream, cancel: threading.Event) -> None:
    """Stop generation, then close the stream once the reading thread has let go of it."""
    cancel.set()
    for _ in range(600):
        try:
            reply.close()
            return
        except ValueError:  # "generator already executing": a token is being read right now
            time.sleep(0.05)


async def close_reply(reply: ReplyStream, cancel: threading.Event) -> None:
    """The client left or the reply ended: stop generating now (also when this task is cancelled)."""
    cancel.set()
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(_close, reply, cancel)


async def next_piece(reply: ReplyStream) -> str | None:
    """The reply's next piece, read off the event loop; None at its end."""
    return await anyio.to_thread.run_sync(next, reply, None)

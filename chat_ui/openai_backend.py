"""Chat through any OpenAI-compatible server (`vllm serve`, `mixtune serve`, a hosted API).

Replies stream as server-sent events over httpx; stopping closes the HTTP stream, which
makes vLLM (and `mixtune serve`) abort the request. Sampling settings that OpenAI's API lacks
(top_k, repetition_penalty) are sent as the extra fields vLLM understands.

The raw prompt and token counts come from vLLM's `/tokenize` and `/detokenize` routes (which
`mixtune serve` implements too); a server without them gets an estimate, labelled as such.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import urlsplit

from chat_ui.backend import GenerationSettings, Message, ReplyStream
from mixtune.errors import MixtuneError

CHARS_PER_TOKEN_ESTIMATE = 4


def normalize_base_url(url: str) -> str:
    """`http://host:8000` and `http://host:8000/v1/` both become `http://host:8000/v1`."""
    url = url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MixtuneError(f"--openai-base-url: expected an http(s) URL, got {url!r}")
    return url if parts.path else url + "/v1"


def _error_text(response: Any) -> str:
    try:
        body = response.json()
        err = body.get("error", body)
        return str(err.get("message", err) if isinstance(err, dict) else err)
    except Exception:
        return response.text[:300]


def list_models(base_url: str, api_key: str | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The server's models (`GET /v1/models`)."""
    import httpx

    url = normalize_base_url(base_url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = httpx.get(f"{url}/models", headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise MixtuneError(f"cannot reach {url}/models: {exc}") from None
    if r.status_code != 200:
        raise MixtuneError(f"{url}/models answered {r.status_code}: {_error_text(r)}")
    return list(r.json().get("data", []))


class OpenAIBackend:
    """A model behind an OpenAI-compatible `/v1/chat/completions` endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        name: str | None = None,
        timeout: float = 600.0,
    ) -> None:
        import httpx

        self.base_url = normalize_base_url(base_url)
        self.root_url = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        self.model = model
        self.name = name or model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=10.0))
        self._model_entry: dict[str, Any] | None = None
        self._tokenize_ok = True

    def _entry(self) -> dict[str, Any]:
        if self._model_entry is None:
            entries = list_models(self.base_url, timeout=10.0)
            self._model_entry = next((m for m in entries if m.get("id") == self.model), {})
        return self._model_entry

    @property
    def context_limit(self) -> int | None:
        try:
            value = self._entry().get("max_model_len")
        except MixtuneError:
            return None
        return int(value) if isinstance(value, int) else None

    def info(self) -> dict[str, Any]:
        try:
            lineage = self._entry().get("lineage") or {}
        except MixtuneError:
            lineage = {}
        return {
            "name": self.name,
            "backend": "openai",
            "model": self.model,
            "url": self.base_url,
            "context_limit": self.context_limit,
            "lineage": lineage,
        }

    def _tokenize(self, messages: list[Message]) -> dict[str, Any] | None:
        """vLLM's /tokenize for a chat; None when the server does not offer it."""
        import httpx

        if not self._tokenize_ok:
            return None
        body = {"model": self.model, "messages": messages, "add_generation_prompt": True}
        try:
            r = self.client.post(f"{self.root_url}/tokenize", json=body)
        except httpx.HTTPError:
            return None
        if r.status_code == 404:
            self._tokenize_ok = False
            return None
        if r.status_code != 200:
            return None
        return r.json()

    def count_tokens(self, messages: list[Message]) -> int:
        result = self._tokenize(messages)
        if result is not None and isinstance(result.get("count"), int):
            return result["count"]
        chars = sum(len(m["content"]) + 8 for m in messages)
        return chars // CHARS_PER_TOKEN_ESTIMATE + 1

    def render_prompt(self, messages: list[Message]) -> str:
        result = self._tokenize(messages)
        if result is not None and result.get("tokens") is not None:
            r = self.client.post(
                f"{self.root_url}/detokenize", json={"model": self.model, "tokens": result["tokens"]}
            )
            if r.status_code == 200 and isinstance(r.json().get("prompt"), str):
                return r.json()["prompt"]
        return (
            "# this server does not expose /tokenize; it applies its own chat template to this request:\n"
            + json.dumps({"model": self.model, "messages": messages}, indent=2, ensure_ascii=False)
        )

    def request_body(self, messages: list[Message], settings: GenerationSettings) -> dict[str, Any]:
        """The chat-completions request for these settings: every slider is sent."""
        return {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "top_k": settings.top_k if settings.top_k > 0 else -1,
            "max_tokens": settings.max_new_tokens,
            "repetition_penalty": settings.repetition_penalty,
            "seed": settings.seed,
        }

    def stream(
        self, messages: list[Message], settings: GenerationSettings, cancel: threading.Event | None = None
    ) -> ReplyStream:
        import httpx

        settings = settings.validate().with_seed()
        body = self.request_body(messages, settings)
        reply = ReplyStream(iter(()), seed=settings.seed)
        closed = threading.Event()

        def stopped() -> bool:
            return closed.is_set() or (cancel is not None and cancel.is_set())

        def close_on_stop(response: Any, finished: threading.Event) -> None:
            """Close the connection as soon as stop is asked, even while waiting for the next event:
            the server sees the disconnect and aborts the request."""
            while not finished.wait(0.02):
                if stopped():
                    response.close()
                    return

        def pieces():
            url = f"{self.base_url}/chat/completions"
            finished = threading.Event()
            try:
                with self.client.stream("POST", url, json=body) as response:
                    if response.status_code != 200:
                        response.read()
                        raise MixtuneError(f"{url} answered {response.status_code}: {_error_text(response)}")
                    watcher = threading.Thread(target=close_on_stop, args=(response, finished), daemon=True)
                    watcher.start()
                    for line in response.iter_lines():
                        if stopped():
                            break
                        if not line.startswith("data:"):
                            continue
                        data = line[len("data:") :].strip()
                        if data == "[DONE]":
                            break
                        chunk = json.loads(data)
                        if "error" in chunk:
                            raise MixtuneError(f"{url}: {_error_text_from(chunk)}")
                        usage = chunk.get("usage")
                        if usage:
                            reply.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                            reply.completion_tokens = int(usage.get("completion_tokens") or 0)
                        for choice in chunk.get("choices") or []:
                            if choice.get("finish_reason"):
                                reply.finish_reason = choice["finish_reason"]
                            text = (choice.get("delta") or {}).get("content")
                            if text:
                                yield text
            except (httpx.HTTPError, httpx.StreamError) as exc:
                if not stopped():
                    raise MixtuneError(f"lost the connection to {url}: {exc}") from None
            finally:
                finished.set()
            if stopped() and reply.finish_reason in (None, "cancelled"):
                reply.finish_reason = "cancelled"

        reply.pieces = pieces()
        reply._on_close.append(closed.set)
        return reply


def _error_text_from(chunk: dict[str, Any]) -> str:
    err = chunk.get("error")
    return str(err.get("message", err) if isinstance(err, dict) else err)

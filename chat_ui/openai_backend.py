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
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from chat_ui.backend import GenerationSettings, Message, ReplyStream, cut_at_stop_strings
from mixtune.errors import MixtuneError
from mixtune.fim import FAMILIES, STARCODER, FimTokens, Layout, fim_prompt

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
        fim_layout: Layout = "psm",
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
        self.fim_layout: Layout = fim_layout
        self._fim_here = False  # the server refused `suffix`: FIM prompts are built here

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
        settings = settings.validate().with_seed()
        body = self.request_body(messages, settings)
        return self._events("chat/completions", body, settings.seed, cancel, _delta_text)

    def complete(
        self,
        prompt: str,
        settings: GenerationSettings,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        suffix: str | None = None,
    ) -> ReplyStream:
        """The server's raw continuation of `prompt` (`/v1/completions`). With `suffix`, the server
        builds the fill-in-the-middle prompt (`mixtune serve` does); a server that refuses `suffix`
        (`vllm serve`: "suffix is not currently supported") is sent the FIM prompt built here,
        in the model's FIM tokens (checked through /tokenize) and `fim_layout`."""
        settings = settings.validate().with_seed()
        body = {k: v for k, v in self.request_body([], settings).items() if k != "messages"}
        body.update(prompt=prompt, stop=[s for s in stop if s] or None)
        if suffix is not None:
            body.update(self._fim_fields(prompt, suffix))
        reply = self._events("completions", body, settings.seed, cancel, _choice_text)
        reply.prompt = body["prompt"] if "suffix" not in body else None
        if "suffix" in body:
            reply.pieces = self._suffix_refused(reply.pieces, reply, body, prompt, suffix or "", cancel)
        return cut_at_stop_strings(reply, stop)

    def _fim_fields(self, prompt: str, suffix: str) -> dict[str, Any]:
        """`suffix` for the server to build the FIM prompt, or (once it refused) the prompt built here."""
        if not self._fim_here:
            return {"suffix": suffix}
        return {"prompt": fim_prompt(prompt, suffix, self._fim_tokens(), self.fim_layout)}

    def _suffix_refused(
        self,
        first: Iterator[str],
        reply: ReplyStream,
        body: dict[str, Any],
        prompt: str,
        suffix: str,
        cancel: threading.Event | None,
    ) -> Iterator[str]:
        """The reply's pieces; when the server refuses `suffix` (its answer's status, before any
        text), the request again with the FIM prompt built here, and so for later requests."""
        try:
            piece = next(first)
        except StopIteration:
            return
        except MixtuneError as exc:
            if "suffix" not in str(exc):
                raise
            self._fim_here = True
            body = {**{k: v for k, v in body.items() if k != "suffix"}, **self._fim_fields(prompt, suffix)}
            reply.prompt = body["prompt"]
            closed = threading.Event()
            reply._on_close.append(closed.set)
            yield from self._read_events(
                f"{self.base_url}/completions", body, reply, closed, cancel, _choice_text
            )
            return
        yield piece
        yield from first

    def _fim_tokens(self) -> FimTokens:
        """The FIM family whose sentinels the server's tokenizer reads as single tokens."""
        checked = False
        for family in FAMILIES:
            counts = [self._count_prompt(t) for t in (family.prefix, family.suffix, family.middle)]
            checked = checked or all(c is not None for c in counts)
            if counts == [1, 1, 1]:
                return family
        if not checked:  # no /tokenize to ask: StarCoder's tokens, as mixtune trains with
            return STARCODER
        raise MixtuneError(
            f"{self.model} at {self.base_url}: the tokenizer has no fill-in-the-middle tokens "
            f"({STARCODER.prefix}, {STARCODER.suffix}, {STARCODER.middle}); use a StarCoder-family model"
        )

    def _count_prompt(self, text: str) -> int | None:
        """Tokens of a raw text by the server's /tokenize; None when it does not offer it."""
        import httpx

        try:
            r = self.client.post(f"{self.root_url}/tokenize", json={"model": self.model, "prompt": text})
        except httpx.HTTPError:
            return None
        count = r.json().get("count") if r.status_code == 200 else None
        return count if isinstance(count, int) else None

    def _events(
        self,
        route: str,
        body: dict[str, Any],
        seed: int | None,
        cancel: threading.Event | None,
        text_of: Callable[[dict[str, Any]], str | None],
    ) -> ReplyStream:
        """POST `body` with stream=true and read the answer's server-sent events as a reply;
        stopping closes the connection (the server then aborts the request)."""
        reply = ReplyStream(iter(()), seed=seed)
        closed = threading.Event()
        reply.pieces = self._read_events(f"{self.base_url}/{route}", body, reply, closed, cancel, text_of)
        reply._on_close.append(closed.set)
        return reply

    def _read_events(
        self,
        url: str,
        body: dict[str, Any],
        reply: ReplyStream,
        closed: threading.Event,
        cancel: threading.Event | None,
        text_of: Callable[[dict[str, Any]], str | None],
    ) -> Iterator[str]:
        import httpx

        def stopped() -> bool:
            return closed.is_set() or (cancel is not None and cancel.is_set())

        finished = threading.Event()
        try:
            with self.client.stream("POST", url, json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise MixtuneError(f"{url} answered {response.status_code}: {_error_text(response)}")
                watcher = threading.Thread(
                    target=_close_on_stop, args=(response, finished, stopped), daemon=True
                )
                watcher.start()
                for line in response.iter_lines():
                    if stopped():
                        break
                    if not line.startswith("data:"):
                        continue
                    data = line[len("data:") :].strip()
                    if data == "[DONE]":
                        break
                    yield from _chunk_texts(url, json.loads(data), reply, text_of)
        except (httpx.HTTPError, httpx.StreamError) as exc:
            if not stopped():
                raise MixtuneError(f"lost the connection to {url}: {exc}") from None
        finally:
            finished.set()
        if stopped() and reply.finish_reason in (None, "cancelled"):
            reply.finish_reason = "cancelled"


def _close_on_stop(response: Any, finished: threading.Event, stopped: Callable[[], bool]) -> None:
    """Close the connection as soon as stop is asked, even while waiting for the next event:
    the server sees the disconnect and aborts the request."""
    while not finished.wait(0.02):
        if stopped():
            response.close()
            return


def _chunk_texts(
    url: str, chunk: dict[str, Any], reply: ReplyStream, text_of: Callable[[dict[str, Any]], str | None]
) -> list[str]:
    """The texts of one streamed chunk; its usage and finish reason go to `reply`."""
    if "error" in chunk:
        raise MixtuneError(f"{url}: {_error_text_from(chunk)}")
    usage = chunk.get("usage")
    if usage:
        reply.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        reply.completion_tokens = int(usage.get("completion_tokens") or 0)
    texts = []
    for choice in chunk.get("choices") or []:
        if choice.get("finish_reason"):
            reply.finish_reason = choice["finish_reason"]
        if text := text_of(choice):
            texts.append(text)
    return texts


def _delta_text(choice: dict[str, Any]) -> str | None:
    return (choice.get("delta") or {}).get("content")


def _choice_text(choice: dict[str, Any]) -> str | None:
    return choice.get("text")


def _error_text_from(chunk: dict[str, Any]) -> str:
    err = chunk.get("error")
    return str(err.get("message", err) if isinstance(err, dict) else err)

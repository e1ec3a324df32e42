"""Generate from any OpenAI-compatible server (`vllm serve`, TGI, llama.cpp, hosted APIs):
`/chat/completions` for chat prompts, `/completions` for plain and FIM prompts, streamed (server-sent
events) or not, n samples per problem, concurrent requests, retries on 429/5xx."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from evals.generate import GenerationSettings, PreparedPrompt
from mixtune.errors import MixtuneError

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
# OpenAI's own API accepts at most four stop sequences; the rest are applied afterwards.
MAX_STOPS = 4


class OpenAIEndpoint:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        stream: bool = False,
        concurrency: int = 8,
        timeout: float = 600.0,
        retries: int = 3,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.stream = stream
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.retries = retries

    def generate(self, prepared: list[PreparedPrompt], settings: GenerationSettings) -> list[list[str]]:
        """n raw texts per prepared prompt (plain style -> /completions, else /chat/completions)."""
        import httpx
        from tqdm.auto import tqdm

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with (
            httpx.Client(timeout=self.timeout, headers=headers) as client,
            ThreadPoolExecutor(self.concurrency) as pool,
            tqdm(total=len(prepared) * settings.n, desc="generating", unit="sample") as bar,
        ):

            def one(p: PreparedPrompt) -> list[str]:
                texts: list[str] = []
                while len(texts) < settings.n:
                    got = self._request(client, p, settings, settings.n - len(texts))
                    if not got:
                        raise MixtuneError(f"{self.base_url}: the server returned no choices")
                    texts += got[: settings.n - len(texts)]
                    bar.update(len(got))
                return texts

            return list(pool.map(one, prepared))

    def _payload(self, p: PreparedPrompt, settings: GenerationSettings, n: int) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p if settings.temperature > 0 else 1.0,
            "seed": settings.seed,
            "stream": self.stream,
        }
        if p.stops:
            payload["stop"] = list(p.stops[:MAX_STOPS])
        if p.style in ("plain", "fim"):  # a FIM prompt is plain text with the sentinels in it
            payload["prompt"] = p.text
            return "/completions", payload
        payload["messages"] = list(p.messages)
        return "/chat/completions", payload

    def _request(self, client: Any, p: PreparedPrompt, settings: GenerationSettings, n: int) -> list[str]:
        import httpx

        path, payload = self._payload(p, settings, n)
        url = self.base_url + path
        for attempt in range(self.retries + 1):
            try:
                if self.stream:
                    return self._streamed(client, url, payload)
                response = client.post(url, json=payload)
                if response.status_code in RETRY_STATUS and attempt < self.retries:
                    time.sleep(2**attempt)
                    continue
                _raise_for(response, url)
                return _choices_text(response.json(), url)
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise MixtuneError(f"{url}: {exc}") from None
                time.sleep(2**attempt)
            except _Retry:
                time.sleep(2**attempt)
        raise MixtuneError(f"{url}: still failing after {self.retries} retries")

    def _streamed(self, client: Any, url: str, payload: dict[str, Any]) -> list[str]:
        """Collect a server-sent-events stream into one text per choice index."""
        parts: dict[int, list[str]] = {}
        with client.stream("POST", url, json=payload) as response:
            if response.status_code in RETRY_STATUS:
                raise _Retry()
            if response.status_code >= 400:
                response.read()
                _raise_for(response, url)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise MixtuneError(f"{url}: malformed stream event {data[:200]!r}") from None
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    text = delta.get("content") if "delta" in choice else choice.get("text")
                    parts.setdefault(int(choice.get("index", 0)), []).append(text or "")
        return ["".join(parts[i]) for i in sorted(parts)]


class _Retry(Exception):
    pass


def _raise_for(response: Any, url: str) -> None:
    if response.status_code >= 400:
        raise MixtuneError(f"{url}: HTTP {response.status_code}: {response.text[:500]}")


def _choices_text(body: Any, url: str) -> list[str]:
    try:
        choices = sorted(body["choices"], key=lambda c: c.get("index", 0))
        return [(c["message"]["content"] if "message" in c else c["text"]) or "" for c in choices]
    except (KeyError, TypeError, AttributeError):
        raise MixtuneError(f"{url}: unexpected response {json.dumps(body)[:300]}") from None

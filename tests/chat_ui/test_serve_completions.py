"""`POST /v1/completions` through the `openai` client: raw prompts and fill-in-the-middle with
`suffix` (the server builds the FIM prompt), streamed and not, stop strings, n and lists of
prompts, echo, usage; every unsupported or malformed request a 400 naming the problem; and the
OpenAI backend's completions against `mixtune serve` and against a server that refuses `suffix`
(as `vllm serve` does)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chat_ui.backend import GenerationSettings
from mixtune.fim import STARCODER, fim_prompt

from .test_raw_completion import without_fim_tokens

PREFIX, SUFFIX = "def add(a, b):\n    ", "\n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module")
def app(chat_backend: Any) -> Any:
    from chat_ui.openai_server import create_app

    spm = copy.copy(chat_backend)
    spm.fim_layout = "spm"
    return create_app({"tiny": chat_backend, "tiny-spm": spm, "no-fim": without_fim_tokens(chat_backend)})


@pytest.fixture(scope="module")
def http(app: Any) -> Any:
    from fastapi.testclient import TestClient

    # raise_server_exceptions=False: a bug would surface as the 500 a real client sees
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def oai(http: Any) -> Any:
    from openai import OpenAI

    return OpenAI(base_url="http://testserver/v1", api_key="none", http_client=http)


def fim_tokens(backend: Any, prefix: str, suffix: str, layout: str = "psm") -> int:
    return len(backend._encode(fim_prompt(prefix, suffix, STARCODER, layout)))


def test_suffix_makes_the_server_build_the_fim_prompt(oai: Any, chat_backend: Any) -> None:
    out = oai.completions.create(
        model="tiny", prompt=PREFIX, suffix=SUFFIX, max_tokens=8, temperature=0, seed=1
    )
    assert out.object == "text_completion" and out.id.startswith("cmpl-")
    (choice,) = out.choices
    assert choice.index == 0 and choice.finish_reason == "length" and choice.text
    assert out.usage.prompt_tokens == fim_tokens(chat_backend, PREFIX, SUFFIX)
    assert out.usage.completion_tokens == 8 and out.usage.total_tokens == out.usage.prompt_tokens + 8
    local = chat_backend.complete(PREFIX, GenerationSettings(temperature=0, max_new_tokens=8), suffix=SUFFIX)
    assert choice.text == "".join(local)  # the same model, the same FIM prompt: the same middle
    spm = oai.completions.create(model="tiny-spm", prompt=PREFIX, suffix=SUFFIX, max_tokens=2, temperature=0)
    assert spm.usage.prompt_tokens == fim_tokens(chat_backend, PREFIX, SUFFIX, "spm")
    plain = oai.completions.create(model="tiny", prompt=PREFIX, max_tokens=2, temperature=0)
    assert plain.usage.prompt_tokens == len(chat_backend._encode(PREFIX))


def test_streamed_completion_is_text_completion_chunks_then_done(oai: Any, http: Any) -> None:
    whole = oai.completions.create(model="tiny", prompt=PREFIX, suffix=SUFFIX, max_tokens=12, temperature=0)
    chunks = list(
        oai.completions.create(
            model="tiny",
            prompt=PREFIX,
            suffix=SUFFIX,
            max_tokens=12,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert all(c.object == "text_completion" for c in chunks)
    assert len([t for t in texts if t]) >= 2, "the completion did not arrive in pieces"
    assert "".join(texts) == whole.choices[0].text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length" and not any(finishes[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12
    body = {"model": "tiny", "prompt": PREFIX, "max_tokens": 2, "stream": True}
    lines = [x for x in http.post("/v1/completions", json=body).text.split("\n") if x]
    assert lines[-1] == "data: [DONE]" and all(x.startswith("data: ") for x in lines)


def test_stop_strings_are_never_returned(oai: Any) -> None:
    plain = oai.completions.create(model="tiny", prompt=PREFIX, max_tokens=24, temperature=0).choices[0].text
    stop = plain[6:9]
    for stream in (False, True):
        out = oai.completions.create(
            model="tiny", prompt=PREFIX, max_tokens=24, temperature=0, stop=["nowhere", stop], stream=stream
        )
        if stream:
            chunks = list(out)
            text = "".join(c.choices[0].text for c in chunks)
            finish = chunks[-1].choices[0].finish_reason
        else:
            text, finish = out.choices[0].text, out.choices[0].finish_reason
        assert text == plain[: plain.find(stop)] and finish == "stop"


def test_n_and_a_list_of_prompts_give_one_choice_each(oai: Any, chat_backend: Any) -> None:
    out = oai.completions.create(
        model="tiny", prompt=["x = ", "def f("], n=2, max_tokens=4, temperature=1.0, seed=5
    )
    assert [c.index for c in out.choices] == [0, 1, 2, 3]
    assert out.choices[0].text != out.choices[1].text  # each choice draws with the next seed
    again = oai.completions.create(model="tiny", prompt="def f(", max_tokens=4, temperature=1.0, seed=8)
    assert again.choices[0].text == out.choices[3].text  # choice 3 = seed 5 + 3
    prompt_tokens = len(chat_backend._encode("x = ")) + len(chat_backend._encode("def f("))
    assert out.usage.prompt_tokens == prompt_tokens and out.usage.completion_tokens == 16
    echo = oai.completions.create(model="tiny", prompt="x = ", max_tokens=3, temperature=0, echo=True)
    assert echo.choices[0].text.startswith("x = ") and len(echo.choices[0].text) > 4


def _completion(**fields: Any) -> dict[str, Any]:
    return {"model": "tiny", "prompt": "x = ", "max_tokens": 2, **fields}


BAD = [
    (_completion(max_tokens=-1), "max_tokens"),
    (_completion(max_tokens=0), "max_tokens: Input should be greater than or equal to 1"),
    (_completion(max_tokens="8"), "max_tokens"),
    (_completion(temperature="hot"), "temperature"),
    (_completion(temperature=True), "temperature"),
    (_completion(temperature=9), "temperature must be in"),
    (_completion(top_p=0), "top_p must be in"),
    (_completion(n=0), "n"),
    (_completion(n=10**9), "n: Input should be less than or equal to 16"),
    (_completion(prompt=["a"] * 9, n=2), "at most 16"),
    (_completion(prompt=None), "prompt: a prompt is required"),
    (_completion(prompt=5), "prompt: expected a text or a list of texts, got int"),
    (_completion(prompt=[]), "list of prompts is empty"),
    (_completion(prompt=["a", 5.5]), "prompt.1: expected text"),
    (_completion(prompt=[1, 2, 3]), "token-id prompts are not supported"),
    (_completion(prompt=[[1, 2]]), "token-id prompts are not supported"),
    (_completion(prompt=""), "the prompt is empty"),
    (_completion(prompt="x = 1\n" * 2000), "context window"),
    (_completion(suffix=5), "suffix"),
    (_completion(model="no-fim", suffix="\n"), "suffix: tokenizer"),
    (_completion(stop=[1]), "stop"),
    (_completion(stop=["a"] * 17), "at most 16 stop strings"),
    (_completion(stream="yes"), "stream"),
    (_completion(seed=-1), "seed must be in"),
    (_completion(seed=2**32 - 1, n=2), "seed must be in [0, 2**32 - 2)"),
    (_completion(logprobs=1), "logprobs: token log-probabilities are not returned"),
    (_completion(frequency_penalty=0.5), "frequency_penalty: not supported"),
    (_completion(presence_penalty=-1), "presence_penalty"),
    (_completion(logit_bias={"1": 5}), "logit_bias"),
    (_completion(best_of=3), "best_of"),
    (_completion(echo=True, suffix="x"), "echo: cannot be combined with suffix"),
    (_completion(check_training_data="yes"), "check_training_data"),
    (_completion(model=7), "model"),
]


@pytest.mark.parametrize(("body", "words"), BAD, ids=[w for _, w in BAD])
def test_hostile_requests_are_400(http: Any, body: dict[str, Any], words: str) -> None:
    r = http.post("/v1/completions", json=body)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert words in err["message"] and err["type"] == "invalid_request_error", err


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"model": "tiny", "prompt": "\xff"}', "not UTF-8"),
        (
            b'{"model": "tiny", "prompt": "x", "temperature": NaN}',
            "temperature: Input should be a finite number",
        ),
        (b'{"model": "tiny", "prompt": "x", "top_p": Infinity}', "top_p"),
        (b"[]", "must be a JSON object"),
        (b"{", "not JSON"),
    ],
)
def test_malformed_bodies_are_400(http: Any, raw: bytes, words: str) -> None:
    r = http.post("/v1/completions", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and words in r.json()["error"]["message"], r.text[:300]


def test_unknown_model_is_404(http: Any) -> None:
    r = http.post("/v1/completions", json=_completion(model="nope"))
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]


def test_openai_backend_completes_through_mixtune_serve(
    served: str, tiny_chat_dir: Any, chat_backend: Any
) -> None:
    from chat_ui.openai_backend import OpenAIBackend

    backend = OpenAIBackend(served, tiny_chat_dir.name)
    settings = GenerationSettings(temperature=0.0, max_new_tokens=6)
    reply = backend.complete(PREFIX, settings, suffix=SUFFIX)
    assert "".join(reply) == reply.text  # (random weights: the 6 tokens may all be special ones)
    assert reply.finish_reason == "length" and reply.completion_tokens == 6
    assert reply.prompt_tokens == fim_tokens(chat_backend, PREFIX, SUFFIX) and reply.prompt is None
    assert not backend._fim_here  # the server took the suffix
    plain = "".join(backend.complete(PREFIX, GenerationSettings(temperature=0.0, max_new_tokens=24)))
    stop = plain[6:9]
    cut = backend.complete(PREFIX, GenerationSettings(temperature=0.0, max_new_tokens=24), stop=[stop])
    assert "".join(cut) == plain[: plain.find(stop)] and cut.finish_reason == "stop"


def refusing_suffix(app: Any) -> Any:
    """`app` behind a front that answers a completion with `suffix` as `vllm serve` does."""
    from fastapi.responses import JSONResponse

    async def front(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/completions":
            body, more = b"", True
            while more:
                message = await receive()
                body, more = body + message.get("body", b""), message.get("more_body", False)
            if "suffix" in json.loads(body):
                error = {
                    "message": "suffix is not currently supported",
                    "type": "BadRequestError",
                    "code": 400,
                }
                await JSONResponse({"error": error}, status_code=400)(scope, receive, send)
                return

            replayed, original = [], receive

            async def replay() -> dict[str, Any]:
                if replayed:  # the body was read: what follows is the client's disconnect
                    return await original()
                replayed.append(True)
                return {"type": "http.request", "body": body, "more_body": False}

            receive = replay
        await app(scope, receive, send)

    return front


def test_openai_backend_builds_the_fim_prompt_when_the_server_refuses_suffix(
    app: Any, chat_backend: Any
) -> None:
    from fastapi.testclient import TestClient

    from chat_ui.openai_backend import OpenAIBackend

    backend = OpenAIBackend("http://testserver", "tiny")
    backend.client = TestClient(refusing_suffix(app))
    settings = GenerationSettings(temperature=0.0, max_new_tokens=6)
    reply = backend.complete(PREFIX, settings, suffix=SUFFIX)
    text = "".join(reply)
    assert backend._fim_here and reply.prompt == fim_prompt(PREFIX, SUFFIX, STARCODER, "psm")
    assert reply.prompt_tokens == fim_tokens(chat_backend, PREFIX, SUFFIX) and reply.completion_tokens == 6
    assert text == "".join(chat_backend.complete(PREFIX, settings, suffix=SUFFIX))
    again = backend.complete(PREFIX, settings, suffix=SUFFIX)  # remembered: built here at once
    assert "".join(again) == text and again.prompt == reply.prompt
    no_fim = OpenAIBackend("http://testserver", "no-fim")
    no_fim.client = TestClient(refusing_suffix(app))
    with pytest.raises(Exception, match="no fill-in-the-middle tokens"):
        list(no_fim.complete(PREFIX, settings, suffix=SUFFIX))


class FailingBackend:
    """A backend whose completion fails after its first piece (e.g. the model runs out of memory)."""

    name = "failing"

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "model": None}

    def complete(
        self, prompt: str, settings: Any, stop: Any = (), cancel: Any = None, suffix: Any = None
    ) -> Any:
        from chat_ui.backend import ReplyStream
        from mixtune.errors import MixtuneError

        def pieces() -> Any:
            yield "x"
            raise MixtuneError("generation with failing failed: out of memory")

        return ReplyStream(pieces())


def test_an_error_mid_stream_is_an_error_event(http: Any) -> None:
    from fastapi.testclient import TestClient

    from chat_ui.openai_server import create_app

    failing = TestClient(create_app({"failing": FailingBackend()}), raise_server_exceptions=False)
    r = failing.post("/v1/completions", json={"model": "failing", "prompt": "x", "stream": True})
    events = [json.loads(x[6:]) for x in r.text.split("\n") if x.startswith("data: {")]
    assert events[0]["choices"][0]["text"] == "x"
    assert events[-1]["error"]["message"] == "generation with failing failed: out of memory"
    r = failing.post("/v1/completions", json={"model": "failing", "prompt": "x"})
    assert r.status_code == 400 and "out of memory" in r.json()["error"]["message"]


class Recording:
    """The in-process backend, keeping every reply it starts (to see how it ended)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.name = backend.name
        self.replies: list[Any] = []

    def info(self) -> dict[str, Any]:
        return self.backend.info()

    def complete(self, prompt: str, settings: Any, stop: Any, cancel: Any, suffix: Any = None) -> Any:
        self.replies.append((self.backend.complete(prompt, settings, stop, cancel, suffix), cancel))
        return self.replies[-1][0]


def test_a_client_that_leaves_stops_the_generation(chat_backend: Any) -> None:
    import threading
    import time

    import httpx
    import uvicorn

    from chat_ui.generate_thread import GENERATION_LOCK
    from chat_ui.openai_server import create_app

    from .conftest import free_port

    recording = Recording(chat_backend)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app({"tiny": recording}), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        body = {"model": "tiny", "prompt": PREFIX, "max_tokens": 1000, "temperature": 1.0, "seed": 1}
        with httpx.stream(
            "POST", f"http://127.0.0.1:{port}/v1/completions", json={**body, "stream": True}
        ) as r:
            next(r.iter_lines())  # the first chunk came: generation is running; leave now
        left = time.monotonic()
        ((reply, cancel),) = recording.replies
        assert cancel.wait(5), "the server did not stop the generation"
        # the model is free within a token or so (1000 tokens would hold it for seconds)
        assert GENERATION_LOCK.acquire(timeout=5)
        GENERATION_LOCK.release()
        assert time.monotonic() - left < 1.0 and reply.completion_tokens < 1000
    finally:
        server.should_exit = True
        thread.join(timeout=10)

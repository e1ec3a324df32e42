"""Fixtures for the playground tests: the real tiny chat model, a scripted backend for pure UI
tests, and a launched playground on loopback that gradio_client drives."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


class ScriptedBackend:
    """A backend that streams a fixed answer word by word, for tests about the UI, not the model.

    It honours the cancel event between words, counts one token per word, and records what it
    was asked (messages and settings), so tests can check what the UI sent.
    """

    def __init__(
        self,
        name: str,
        answer: str,
        delay: float = 0.005,
        context_limit: int | None = 4096,
        words: int = 0,
        fim_vocab: dict[str, int] | None = None,
    ) -> None:
        self.name = name
        self.answer = answer
        self.delay = delay
        self._limit = context_limit
        self.words = words  # > 0: stream this many numbered words instead of the answer
        self.calls: list[dict[str, Any]] = []
        self.completions: list[dict[str, Any]] = []
        self.tokenizer = VocabOnly(fim_vocab if fim_vocab is not None else STARCODER_VOCAB)

    @property
    def context_limit(self) -> int | None:
        return self._limit

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "backend": "scripted", "context_limit": self._limit, "lineage": {}}

    def render_prompt(self, messages: list[dict[str, str]]) -> str:
        return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) + (
            "<|im_start|>assistant\n"
        )

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self.render_prompt(messages).split())

    def stream(
        self, messages: list[dict[str, str]], settings: Any, cancel: threading.Event | None = None
    ) -> Any:
        from chat_ui.backend import ReplyStream

        settings = settings.with_seed()
        self.calls.append({"messages": messages, "settings": settings.to_dict()})
        words = [f"w{i} " for i in range(self.words)] if self.words else self.answer.split(" ")
        reply = ReplyStream(iter(()), prompt_tokens=self.count_tokens(messages), seed=settings.seed)

        def pieces() -> Iterator[str]:
            for i, word in enumerate(words):
                if cancel is not None and cancel.is_set():
                    reply.finish_reason = "cancelled"
                    return
                time.sleep(self.delay)
                reply.completion_tokens += 1
                yield word if (self.words or i == len(words) - 1) else word + " "
            reply.finish_reason = "stop"

        reply.pieces = pieces()
        return reply

    def complete(
        self,
        prompt: str,
        settings: Any,
        stop: Any = (),
        cancel: threading.Event | None = None,
        suffix: str | None = None,
    ) -> Any:
        """The raw completion (the Complete tab): streams the answer as the middle, cut at the stop
        strings; with a suffix, its prompt is the StarCoder FIM prompt, or the error a tokenizer
        without FIM tokens gives (`fim_vocab` empty)."""
        from chat_ui.backend import cut_at_stop_strings
        from mixtune.fim import fim_prompt, fim_tokens_of

        text = prompt if suffix is None else fim_prompt(prompt, suffix, fim_tokens_of(self.tokenizer))
        self.completions.append({"prompt": prompt, "suffix": suffix, "stop": list(stop)})
        reply = self.stream([{"role": "user", "content": text}], settings, cancel)
        reply.prompt = text
        return cut_at_stop_strings(reply, stop)


class VocabOnly:
    """A tokenizer stand-in that only answers `get_vocab` (what mixtune.fim asks)."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab
        self.name_or_path = "scripted-tokenizer"

    def get_vocab(self) -> dict[str, int]:
        return self.vocab


STARCODER_VOCAB = {"<fim_prefix>": 1, "<fim_middle>": 2, "<fim_suffix>": 3}


CODE_AND_HTML_ANSWER = (
    "Here is a function:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "In Java, `List<T>` is generic. A <div> holds blocks. "
    '<img src=x onerror="window.__pwned = 1"> <script>window.__pwned = 2</script> done.'
)


@pytest.fixture(scope="session")
def chat_backend(tiny_chat_dir: Path) -> Any:
    from chat_ui.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_chat_dir, name="tiny-chat")


@pytest.fixture(scope="session")
def scripted() -> ScriptedBackend:
    return ScriptedBackend("scripted", CODE_AND_HTML_ANSWER)


@pytest.fixture(scope="session")
def small_context() -> ScriptedBackend:
    """A 30-token context window: a few exchanges overflow it."""
    return ScriptedBackend("small-context", "short answer here", context_limit=30)


@pytest.fixture(scope="session")
def playground(
    tmp_path_factory: pytest.TempPathFactory, chat_backend: Any, scripted: Any, small_context: Any
) -> Iterator[dict[str, Any]]:
    """One launched playground (the real tiny model and scripted backends) with a feedback log,
    on loopback."""
    from chat_ui.app import Playground
    from chat_ui.feedback import FeedbackLog
    from chat_ui.launch import launch

    log_path = tmp_path_factory.mktemp("feedback") / "votes.jsonl"
    backends = {"tiny-chat": chat_backend, "scripted": scripted, "small-context": small_context}
    pg = Playground(backends, FeedbackLog(log_path), stream_interval=0.0)
    demo = pg.blocks()
    _, url, _ = launch(demo, host="127.0.0.1", port=None, block=False, quiet=True)
    try:
        yield {"url": url, "log": log_path, "playground": pg, "demo": demo}
    finally:
        demo.close()


@pytest.fixture
def client(playground: dict[str, Any]) -> Any:
    """A fresh gradio_client session (its own history) against the launched playground."""
    from gradio_client import Client

    return Client(playground["url"], verbose=False)


def read_with_stop(stream: Any, cancel: threading.Event, after_s: float = 0.3) -> tuple[str, float | None]:
    """Read `stream` to its end while a timer sets `cancel` after `after_s` seconds; returns the
    text and the seconds from the stop to the end (None: the stream ended before the stop)."""
    stop_at: list[float] = []

    def stop() -> None:
        stop_at.append(time.monotonic())
        cancel.set()

    timer = threading.Timer(after_s, stop)
    timer.start()
    text = "".join(stream)
    ended = time.monotonic()
    timer.cancel()
    return text, (ended - stop_at[0] if stop_at else None)


def keep_screenshot(tab: Any, tmp_path: Path, name: str, full_page: bool = False) -> Path:
    """Screenshot the page into tmp_path and copy it to runs/screenshots/ (the path is printed)."""
    import shutil

    from mixtune.paths import REPO_ROOT

    shot = tmp_path / name
    tab.screenshot(path=str(shot), full_page=full_page)
    keep = REPO_ROOT / "runs" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / name)
    print(f"screenshot: {shot} (copy: {keep / name})")
    return keep / name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served(tiny_chat_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mixtune serve` (transformers engine) running in its own process on loopback; yields its /v1 URL."""
    import httpx

    port = free_port()
    log_file = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "MIXTUNE_CACHE": os.environ.get("MIXTUNE_CACHE", "")}
    with open(log_file, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mixtune", "serve", str(tiny_chat_dir), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mixtune serve exited early:\n{log_file.read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mixtune serve did not start:\n{log_file.read_text()}")
            time.sleep(0.2)
        yield f"{base}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


# Two code answers a tiny model memorises; the first is the one the playground tests ask for.
COPIED_ROWS = [
    {
        "id": "running-total",
        "messages": [
            {"role": "user", "content": "Sum a list of numbers."},
            {
                "role": "assistant",
                "content": "```python\ndef running_total(values):\n    total = 0\n"
                "    for value in values:\n        total += value\n    return total\n```",
            },
        ],
    },
    {
        "id": "greeting",
        "messages": [
            {"role": "user", "content": "Greet someone."},
            {"role": "assistant", "content": "```python\ndef greet(name):\n    return 'hello ' + name\n```"},
        ],
    },
]


def code_mixture(root: Path, name: str) -> Path:
    """COPIED_ROWS built as the mixture `name` (source `toy-code`, no test split) under `root`."""
    import json

    import yaml

    from mixtures import build_mixture

    (root / "code.jsonl").write_text("".join(json.dumps(r) + "\n" for r in COPIED_ROWS), encoding="utf-8")
    recipe = {"name": name, "kind": "sft", "sources": [{"name": "toy-code", "path": "code.jsonl"}]}
    recipe |= {"test": {"holdout": 0}, "output": "mixture"}
    (root / "mixture.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return build_mixture(root / "mixture.yaml")


@pytest.fixture(scope="session")
def copying_model(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model overfit (SFT) on COPIED_ROWS, built as the mixture `copied-code` (source
    `toy-code`) with its search index: asked "Sum a list of numbers.", it answers with that row's
    code block verbatim, and its run record names the mixture."""
    import yaml

    from mixtune.cli import main
    from mixtures.search_index import build_index

    root = tmp_path_factory.mktemp("copying")
    mixture = code_mixture(root, "copied-code")
    build_index(mixture)
    sft = {
        "model_name_or_path": str(tiny_base_dir),
        "mixture": str(mixture),
        "output_dir": str(root / "model"),
        "learning_rate": 3.0e-3,
        "lr_scheduler_type": "constant",
        "num_train_epochs": 60,
        "per_device_train_batch_size": 2,
        "logging_steps": 10,
        "save_strategy": "no",
        "bf16": False,
        "seed": 0,
    }
    (root / "sft.yaml").write_text(yaml.safe_dump(sft), encoding="utf-8")
    assert main(["sft", str(root / "sft.yaml")]) == 0
    return root / "model"

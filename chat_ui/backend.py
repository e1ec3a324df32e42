"""What every chat backend offers the playground, the arena and the OpenAI-compatible server.

A backend turns a conversation (canonical messages) into a streamed reply. The playground
needs more than text: the exact prompt the model sees, its token count against the context
window, and why generation ended, so those are part of the interface too.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from mixtune.errors import MixtuneError

Message = dict[str, Any]  # role, content; tool calling adds tool_calls, name, tool_call_id


@dataclass
class GenerationSettings:
    """Every knob that changes a reply; all of them are sent to the backend.

    The playground's and the server's name for how to generate, as `evals.generate`'s
    GenerationSettings is the evaluation's (which adds samples per problem, batch size and
    prompt style, and has no top-k or repetition penalty).

    temperature 0 means greedy decoding. top_k 0 disables top-k. seed None draws a fresh seed,
    which the reply reports, so any answer can be reproduced.
    """

    temperature: float = 0.2
    top_k: int = 50
    top_p: float = 0.95
    max_new_tokens: int = 512
    repetition_penalty: float = 1.0
    seed: int | None = None

    def validate(self) -> GenerationSettings:
        problems = []
        for key in ("temperature", "top_p", "repetition_penalty"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise MixtuneError(f"invalid sampling settings: {key} must be a finite number, got {value!r}")
        for key in ("top_k", "max_new_tokens", "seed"):
            value = getattr(self, key)
            if (value is not None or key != "seed") and (
                isinstance(value, bool) or not isinstance(value, int)
            ):
                raise MixtuneError(f"invalid sampling settings: {key} must be an integer, got {value!r}")
        if not 0 <= self.temperature <= 5:
            problems.append(f"temperature must be in [0, 5], got {self.temperature}")
        if self.top_k < 0:
            problems.append(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            problems.append(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.repetition_penalty <= 0:
            problems.append(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            problems.append(f"seed must be in [0, 2**32), got {self.seed}")
        if problems:
            raise MixtuneError("invalid sampling settings: " + "; ".join(problems))
        return self

    def with_seed(self) -> GenerationSettings:
        """A copy whose seed is fixed (drawn now if it was None), so the reply can be reproduced."""
        seed = self.seed if self.seed is not None else random.SystemRandom().randrange(2**31)
        return GenerationSettings(**{**asdict(self), "seed": seed})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReplyStream:
    """An iterator of text pieces; after it is exhausted, usage and finish_reason are filled in.

    finish_reason is "stop" (end-of-turn token or a stop string), "length" (max_new_tokens), or
    "cancelled". `prompt` is the exact text the model continues, when the backend knows it
    (a raw completion's FIM prompt, for instance).
    """

    pieces: Iterator[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    seed: int | None = None
    text: str = ""
    prompt: str | None = None
    _on_close: list[Any] = field(default_factory=list, repr=False)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        piece = next(self.pieces)
        self.text += piece
        return piece

    def stop(self) -> None:
        """Ask generation to stop; safe from any thread, also while another one is iterating."""
        for fn in self._on_close:
            fn()

    def close(self) -> None:
        """Stop generating now and release the connection or thread behind the stream (from the
        thread that iterates it, or once nothing does)."""
        self.stop()
        close = getattr(self.pieces, "close", None)
        if close is not None:
            close()


class ChatBackend(Protocol):
    """A model that can chat. Implementations: TransformersBackend, OpenAIBackend."""

    name: str

    @property
    def context_limit(self) -> int | None:
        """Tokens the model can attend to (prompt + reply), or None when unknown."""

    def info(self) -> dict[str, Any]:
        """What the model is: name, path or URL, and lineage from mixtune_run.json when present."""

    def render_prompt(self, messages: list[Message]) -> str:
        """The exact text the model receives for this conversation (chat template applied).
        Backends that can call tools also take `tools=` (a function list) here and in
        count_tokens and stream."""

    def count_tokens(self, messages: list[Message]) -> int:
        """Prompt tokens for this conversation, generation prompt included."""

    def stream(
        self, messages: list[Message], settings: GenerationSettings, cancel: threading.Event | None = None
    ) -> ReplyStream:
        """Start a reply; setting `cancel` stops generation within one token."""


class CompletionBackend(Protocol):
    """A model that continues raw text (no chat template): `/v1/completions` and the playground's
    Complete tab. Implementations: TransformersBackend, OpenAIBackend."""

    name: str

    def complete(
        self,
        prompt: str,
        settings: GenerationSettings,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        suffix: str | None = None,
    ) -> ReplyStream:
        """Stream the continuation of `prompt`, cut before the first of the `stop` strings (which
        is never returned; finish_reason "stop"). With `suffix`, the model fills the middle
        between `prompt` and `suffix` (a fill-in-the-middle prompt in the model's FIM tokens)."""


class StopFilter:
    """A streamed text cut before its first stop string. Text goes out as it comes, less a tail
    that could be the start of a stop string (held until the next piece shows it is not)."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.keep = max((len(s) - 1 for s in self.stops), default=0)
        self.held = ""  # the text so far, cut at a stop string
        self.sent = 0  # how much of `held` went out
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Take the next piece; returns the text that may be sent now."""
        # only the unsent tail and the new piece can hold a stop string that was not seen yet
        start = max(self.sent - self.keep, 0)
        window = self.held[start:] + piece
        cut = min((i for i in (window.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.held, self.stopped = self.held[:start] + window[:cut], True
            out = self.held[self.sent :]
        else:
            self.held += piece
            end = len(self.held) - self.keep
            out = self.held[self.sent : end] if end > self.sent else ""
        self.sent += len(out)
        return out

    def rest(self) -> str:
        """What was held back, once the stream has ended without a stop string."""
        out = self.held[self.sent :]
        self.sent = len(self.held)
        return out


def cut_at_stop_strings(reply: ReplyStream, stops: Sequence[str]) -> ReplyStream:
    """`reply` ending before the first stop string: generation is stopped there (within a token)
    and the finish reason is "stop"; the stop string is never returned."""
    cut = StopFilter(stops)
    if not cut.stops:
        return reply
    inner = reply.pieces

    def pieces() -> Iterator[str]:
        for piece in inner:
            if cut.stopped:
                continue  # generation was asked to stop: drain what is in flight (its counts land)
            if out := cut.feed(piece):
                yield out
            if cut.stopped:
                reply.stop()
        if cut.stopped:
            reply.finish_reason = "stop"
        elif out := cut.rest():
            yield out

    reply.pieces = pieces()
    return reply


@dataclass
class TrimResult:
    messages: list[Message]
    dropped_turns: int
    prompt_tokens: int


def trim_to_context(
    backend: ChatBackend, messages: list[Message], max_new_tokens: int, limit: int | None = None
) -> TrimResult:
    """Drop the oldest user/assistant exchanges until prompt + reply fit the context window.

    The system prompt and the latest user turn are always kept; when even those do not fit,
    the error says by how much. A reply budget above half the window counts as half (the reply
    is then cut at the window's end), so a generous max_new_tokens does not erase the conversation.
    """
    limit = backend.context_limit if limit is None else limit
    if limit is not None:
        max_new_tokens = min(max_new_tokens, limit // 2)
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = messages[len(system) :]
    dropped = 0
    while True:
        candidate = system + turns
        count = backend.count_tokens(candidate)
        if limit is None or count + max_new_tokens <= limit:
            return TrimResult(candidate, dropped, count)
        if len(turns) <= 1:
            raise MixtuneError(
                f"the prompt needs {count} tokens and the reply up to {max_new_tokens}, but the model's "
                f"context window is {limit}: shorten the message or the system prompt, or lower max new tokens"
            )
        # drop one exchange: the oldest user turn and the assistant reply that follows it
        cut = 2 if len(turns) > 2 and turns[1]["role"] == "assistant" else 1
        turns = turns[cut:]
        dropped += 1


ROLES = ("system", "user", "assistant", "tool")


def check_messages(messages: Any, where: str = "messages") -> list[Message]:
    """Validate a conversation: a list of {role, content} with known roles and text content.

    Tool calling as OpenAI's API sends it is accepted: an assistant turn's `tool_calls` (content
    may then be null; `arguments` as JSON text or an object) and `tool` turns with the result
    (`tool_call_id`, `name` kept). Calls come back with `arguments` as objects, as chat templates
    take them."""
    from mixtune.chat_format import template_messages

    if not isinstance(messages, list) or not messages:
        raise MixtuneError(f"{where}: expected a non-empty list of messages")
    out: list[Message] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise MixtuneError(f"{where}.{i}: a message needs 'role' and 'content'")
        role = m["role"]
        if role not in ROLES:
            raise MixtuneError(f"{where}.{i}.role: unknown role {role!r}; expected one of {', '.join(ROLES)}")
        calls = m.get("tool_calls")
        if "content" not in m and not calls:
            raise MixtuneError(f"{where}.{i}: a message needs 'role' and 'content'")
        content = m.get("content")
        if isinstance(content, list):  # OpenAI content parts: text only (these models read no images)
            texts = []
            for j, part in enumerate(content):
                if not isinstance(part, dict):
                    raise MixtuneError(f"{where}.{i}.content: content parts must be objects")
                if part.get("type", "text") != "text" or not isinstance(part.get("text"), str):
                    kind = part.get("type", "text")
                    raise MixtuneError(
                        f"{where}.{i}.content.{j}: only text parts are supported, got {kind!r}"
                    )
                texts.append(part["text"])
            content = "".join(texts)
        if content is None and role == "assistant" and calls:
            content = ""
        if not isinstance(content, str):
            raise MixtuneError(f"{where}.{i}.content: expected text")
        message: Message = {"role": role, "content": content}
        if calls is not None:
            if role != "assistant" or not isinstance(calls, list):
                raise MixtuneError(
                    f"{where}.{i}.tool_calls: only assistant messages carry a list of tool calls"
                )
            message["tool_calls"] = calls
        for key in ("tool_call_id", "name"):
            if m.get(key) is not None:
                if not isinstance(m[key], str):
                    raise MixtuneError(f"{where}.{i}.{key}: expected text")
                message[key] = m[key]
        out.append(message)
    return template_messages(out, where)

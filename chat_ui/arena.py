"""The arena: one prompt, two anonymous models answering side by side, one vote.

Which model is A and which is B is drawn at random each round and revealed only after the
vote. With a single model loaded, both sides are that model with different seeds: the votes
are then on-policy preference pairs, which is what DPO learns best from.
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from chat_ui.backend import ChatBackend, GenerationSettings, Message, ReplyStream

SIDES = ("A", "B")


def draw_pair(names: list[str], rng: random.Random | None = None) -> dict[str, str]:
    """Two different models in random order (the same one twice when there is only one)."""
    rng = rng or random.SystemRandom()
    if len(names) >= 2:
        a, b = rng.sample(names, 2)
    else:
        a = b = names[0]
    return {"A": a, "B": b}


@dataclass
class ArenaRound:
    """Everything a vote needs: the prompt, both answers, who gave them, and with which settings."""

    prompt: list[Message]
    models: dict[str, str]
    answers: dict[str, str] = field(default_factory=lambda: {"A": "", "B": ""})
    seeds: dict[str, int | None] = field(default_factory=lambda: {"A": None, "B": None})
    finish: dict[str, str | None] = field(default_factory=lambda: {"A": None, "B": None})
    settings: dict[str, Any] = field(default_factory=dict)
    voted: str | None = None

    @property
    def complete(self) -> bool:
        return all(self.finish[s] is not None for s in SIDES)

    @property
    def votable(self) -> bool:
        """Both answers ended on their own (end of turn or length): not stopped, not failed."""
        return all(self.finish[s] in ("stop", "length") for s in SIDES)

    def to_state(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "models": self.models,
            "answers": self.answers,
            "seeds": self.seeds,
            "finish": self.finish,
            "settings": self.settings,
            "voted": self.voted,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> ArenaRound | None:
        return cls(**state) if state else None


def stream_both(
    backends: dict[str, ChatBackend],
    rnd: ArenaRound,
    settings: GenerationSettings,
    cancel: threading.Event,
) -> Iterator[str]:
    """Generate both answers at once, each in its own thread; yields the side that changed.

    Each side gets its own seed (drawn now unless one was set), recorded in the round.
    """
    updates: queue.Queue[tuple[str, str | None, BaseException | None]] = queue.Queue()
    replies: dict[str, ReplyStream] = {}

    def run(side: str) -> None:
        try:
            reply = replies[side]
            for piece in reply:
                updates.put((side, piece, None))
            rnd.finish[side] = reply.finish_reason or "stop"
            updates.put((side, None, None))
        except BaseException as exc:
            rnd.finish[side] = "error"
            updates.put((side, None, exc))

    for side in SIDES:
        side_settings = settings
        if side == "B" and settings.seed is not None and rnd.models["A"] == rnd.models["B"]:
            # the same model with the same seed would answer twice alike
            side_settings = GenerationSettings(**{**settings.to_dict(), "seed": settings.seed + 1})
        replies[side] = backends[rnd.models[side]].stream(rnd.prompt, side_settings, cancel)
        rnd.seeds[side] = replies[side].seed
    threads = [threading.Thread(target=run, args=(s,), daemon=True, name=f"arena-{s}") for s in SIDES]
    for t in threads:
        t.start()
    done = 0
    failure: BaseException | None = None
    try:
        while done < len(SIDES):
            side, piece, exc = updates.get()
            if piece is None:
                done += 1
                failure = failure or exc
                continue
            rnd.answers[side] += piece
            yield side
    finally:
        if done < len(SIDES):
            cancel.set()
        for t in threads:
            t.join(timeout=30)
    if failure is not None:
        raise failure

"""The feedback log: arena votes as canonical preference rows, ratings as unpaired rows.

A decisive arena vote (A or B better) appends one preference row in TRL's explicit-prompt
conversational format — {"prompt", "chosen", "rejected", "source", "id"} plus "models",
"settings", "vote" and "timestamp" — to the log, so the log is a mixture source as it is:
votes -> `mixtune mix build` -> DPO.

Ratings without a pair (a like or dislike on one answer; "tie" and "both bad" in the arena)
go to a sibling file `<log stem>.ratings.jsonl` in TRL's unpaired-preference format
{"prompt", "completion", "label"} (as KTO reads it), so they never pollute the pairs.

Writers may be many threads or processes: each line is written with one `os.write` on an
O_APPEND descriptor while holding an exclusive `flock`, so lines never interleave.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chat_ui.backend import Message
from mixtune.errors import MixtuneError
from mixtune.hashing import hash_obj
from mixtune.jsonl import read_json_objects

ARENA_SOURCE = "mixtune-arena"
CHAT_SOURCE = "mixtune-playground"
VOTES = ("A", "B", "tie", "both-bad")


def ratings_path(log_path: str | Path) -> Path:
    path = Path(log_path)
    return path.with_name(f"{path.stem}.ratings.jsonl")


def append_jsonl(path: str | Path, row: dict[str, Any]) -> None:
    """Append one JSON line atomically with respect to other writers using this function."""
    line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            written = os.write(fd, line)
            while written < len(line):  # only on a full disk or a signal: finish the line
                written += os.write(fd, line[written:])
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _row_id(kind: str, payload: Any) -> str:
    """Unique per event, yet traceable: a content hash plus a random part."""
    return f"{kind}-{hash_obj(payload)[:12]}-{uuid.uuid4().hex[:8]}"


def _row(kind: str, data: dict[str, Any], identity: Any, source: str, **extra: Any) -> dict[str, Any]:
    """A logged row: its data, source and id (a hash of `identity` plus a random part), what
    rides along, and when."""
    return {**data, "source": source, "id": _row_id(kind, identity), **extra, "timestamp": _timestamp()}


def preference_row(
    prompt: list[Message],
    answers: dict[str, str],
    models: dict[str, dict[str, Any]],
    settings: dict[str, Any],
    vote: str,
    source: str = ARENA_SOURCE,
) -> dict[str, Any]:
    """A canonical preference row from a decisive vote ("A" or "B" better between `answers`);
    extra keys (models, settings, vote, timestamp) ride along."""
    if not prompt or prompt[-1]["role"] != "user":
        raise MixtuneError("a preference row needs a prompt that ends with the user's turn")
    loser = "B" if vote == "A" else "A"
    chosen, rejected = answers[vote], answers[loser]
    pair = {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }
    ranked = {"chosen": models[vote], "rejected": models[loser]}
    return _row("vote", pair, [prompt, chosen, rejected], source, models=ranked, settings=settings, vote=vote)


def rating_row(
    prompt: list[Message],
    completion: str,
    label: bool,
    model: dict[str, Any],
    settings: dict[str, Any],
    origin: str,
    source: str = CHAT_SOURCE,
) -> dict[str, Any]:
    """An unpaired rating (KTO's prompt/completion/label), e.g. a thumbs-up on one answer."""
    rated = {
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": completion}],
        "label": bool(label),
    }
    return _row(
        "rating", rated, [prompt, completion, origin], source, model=model, settings=settings, origin=origin
    )


class FeedbackLog:
    """Where votes and ratings go; None of this is written unless the operator names a path."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise MixtuneError(f"--feedback-log {self.path}: not a file")
        self.ratings = ratings_path(self.path)

    def record_vote(
        self,
        prompt: list[Message],
        answers: dict[str, str],
        models: dict[str, dict[str, Any]],
        settings: dict[str, Any],
        vote: str,
    ) -> list[dict[str, Any]]:
        """Log an arena vote; returns the rows written (one preference row for A/B)."""
        if vote not in VOTES:
            raise MixtuneError(f"unknown vote {vote!r}; expected one of {VOTES}")
        if vote in ("A", "B"):
            row = preference_row(prompt, answers, models, settings, vote)
            append_jsonl(self.path, row)
            return [row]
        label = vote == "tie"
        rows = [
            rating_row(prompt, answers[side], label, models[side], settings, f"arena-{vote}", ARENA_SOURCE)
            for side in ("A", "B")
        ]
        for row in rows:
            append_jsonl(self.ratings, row)
        return rows

    def record_rating(
        self,
        prompt: list[Message],
        completion: str,
        liked: bool,
        model: dict[str, Any],
        settings: dict[str, Any],
    ) -> dict[str, Any]:
        row = rating_row(prompt, completion, liked, model, settings, "like" if liked else "dislike")
        append_jsonl(self.ratings, row)
        return row


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a JSONL file; a broken line is an error naming the file and line."""
    return [row for _, row in read_json_objects(path)]

"""The text of a canonical mixture row, as the filters and training-data search read it: its
turns in order (SFT messages; preference prompt, chosen, rejected; a completion row's file)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mixtune.errors import DataError

TURN_COLUMNS = {
    "sft": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "completion": ("content",),
}


def turn_columns(kind: str) -> tuple[str, ...]:
    try:
        return TURN_COLUMNS[kind]
    except KeyError:
        raise DataError(
            f"unknown mixture kind {kind!r}: expected 'sft', 'preference' or 'completion'"
        ) from None


def iter_turns(row: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(column, message) for every turn of a row: messages, or prompt + chosen + rejected; a
    completion row (one file) is one turn, its `content`."""
    if kind == "completion":
        yield "content", {"role": "file", "content": row.get("content") or ""}
        return
    for column in turn_columns(kind):
        for message in row.get(column) or ():
            yield column, message


def row_contents(row: dict[str, Any], kind: str) -> list[str]:
    return [m.get("content") or "" for _, m in iter_turns(row, kind)]


def row_text(row: dict[str, Any], kind: str) -> str:
    """The text of a row: all turn contents, newline-separated."""
    return "\n".join(row_contents(row, kind))


def batch_rows(batch: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """Rows of a `datasets` batch (a dict of columns)."""
    columns = list(batch)
    n = len(batch[columns[0]]) if columns else 0
    for i in range(n):
        yield {c: batch[c][i] for c in columns}


def batch_texts(batch: dict[str, list[Any]], kind: str) -> list[str]:
    return [row_text(row, kind) for row in batch_rows(batch)]


def normalize(text: str) -> str:
    """Case-folded, every whitespace run collapsed to one space, stripped."""
    return " ".join(text.lower().split())

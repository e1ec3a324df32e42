"""The "found in training data" lookup without a user interface: the code blocks of an answer
(or a completion's whole text) searched in the mixtures the model was trained on.

`mixtune serve` answers it as the opt-in `training_data` field; the playground's mark uses the
same lookup. It runs after a reply has ended, in a worker thread, never on the generating one.
What is returned is JSON-ready: each match names the mixture, source, row id and similarity,
with the matching span (line and character range within the row's turn) and its text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chat_ui.conversation import code_blocks
from mixtune.attribution.query import REPORTED_FIELDS
from mixtune.errors import MixtuneError
from mixtune.run_record import RUN_RECORD

# what the API reports of a match: enough to name the row and show the matching span
MATCH_KEYS = REPORTED_FIELDS
SNIPPET_CHARS = 4000  # the matching span's text is cut here (a row can be a whole file)
HOW_TO_INDEX = (
    "build the indexes with `mixtune mix index MIXTURE_DIR` or start `mixtune serve --check-training-data`"
)


def find_in_training_data(model_dir: Path, code: str, top: int) -> list[Any]:
    """The ground package's training-data query (its one import here). Read only: a mixture
    whose index is missing or stale is a DataError naming the command that builds it."""
    from mixtune.attribution import find_in_training_data as find

    return find(model_dir, code, top=top)


def model_dir_of(model_ref: str | Path | None) -> Path:
    """The model directory whose run record names its training mixtures, or an error saying why
    this model's output cannot be checked."""
    path = Path(str(model_ref or ""))
    if not model_ref or not (path / RUN_RECORD).is_file():
        raise MixtuneError(
            f"{model_ref or 'this model'} is not a local model directory with a {RUN_RECORD} "
            "naming its training mixtures, so its output cannot be checked against its training data"
        )
    return path


def match_fields(match: Any) -> dict[str, Any]:
    """A match as the API reports it: its keys, and the text of the matching span."""
    found = match.as_dict() if hasattr(match, "as_dict") else dict(match)
    out = {key: found.get(key) for key in MATCH_KEYS}
    span, text = found.get("span") or {}, str(found.get("text") or "")
    out["snippet"] = text[int(span.get("start_char", 0)) : int(span.get("end_char", len(text)))][
        :SNIPPET_CHARS
    ]
    return out


def text_matches(model_dir: Path, text: str, top: int = 3) -> list[dict[str, Any]]:
    """The best matches of a whole text (a completion) in the model's training mixtures."""
    if not text.strip():
        return []
    return [match_fields(m) for m in find_in_training_data(model_dir, text, top=top)]


def block_matches(model_dir: Path, content: str, top: int = 3) -> list[dict[str, Any]]:
    """Each fenced code block of `content` with its matches (blocks with none are listed too, so
    a client can tell "checked, not found" from "not checked")."""
    return [
        {
            "block": number,
            "language": block.lang,
            "start": block.start,
            "end": block.end,
            "matches": text_matches(model_dir, block.code, top) if block.code.strip() else [],
        }
        for number, block in enumerate(code_blocks(content))
    ]


def training_data_field(model_ref: str | Path | None, text: str, blocks: bool) -> dict[str, Any]:
    """The response's `training_data` field: {"blocks": [...]} for a chat answer (per code
    block), {"matches": [...]} for a completion, or {"error": why, with how to fix it}."""
    try:
        model_dir = model_dir_of(model_ref)
        if blocks:
            return {"blocks": block_matches(model_dir, text)}
        return {"matches": text_matches(model_dir, text)}
    except (MixtuneError, OSError) as exc:  # an unreadable index is a field, not a failed answer
        message = str(exc)
        if "index" in message and "mix index" not in message:
            message += f" ({HOW_TO_INDEX})"
        return {"error": message}

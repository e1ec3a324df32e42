"""Length and quality bounds: characters or tokens of a named tokenizer, turn count, empty or
refusing assistant turns. Cheap, so it runs first and spares the costlier filters work."""

from __future__ import annotations

import re
from typing import Any

from mixtune.row_text import batch_rows, turn_columns
from mixtune.tokenizer import load_tokenizer
from mixtures.filters.config import LengthConfig
from mixtures.filters.verdicts import FilterVerdicts, map_columns, verdict_lists

TOO_SHORT, TOO_LONG, TOO_MANY_TURNS = "too_short", "too_long", "too_many_turns"
EMPTY_ASSISTANT, REFUSAL = "empty_assistant", "refusal"


def _calls_text(message: dict[str, Any]) -> str:
    calls = message.get("tool_calls") or []
    return " ".join(f"{c['function']['name']}({c['function']['arguments']})" for c in calls)


class LengthChecker:
    """Verdicts for a batch of rows; picklable, so `datasets.map(num_proc=...)` can ship it."""

    def __init__(self, cfg: LengthConfig, kind: str, tokenizer: Any = None) -> None:
        self.cfg = cfg
        self.kind = kind
        self.columns = turn_columns(kind)
        self.tokenizer = tokenizer
        self.refusals = re.compile("|".join(f"(?:{p})" for p in cfg.refusal_patterns), re.IGNORECASE)

    def _pieces(self, row: dict[str, Any]) -> tuple[list[str], list[str]]:
        """(texts counted for length, assistant replies checked for quality). A preference row is
        as long as its prompt plus its longer reply; only the chosen reply is checked for refusals."""
        if self.kind == "sft":
            msgs = row["messages"] or []
            # a turn that only calls tools has no text by design: its calls are the reply
            return [m["content"] or "" for m in msgs], [
                m["content"] or _calls_text(m) for m in msgs if m["role"] == "assistant"
            ]
        prompt = [m["content"] or "" for m in row["prompt"] or []]
        chosen = [m["content"] or "" for m in row["chosen"] or []]
        rejected = [m["content"] or "" for m in row["rejected"] or []]
        longer = chosen if sum(map(len, chosen)) >= sum(map(len, rejected)) else rejected
        return prompt + longer, chosen + rejected

    def _turns(self, row: dict[str, Any]) -> int:
        count = 0
        for column in self.columns:
            count += sum(1 for m in row[column] or [] if m["role"] != "system")
        return count

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[str]]:
        cfg = self.cfg
        rows = list(batch_rows(batch))
        pieces = [self._pieces(r) for r in rows]
        n_tokens: list[int] = [0] * len(rows)
        if self.tokenizer is not None and (cfg.min_tokens is not None or cfg.max_tokens is not None):
            flat = [t for texts, _ in pieces for t in texts]
            ids = self.tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
            k = 0
            for i, (texts, _) in enumerate(pieces):
                n_tokens[i] = sum(len(x) for x in ids[k : k + len(texts)])
                k += len(texts)
        reasons, details = [], []
        for i, row in enumerate(rows):
            texts, replies = pieces[i]
            reason, detail = self._verdict(row, texts, replies, n_tokens[i])
            reasons.append(reason)
            details.append(detail)
        return {"__reason": reasons, "__detail": details}

    def _verdict(
        self, row: dict[str, Any], texts: list[str], replies: list[str], n_tokens: int
    ) -> tuple[str, str]:
        cfg = self.cfg
        if cfg.drop_empty_assistant:
            if not replies:
                return EMPTY_ASSISTANT, "no assistant turn"
            for reply in replies:
                if not reply.strip():
                    return EMPTY_ASSISTANT, "an assistant turn is empty"
        if cfg.drop_refusals and cfg.refusal_patterns:
            checked = replies if self.kind == "sft" else [m["content"] or "" for m in row["chosen"] or []]
            for reply in checked:
                found = self.refusals.search(reply)
                if found:
                    return REFUSAL, f"assistant refuses: {found.group(0)!r}"
        if cfg.max_turns is not None:
            turns = self._turns(row)
            if turns > cfg.max_turns:
                return TOO_MANY_TURNS, f"{turns} turns > max_turns {cfg.max_turns}"
        n_chars = sum(len(t) for t in texts)
        if cfg.min_chars is not None and n_chars < cfg.min_chars:
            return TOO_SHORT, f"{n_chars} characters < min_chars {cfg.min_chars}"
        if cfg.max_chars is not None and n_chars > cfg.max_chars:
            return TOO_LONG, f"{n_chars} characters > max_chars {cfg.max_chars}"
        if cfg.min_tokens is not None and n_tokens < cfg.min_tokens:
            return TOO_SHORT, f"{n_tokens} tokens < min_tokens {cfg.min_tokens}"
        if cfg.max_tokens is not None and n_tokens > cfg.max_tokens:
            return TOO_LONG, f"{n_tokens} tokens > max_tokens {cfg.max_tokens}"
        return "", ""


def run_length(ds: Any, cfg: LengthConfig, kind: str, num_proc: int | None) -> FilterVerdicts:
    counting_tokens = cfg.min_tokens is not None or cfg.max_tokens is not None
    tokenizer = load_tokenizer(cfg.tokenizer, "filters.length.tokenizer") if counting_tokens else None
    out = map_columns(ds, LengthChecker(cfg, kind, tokenizer), num_proc, "length filter")
    reasons, details = verdict_lists(out)
    return FilterVerdicts(reasons, details)

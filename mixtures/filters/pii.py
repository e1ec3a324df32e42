"""PII redaction: emails, public IP addresses and secrets become `<EMAIL>`, `<IP_ADDRESS>`, `<KEY>`.

Patterns follow BigCode's StarCoder PII pipeline, tuned for code: an IP must be a routable
address (not private, loopback, link-local, reserved or multicast), must not be a version
string (`v1.2.3.4`, `version 1.2.3.4`, `==1.2.3.4`) or part of a longer dotted number; a
high-entropy string counts as a secret only as the value of a key-like name (`api_key = "..."`),
and UUIDs, hex digests of placeholders and `xxxx` style dummies are left alone.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from typing import Any

import numpy as np

from mixtune.row_text import turn_columns
from mixtures.filters.config import PIIConfig
from mixtures.filters.verdicts import FilterVerdicts, column_numpy, effective_num_proc, map_columns

PII = "pii"
REPLACEMENTS = {"email": "<EMAIL>", "ip_address": "<IP_ADDRESS>", "key": "<KEY>"}

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:.])"
)
_VERSION_BEFORE = re.compile(
    r"(?:\bv|version_*|\bver|\brelease|\brev|\bsection|\bsec\.|\bchapter|\bsee|§|==|>=|<=|~=|!=|[<>@^~])"
    r"\s*[:=]?\s*['\"]?$",
    re.IGNORECASE,
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
)
_TOKENS = re.compile(  # one pass for all vendor token formats
    r"(?<![A-Za-z0-9_])(?:"
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[0-9A-Z]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}"  # GitHub
    r"|xox[abposr]-[A-Za-z0-9-]{10,250}"  # Slack
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}"  # Stripe
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API
    r"|hf_[A-Za-z]{34}"  # Hugging Face
    r")(?![A-Za-z0-9_])"
)
_SLACK_WEBHOOK = re.compile(r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+")
# `name = "value"` / `name: value`: the operator and value are matched first (rare characters),
# then the name is read backwards from the operator
_ASSIGNED_VALUE = re.compile(
    r"(?::=|=>|->|[:=])[ \t]*[rbuf]?(?:(?P<quote>['\"])(?P<qvalue>[A-Za-z0-9+/_\-=.~]{16,512})(?P=quote)"
    r"|(?P<value>[A-Za-z0-9+/_\-=~]{16,512})(?![\w(.\[*:/]))"
)
_NAME_BEFORE = re.compile(r"(?<![\w.-])(?P<name>[A-Za-z_][\w.-]{0,80})['\"]?\s*$")
_NAME_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_KEY_WORDS = {
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "apikey",
    "credential",
    "credentials",
    "passphrase",
}
_KEY_PAIRS = {
    ("api", "key"),
    ("access", "key"),
    ("private", "key"),
    ("auth", "key"),
    ("secret", "key"),
    ("signing", "key"),
}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PLACEHOLDER = re.compile(r"(?i)(x{4,}|\*{4,}|your|example|dummy|placeholder|changeme|redacted|<|>|\.\.\.)")


def _entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_secret(value: str) -> bool:
    """A key-like name's value that is a real secret: long, mixed, high entropy, not a UUID or a
    placeholder or a dotted identifier / path."""
    if _UUID.match(value) or _PLACEHOLDER.search(value):
        return False
    if "." in value and not any(c.isdigit() for c in value.split(".")[-1]):
        return False  # module.attribute, file.ext
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return has_digit and has_alpha and _entropy(value) >= 3.5


def key_like(name: str) -> bool:
    """`API_KEY`, `githubToken`, `client_secret`, `db.password`: names whose value is a credential."""
    parts = [p.lower() for p in _NAME_PARTS.findall(name)]
    return any(p in _KEY_WORDS for p in parts) or any(
        pair in _KEY_PAIRS for pair in zip(parts, parts[1:], strict=False)
    )


def _public_ip(text: str, start: int, candidate: str) -> bool:
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return False
    return not (ip.version == 4 and _VERSION_BEFORE.search(text[max(0, start - 20) : start]))


def find_pii(text: str, types: tuple[str, ...] = tuple(REPLACEMENTS)) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, type) spans, earliest first; secrets win over overlaps."""
    spans: list[tuple[int, int, str]] = []
    if "key" in types:
        spans += [(m.start(), m.end(), "key") for m in _TOKENS.finditer(text)]
        if "PRIVATE KEY" in text:
            spans += [(m.start(), m.end(), "key") for m in _PRIVATE_KEY.finditer(text)]
        if "hooks.slack.com" in text:
            spans += [(m.start(), m.end(), "key") for m in _SLACK_WEBHOOK.finditer(text)]
        for m in _ASSIGNED_VALUE.finditer(text):
            group = "qvalue" if m.group("qvalue") is not None else "value"
            if not looks_secret(m.group(group)):
                continue
            name = _NAME_BEFORE.search(text, max(0, m.start() - 90), m.start())
            if name and key_like(name.group("name")):
                spans.append((m.start(group), m.end(group), "key"))
    if "email" in types and "@" in text:
        spans += [
            (m.start(), m.end(), "email") for m in _EMAIL.finditer(text) if not m.group().startswith("git@")
        ]
    if "ip_address" in types:
        if "." in text:
            spans += [
                (m.start(), m.end(), "ip_address")
                for m in _IPV4.finditer(text)
                if _public_ip(text, m.start(), m.group())
            ]
        if "::" in text or text.count(":") >= 7:
            spans += [
                (m.start(), m.end(), "ip_address")
                for m in _IPV6.finditer(text)
                if m.group().count(":") >= 2 and _public_ip(text, m.start(), m.group())
            ]
    priority = {"key": 0, "email": 1, "ip_address": 2}
    spans.sort(key=lambda s: (s[0], priority[s[2]], -s[1]))
    out: list[tuple[int, int, str]] = []
    for span in spans:
        if out and span[0] < out[-1][1]:
            continue
        out.append(span)
    return out


def redact(text: str, types: tuple[str, ...] = tuple(REPLACEMENTS)) -> tuple[str, Counter[str]]:
    """(text with PII replaced by placeholders, count per type)."""
    spans = find_pii(text, types)
    if not spans:
        return text, Counter()
    pieces, last = [], 0
    for start, end, kind in spans:
        pieces += [text[last:start], REPLACEMENTS[kind]]
        last = end
    pieces.append(text[last:])
    return "".join(pieces), Counter(kind for _, _, kind in spans)


class PIIRedactor:
    """Redacts every turn of a batch of rows (for `datasets.map`); also reports what it found."""

    def __init__(self, kind: str, types: list[str], action: str) -> None:
        self.columns = turn_columns(kind)
        self.types = tuple(types)
        self.action = action

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {c: [] for c in self.columns}
        found: dict[str, list[int]] = {t: [] for t in REPLACEMENTS}
        n = len(batch[self.columns[0]])
        for i in range(n):
            counts: Counter[str] = Counter()
            for column in self.columns:
                if column == "content":  # a completion row: one file's text
                    new_text, c = redact(batch[column][i] or "", self.types)
                    counts.update(c)
                    out[column].append(new_text if c and self.action == "redact" else batch[column][i])
                    continue
                messages = []
                for message in batch[column][i] or []:
                    new_text, c = redact(message.get("content") or "", self.types)
                    counts.update(c)
                    messages.append(
                        {**message, "content": new_text} if c and self.action == "redact" else message
                    )
                out[column].append(messages)
            for t in REPLACEMENTS:
                found[t].append(counts.get(t, 0))
        result: dict[str, list[Any]] = {f"__pii_{t}": v for t, v in found.items()}
        if self.action == "redact":
            result.update(out)
        return result


def run_pii(ds: Any, cfg: PIIConfig, kind: str, num_proc: int | None) -> FilterVerdicts:
    redactor = PIIRedactor(kind, list(cfg.types), cfg.action)
    count_columns = [f"__pii_{t}" for t in REPLACEMENTS]
    n = len(ds)
    if cfg.action == "redact":
        new = ds.map(
            redactor,
            batched=True,
            batch_size=1000,
            num_proc=effective_num_proc(n, num_proc),
            load_from_cache_file=False,
            desc="PII redaction",
        )
        counts = {t: column_numpy(new, f"__pii_{t}") if n else np.zeros(0, np.int64) for t in REPLACEMENTS}
        new = new.remove_columns(count_columns)
        totals = {t: int(c.sum()) for t, c in counts.items()}
        rows = int(np.any(np.stack(list(counts.values())) > 0, axis=0).sum()) if n else 0
        stats = {"pii_redactions": totals, "pii": {"action": "redact", "rows_with_pii": rows}}
        return FilterVerdicts([""] * n, [""] * n, stats, dataset=new)
    out = map_columns(ds, redactor, num_proc, "PII scan")
    counts = {t: column_numpy(out, f"__pii_{t}") if n else np.zeros(0, np.int64) for t in REPLACEMENTS}
    reasons, details = [""] * n, [""] * n
    for i in range(n):
        found = [f"{t} x{int(counts[t][i])}" for t in REPLACEMENTS if counts[t][i]]
        if found:
            reasons[i], details[i] = PII, "contains " + ", ".join(found)
    totals = {t: int(c.sum()) for t, c in counts.items()}
    return FilterVerdicts(reasons, details, {"pii_found": totals, "pii": {"action": "drop"}})

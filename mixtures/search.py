"""Search a mixture's (or a model's training mixtures') rows for a piece of code or text.

A query is matched two ways, as the Stack's search offers:
- exact (a query in double quotes, or `exact=True`): every significant normalised line of
  the query appears, consecutively, in one segment of a row;
- near (otherwise): LSH candidates from the MinHash index, kept when their true word-shingle
  Jaccard with the query (recomputed from the row's text) is at least the index threshold;
  verbatim line matches are found as well, so a copied block is reported either way.

Every match names the mixture, source, row id, similarity and the matching span (line range
within the turn), which the CLI highlights.
"""

from __future__ import annotations

import difflib
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mixtune.errors import DataError
from mixtures.filters import minhash
from mixtures.search_index import (
    MIN_LINE_CHARS,
    SearchIndex,
    band_values_of,
    build_index,
    index_path,
    line_hash,
    load_index,
    normalise_line,
    row_segments,
    segments_of,
    significant_lines,
)

MAX_CANDIDATES = 50
COMMON_LINE = 5000  # a line in more segments than this is too common to pick candidates by


@dataclass
class Match:
    """One matching row."""

    mixture: str
    mixture_hash: str
    source: str
    row_id: str
    row: int
    split: str
    turn: int
    role: str
    column: str  # messages (SFT); prompt, chosen or rejected (preference)
    similarity: float
    method: str  # "exact" | "near"
    span: dict[str, int]  # start_line, end_line (inclusive, 0-based, within the turn), start_char, end_char
    text: str = field(repr=False, default="")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Searcher:
    """A loaded index with its mixture rows, ready for many queries."""

    mixture: Path
    index: SearchIndex
    name: str
    dataset: Any

    @classmethod
    def open(cls, mixture: str | Path, build: bool = True) -> Searcher:
        from mixtune.manifest import read_manifest
        from mixtures.integrity import load_mixture

        mixture = Path(mixture)
        manifest = read_manifest(mixture)
        out = build_index(mixture) if build else index_path(mixture)
        index = load_index(out)
        if index.digest != manifest["hash"]:
            raise DataError(f"{out}: index of mixture {index.digest}, not {manifest['hash']}; rebuild it")
        return cls(mixture, index, manifest["name"], load_mixture(mixture)[index.split])

    def search(self, query: str, top: int = 5, exact: bool | None = None) -> list[Match]:
        return search_index(self.index, query, self._row, self.name, top=top, exact=exact)

    def _row(self, r: int) -> dict[str, Any]:
        return self.dataset[int(r)]


def parse_query(query: str, exact: bool | None) -> tuple[str, bool]:
    """A query wrapped in double quotes is an exact query (quotes removed)."""
    q = query.strip()
    if exact is None:
        if len(q) >= 2 and q[0] == q[-1] == '"':
            return q[1:-1], True
        return query, False
    return query, exact


def _shingles(text: str, ngram: int) -> np.ndarray:
    return minhash.shingle_hashes([text], ngram)[0]


def _line_span(text: str, first: int, last: int) -> dict[str, int]:
    lines = text.splitlines(keepends=True)
    start = sum(len(x) for x in lines[:first])
    end = start + sum(len(x) for x in lines[first : last + 1])
    return {
        "start_line": first,
        "end_line": last,
        "start_char": start,
        "end_char": len(text[:end].rstrip("\n")),
    }


def exact_run(query_lines: list[str], text: str) -> tuple[int, int, int]:
    """(lines matched, first line, last line) of the longest run of the query's significant
    lines found consecutively (among the segment's significant lines) in `text`."""
    seg = significant_lines(text)
    norms = [n for _, n in seg]
    best = (0, 0, 0)
    sm = difflib.SequenceMatcher(None, query_lines, norms, autojunk=False)
    for block in sm.get_matching_blocks():
        if block.size > best[0]:
            best = (block.size, seg[block.b][0], seg[block.b + block.size - 1][0])
    return best


def near_span(query: str, text: str) -> tuple[int, int]:
    """First and last line of `text` that share lines with the query (difflib over normalised lines)."""
    q = [normalise_line(x) for x in query.splitlines()]
    t = [normalise_line(x) for x in text.splitlines()]
    blocks = [b for b in difflib.SequenceMatcher(None, q, t, autojunk=False).get_matching_blocks() if b.size]
    blocks = [b for b in blocks if any(t[b.b + i] for i in range(b.size))]
    if not blocks:
        return 0, max(len(t) - 1, 0)
    return blocks[0].b, blocks[-1].b + blocks[-1].size - 1


def search_index(
    index: SearchIndex,
    query: str,
    get_row: Any,
    mixture_name: str = "",
    top: int = 5,
    exact: bool | None = None,
) -> list[Match]:
    """The best `top` matching rows (one match per row, best similarity first)."""
    text, is_exact = parse_query(query, exact)
    best: dict[int, Match] = {}

    def seg_text(seg: int, row: dict[str, Any]) -> tuple[str, str]:
        turn, block = int(index.seg_turn[seg]), int(index.seg_block[seg])
        for t, b, s in row_segments(row, index.kind):
            if t == turn and b == block:
                role = [m for _, m in _turns(row, index.kind)][turn].get("role") or ""
                return s, role
        raise DataError(f"index {index.digest} does not fit the mixture's rows (segment {seg}); rebuild it")

    def keep(
        seg: int, similarity: float, method: str, text_of: str, role: str, first: int, last: int
    ) -> None:
        r = int(index.seg_row[seg])
        row = rows_cache[r]
        column, message = _turns(row, index.kind)[int(index.seg_turn[seg])]
        full = message.get("content") or ""
        offset = full.find(text_of) if int(index.seg_block[seg]) else 0
        base = full[:offset].count("\n") if offset > 0 else 0
        span = _line_span(full, base + first, base + last)
        match = Match(
            mixture=mixture_name,
            mixture_hash=index.digest,
            source=row.get("source") or "",
            row_id=row.get("id") or "",
            row=r,
            split=index.split,
            turn=int(index.seg_turn[seg]),
            role=role,
            column=column,
            similarity=round(float(similarity), 4),
            method=method,
            span=span,
            text=full,
        )
        old = best.get(r)
        if old is None or (match.similarity, match.method == "exact") > (
            old.similarity,
            old.method == "exact",
        ):
            best[r] = match

    rows_cache: dict[int, dict[str, Any]] = _RowCache(get_row)
    # verbatim: line hashes
    qlines = [n for _, n in significant_lines(text)]
    if is_exact and not qlines:
        raise DataError(
            f"exact query {text!r}: no line of at least {MIN_LINE_CHARS} characters to match; "
            "exact search matches whole lines (search it unquoted for near matches)"
        )
    if qlines:
        counts: dict[int, int] = {}
        postings = [index.line_postings(line_hash(n)) for n in dict.fromkeys(qlines)]
        usable = [p for p in postings if len(p) <= COMMON_LINE] or postings
        for p in usable:
            for seg in p[:COMMON_LINE].tolist():
                counts[seg] = counts.get(seg, 0) + 1
        need = len(dict.fromkeys(qlines)) if is_exact else max(1, min(3, len(qlines)))
        for seg, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:MAX_CANDIDATES]:
            if counts[seg] < min(need, len(usable)):
                continue
            s, role = seg_text(seg, rows_cache[int(index.seg_row[seg])])
            size, first, last = exact_run(qlines, s)
            coverage = size / len(qlines)
            if (is_exact and size == len(qlines)) or (not is_exact and size >= need and coverage >= 0.5):
                keep(seg, coverage, "exact", s, role, first, last)
    if not is_exact:
        qsegs = segments_of(text)
        perms = index.config.perms()
        bands, empty = band_values_of(qsegs, index.config, perms)
        ngram = index.config.ngram
        for qi, qtext in enumerate(qsegs):
            if empty[qi]:
                continue
            hits = index.near_candidates(bands[qi])
            qsh = _shingles(qtext, ngram)
            for seg, _ in sorted(hits.items(), key=lambda kv: -kv[1])[:MAX_CANDIDATES]:
                s, role = seg_text(seg, rows_cache[int(index.seg_row[seg])])
                jac = minhash.exact_jaccard(qsh, _shingles(s, ngram))
                if jac >= index.config.threshold:
                    first, last = near_span(qtext, s)
                    keep(seg, jac, "near", s, role, first, last)
    ranked = sorted(best.values(), key=lambda m: (-m.similarity, m.method != "exact", m.row))
    return ranked[:top]


class _RowCache(dict):
    def __init__(self, get_row: Any) -> None:
        super().__init__()
        self.get_row = get_row

    def __missing__(self, r: int) -> dict[str, Any]:
        self[r] = row = self.get_row(r)
        return row


def _turns(row: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    from mixtures.filters.text import iter_turns

    return list(iter_turns(row, kind))


def lineage_mixtures(model_dir: str | Path) -> list[dict[str, Any]]:
    """The mixtures a model was trained on, from its run record and its parents' (SFT, DPO):
    each {stage, name, hash, path}, one per hash."""
    from mixtune.run_record import read_run_record

    seen: dict[str, dict[str, Any]] = {}
    todo = [Path(model_dir)]
    visited: set[Path] = set()
    while todo:
        d = todo.pop()
        if d in visited or not d.is_dir():
            continue
        visited.add(d)
        record = read_run_record(d)
        if record is None:
            continue
        for m in record.get("mixtures") or []:
            if m.get("hash") and m["hash"] not in seen:
                seen[m["hash"]] = m
        parent = record.get("parent_model")
        if parent and Path(parent).is_dir():
            todo.append(Path(parent))
    return list(seen.values())


def targets(dir_or_model: str | Path) -> list[Path]:
    """Mixture folders to search: the folder itself when it is a built mixture, else every
    mixture in the lineage of the model directory."""
    from mixtune.manifest import MANIFEST

    p = Path(dir_or_model)
    if (p / MANIFEST).is_file():
        return [p]
    from mixtune.run_record import RUN_RECORD

    if not (p / RUN_RECORD).is_file():
        raise DataError(f"{p}: neither a built mixture ({MANIFEST}) nor a trained model ({RUN_RECORD})")
    found = []
    for m in lineage_mixtures(p):
        path = Path(m.get("path") or "")
        if not (path / MANIFEST).is_file():
            raise DataError(
                f"{p}/{RUN_RECORD}: mixture '{m.get('name')}' ({m.get('hash')}) is not at {path}; rebuild it there"
            )
        found.append(path)
    if not found:
        raise DataError(f"{p}/{RUN_RECORD}: records no mixtures to search")
    return found


_OPEN: dict[tuple[str, str], Searcher] = {}
_OPEN_LOCK = threading.Lock()
MAX_OPEN = 8


def open_searcher(mixture: str | Path) -> Searcher:
    """A loaded searcher per (mixture folder, mixture hash), kept for later queries (a
    playground or server checks every answer against the same mixtures)."""
    from mixtune.manifest import read_manifest

    key = (str(Path(mixture).resolve()), str(read_manifest(mixture)["hash"]))
    with _OPEN_LOCK:
        found = _OPEN.get(key)
        if found is None:
            found = Searcher.open(mixture)
            if len(_OPEN) >= MAX_OPEN:
                _OPEN.pop(next(iter(_OPEN)))
            _OPEN[key] = found
        return found


def search(dir_or_model: str | Path, query: str, top: int = 5, exact: bool | None = None) -> list[Match]:
    """Library call: the best `top` matches of `query` in a mixture, or in every mixture a model
    was trained on (indexes are built when missing or stale)."""
    matches: list[Match] = []
    for mixture in targets(dir_or_model):
        matches.extend(open_searcher(mixture).search(query, top=top, exact=exact))
    matches.sort(key=lambda m: (-m.similarity, m.method != "exact", m.mixture, m.row))
    return matches[:top]


def find_in_training_data(model_dir: str | Path, code: str, top: int = 3) -> list[Match]:
    """Matches of a piece of code (e.g. a model's answer block) in the model's training mixtures."""
    return search(model_dir, code, top=top, exact=False)

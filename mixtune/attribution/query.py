"""Matching a query against a mixture's search index (read only).

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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from mixtune import minhash
from mixtune.attribution.index import (
    MIN_LINE_CHARS,
    SearchIndex,
    band_values_of,
    line_hash,
    load_index,
    normalise_line,
    require_index,
    row_segments,
    segments_of,
    significant_lines,
)
from mixtune.errors import DataError
from mixtune.row_text import iter_turns

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
    column: str  # messages (SFT); prompt, chosen or rejected (preference); content (completion)
    similarity: float
    method: str  # "exact" | "near"
    span: dict[str, int]  # start_line, end_line (inclusive, 0-based, within the turn), start_char, end_char
    text: str = field(repr=False, default="")
    path: str = ""  # completion rows: the file, `repo/path`

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# what a report of a match carries (API field, eval sample, playground mark): enough to name
# the row and show the matching span, without the row's whole text
REPORTED_FIELDS = tuple(f.name for f in fields(Match) if f.name != "text")


@dataclass
class Searcher:
    """A loaded index with its mixture rows, ready for many queries."""

    mixture: Path
    index: SearchIndex
    name: str
    dataset: Any

    @classmethod
    def open(cls, mixture: str | Path) -> Searcher:
        """The searcher of a mixture whose index is current; a `DataError` naming the mixture and
        `mixtune mix index DIR` when it is missing or stale."""
        from mixtune.built_mixture import load_mixture
        from mixtune.manifest import read_manifest

        mixture = Path(mixture)
        manifest = read_manifest(mixture)
        out = require_index(mixture)
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


class _RowCache(dict):
    def __init__(self, get_row: Any) -> None:
        super().__init__()
        self.get_row = get_row

    def __missing__(self, r: int) -> dict[str, Any]:
        self[r] = row = self.get_row(r)
        return row


def _turns(row: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return list(iter_turns(row, kind))


@dataclass
class _Search:
    """One query's candidate segments, scored; the best match per row."""

    index: SearchIndex
    rows: _RowCache
    mixture_name: str
    best: dict[int, Match] = field(default_factory=dict)

    def segment_text(self, seg: int) -> tuple[str, str]:
        """(text, role) of an indexed segment, recomputed from its row."""
        index = self.index
        row = self.rows[int(index.seg_row[seg])]
        turn, block = int(index.seg_turn[seg]), int(index.seg_block[seg])
        for t, b, s in row_segments(row, index.kind):
            if t == turn and b == block:
                return s, _turns(row, index.kind)[turn][1].get("role") or ""
        raise DataError(f"index {index.digest} does not fit the mixture's rows (segment {seg}); rebuild it")

    def keep(
        self, seg: int, similarity: float, method: str, text_of: str, role: str, first: int, last: int
    ) -> None:
        index = self.index
        r = int(index.seg_row[seg])
        row = self.rows[r]
        column, message = _turns(row, index.kind)[int(index.seg_turn[seg])]
        full = message.get("content") or ""
        offset = full.find(text_of) if int(index.seg_block[seg]) else 0
        base = full[:offset].count("\n") if offset > 0 else 0
        match = Match(
            mixture=self.mixture_name,
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
            span=_line_span(full, base + first, base + last),
            text=full,
            path="/".join(x for x in (row.get("repo"), row.get("path")) if x),
        )
        old = self.best.get(r)
        if old is None or (match.similarity, match.method == "exact") > (
            old.similarity,
            old.method == "exact",
        ):
            self.best[r] = match

    def verbatim(self, text: str, is_exact: bool) -> None:
        """Segments sharing the query's significant lines (line hashes), scored by the longest
        run of query lines they hold in order."""
        qlines = [n for _, n in significant_lines(text)]
        if is_exact and not qlines:
            raise DataError(
                f"exact query {text!r}: no line of at least {MIN_LINE_CHARS} characters to match; "
                "exact search matches whole lines (search it unquoted for near matches)"
            )
        if not qlines:
            return
        counts: dict[int, int] = {}
        postings = [self.index.line_postings(line_hash(n)) for n in dict.fromkeys(qlines)]
        usable = [p for p in postings if len(p) <= COMMON_LINE] or postings
        for p in usable:
            for seg in p[:COMMON_LINE].tolist():
                counts[seg] = counts.get(seg, 0) + 1
        need = len(dict.fromkeys(qlines)) if is_exact else max(1, min(3, len(qlines)))
        for seg, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:MAX_CANDIDATES]:
            if counts[seg] < min(need, len(usable)):
                continue
            s, role = self.segment_text(seg)
            size, first, last = exact_run(qlines, s)
            coverage = size / len(qlines)
            if (is_exact and size == len(qlines)) or (not is_exact and size >= need and coverage >= 0.5):
                self.keep(seg, coverage, "exact", s, role, first, last)

    def near(self, text: str) -> None:
        """LSH candidates of each query segment, kept at a true shingle Jaccard >= the threshold."""
        config = self.index.config
        qsegs = segments_of(text)
        bands, empty = band_values_of(qsegs, config, config.perms())
        for qi, qtext in enumerate(qsegs):
            if empty[qi]:
                continue
            hits = self.index.near_candidates(bands[qi])
            qsh = _shingles(qtext, config.ngram)
            for seg, _ in sorted(hits.items(), key=lambda kv: -kv[1])[:MAX_CANDIDATES]:
                s, role = self.segment_text(seg)
                jac = minhash.exact_jaccard(qsh, _shingles(s, config.ngram))
                if jac >= config.threshold:
                    first, last = near_span(qtext, s)
                    self.keep(seg, jac, "near", s, role, first, last)


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
    run = _Search(index, _RowCache(get_row), mixture_name)
    run.verbatim(text, is_exact)
    if not is_exact:
        run.near(text)
    ranked = sorted(run.best.values(), key=lambda m: (-m.similarity, m.method != "exact", m.row))
    return ranked[:top]

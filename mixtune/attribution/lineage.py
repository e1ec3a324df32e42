"""Where a model's training data is, and looking code up in it: the mixtures of a model's
lineage (its run record and its parents'), a loaded searcher per mixture kept for later
queries, and `find_in_training_data`, the one call serving, evals and the playground use.

Read only: a mixture without a current index is a `DataError` naming the mixture and
`mixtune mix index DIR`; the orchestration builds missing indexes first
(`mixtures.search_index.ensure_indexes`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mixtune.attribution.query import Match, Searcher
from mixtune.errors import DataError


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
    """The best `top` matches of `query` in a mixture, or in every mixture a model was trained on
    (each needs a current index: `mixtune mix index DIR`)."""
    matches: list[Match] = []
    for mixture in targets(dir_or_model):
        matches.extend(open_searcher(mixture).search(query, top=top, exact=exact))
    matches.sort(key=lambda m: (-m.similarity, m.method != "exact", m.mixture, m.row))
    return matches[:top]


def find_in_training_data(model_dir: str | Path, code: str, top: int = 3) -> list[Match]:
    """Matches of a piece of code (e.g. a model's answer block) in the model's training mixtures."""
    return search(model_dir, code, top=top, exact=False)


def missing_indexes(dir_or_model: str | Path) -> list[tuple[Path, str]]:
    """(mixture folder, what is wrong) for each mixture of a mixture / model lineage whose index
    is missing or stale: what `mixtune mix index` (or `ensure_indexes`) has to build first."""
    from mixtune.attribution.index import index_problem

    found = []
    for mixture in targets(dir_or_model):
        problem = index_problem(mixture)
        if problem is not None:
            found.append((mixture, problem))
    return found

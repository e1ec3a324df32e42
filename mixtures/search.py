"""`mix search` and the mixtures stage's own training-data lookups: the matching itself is the
ground package's (`mixtune.attribution`, read only); this stage first builds the indexes that
are missing or stale, since building indexes is its job."""

from __future__ import annotations

from pathlib import Path

from mixtune.attribution import (  # noqa: F401  (one place to import search names from in this stage)
    Match,
    Searcher,
    lineage_mixtures,
    open_searcher,
    parse_query,
    search_index,
    targets,
)
from mixtune.attribution import search as search_built
from mixtures.search_index import ensure_indexes


def search(dir_or_model: str | Path, query: str, top: int = 5, exact: bool | None = None) -> list[Match]:
    """The best `top` matches of `query` in a mixture, or in every mixture a model was trained on;
    indexes are built first when missing or stale."""
    ensure_indexes(dir_or_model)
    return search_built(dir_or_model, query, top=top, exact=exact)


def find_in_training_data(model_dir: str | Path, code: str, top: int = 3) -> list[Match]:
    """`mixtune.attribution.find_in_training_data`, building the lineage's indexes first."""
    return search(model_dir, code, top=top, exact=False)

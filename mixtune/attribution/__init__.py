"""Training-data attribution, read side: is this code in what the model was trained on?

`find_in_training_data(model_dir, code, top=3) -> list[Match]` looks a piece of code up in
every mixture of a model's lineage (run records), through each mixture's search index. This
package only reads indexes; a missing or stale one is a `DataError` naming the mixture and the
command that builds it (`mixtune mix index DIR`); `mixtures.search_index.ensure_indexes`
builds them for a whole lineage.
"""

from mixtune.attribution.index import (
    INDEX_SUFFIX,
    INDEX_VERSION,
    IndexConfig,
    SearchIndex,
    config_for,
    index_path,
    index_problem,
    is_current,
    load_index,
    read_meta,
    require_index,
)
from mixtune.attribution.lineage import (
    find_in_training_data,
    lineage_mixtures,
    missing_indexes,
    open_searcher,
    search,
    targets,
)
from mixtune.attribution.query import REPORTED_FIELDS, Match, Searcher, parse_query, search_index

__all__ = [
    "INDEX_SUFFIX",
    "INDEX_VERSION",
    "IndexConfig",
    "Match",
    "REPORTED_FIELDS",
    "SearchIndex",
    "Searcher",
    "config_for",
    "find_in_training_data",
    "index_path",
    "index_problem",
    "is_current",
    "lineage_mixtures",
    "load_index",
    "missing_indexes",
    "open_searcher",
    "parse_query",
    "read_meta",
    "require_index",
    "search",
    "search_index",
    "targets",
]

"""Storage of review records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.review import Review
from ledger.store import Store

log = get_logger(__name__)


def load_review(store: Store, key: str) -> Review:
    require(key, "review key")
    log.debug("load review %s", key)
    return store.get(Review, key)


def save_review(store: Store, item: Review) -> None:
    require(item.key, "review key")
    log.debug("save review %s", item.key)
    store.put(Review, item.key, item)


def delete_review(store: Store, key: str) -> None:
    require(key, "review key")
    log.info("delete review %s", key)
    store.drop(Review, key)


def count_reviews(store: Store) -> int:
    return store.count(Review)

"""Storage of refund records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.refund import Refund
from ledger.store import Store

log = get_logger(__name__)


def load_refund(store: Store, key: str) -> Refund:
    require(key, "refund key")
    log.debug("load refund %s", key)
    return store.get(Refund, key)


def save_refund(store: Store, item: Refund) -> None:
    require(item.key, "refund key")
    log.debug("save refund %s", item.key)
    store.put(Refund, item.key, item)


def delete_refund(store: Store, key: str) -> None:
    require(key, "refund key")
    log.info("delete refund %s", key)
    store.drop(Refund, key)


def count_refunds(store: Store) -> int:
    return store.count(Refund)

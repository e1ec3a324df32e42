"""Storage of order records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.order import Order
from ledger.store import Store

log = get_logger(__name__)


def load_order(store: Store, key: str) -> Order:
    require(key, "order key")
    log.debug("load order %s", key)
    return store.get(Order, key)


def save_order(store: Store, item: Order) -> None:
    require(item.key, "order key")
    log.debug("save order %s", item.key)
    store.put(Order, item.key, item)


def delete_order(store: Store, key: str) -> None:
    require(key, "order key")
    log.info("delete order %s", key)
    store.drop(Order, key)


def count_orders(store: Store) -> int:
    return store.count(Order)

"""Storage of stock count records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.stock_count import StockCount
from ledger.store import Store

log = get_logger(__name__)


def load_stock_count(store: Store, key: str) -> StockCount:
    require(key, "stock_count key")
    log.debug("load stock_count %s", key)
    return store.get(StockCount, key)


def save_stock_count(store: Store, item: StockCount) -> None:
    require(item.key, "stock_count key")
    log.debug("save stock_count %s", item.key)
    store.put(StockCount, item.key, item)


def delete_stock_count(store: Store, key: str) -> None:
    require(key, "stock_count key")
    log.info("delete stock_count %s", key)
    store.drop(StockCount, key)


def count_stock_counts(store: Store) -> int:
    return store.count(StockCount)

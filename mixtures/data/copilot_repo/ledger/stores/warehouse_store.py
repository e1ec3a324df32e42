"""Storage of warehouse records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.warehouse import Warehouse
from ledger.store import Store

log = get_logger(__name__)


def load_warehouse(store: Store, key: str) -> Warehouse:
    require(key, "warehouse key")
    log.debug("load warehouse %s", key)
    return store.get(Warehouse, key)


def save_warehouse(store: Store, item: Warehouse) -> None:
    require(item.key, "warehouse key")
    log.debug("save warehouse %s", item.key)
    store.put(Warehouse, item.key, item)


def delete_warehouse(store: Store, key: str) -> None:
    require(key, "warehouse key")
    log.info("delete warehouse %s", key)
    store.drop(Warehouse, key)


def count_warehouses(store: Store) -> int:
    return store.count(Warehouse)

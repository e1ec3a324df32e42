"""Storage of vendor records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.vendor import Vendor
from ledger.store import Store

log = get_logger(__name__)


def load_vendor(store: Store, key: str) -> Vendor:
    require(key, "vendor key")
    log.debug("load vendor %s", key)
    return store.get(Vendor, key)


def save_vendor(store: Store, item: Vendor) -> None:
    require(item.key, "vendor key")
    log.debug("save vendor %s", item.key)
    store.put(Vendor, item.key, item)


def delete_vendor(store: Store, key: str) -> None:
    require(key, "vendor key")
    log.info("delete vendor %s", key)
    store.drop(Vendor, key)


def count_vendors(store: Store) -> int:
    return store.count(Vendor)

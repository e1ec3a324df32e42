"""Storage of shipment records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.shipment import Shipment
from ledger.store import Store

log = get_logger(__name__)


def load_shipment(store: Store, key: str) -> Shipment:
    require(key, "shipment key")
    log.debug("load shipment %s", key)
    return store.get(Shipment, key)


def save_shipment(store: Store, item: Shipment) -> None:
    require(item.key, "shipment key")
    log.debug("save shipment %s", item.key)
    store.put(Shipment, item.key, item)


def delete_shipment(store: Store, key: str) -> None:
    require(key, "shipment key")
    log.info("delete shipment %s", key)
    store.drop(Shipment, key)


def count_shipments(store: Store) -> int:
    return store.count(Shipment)

"""HTTP routes of shipment records."""

from ledger.errors import LedgerError
from ledger.records.shipment import Shipment
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.shipment_store import delete_shipment, load_shipment, save_shipment


@route("GET", "/shipments/{key}")
def get_shipment(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_shipment(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/shipments/{key}")
def put_shipment(store: Store, key: str, item: Shipment) -> Reply:
    if item.key != key:
        return Reply(400, "shipment key does not match the path")
    save_shipment(store, item)
    return Reply(204, None)


@route("DELETE", "/shipments/{key}")
def remove_shipment(store: Store, key: str) -> Reply:
    delete_shipment(store, key)
    return Reply(204, None)

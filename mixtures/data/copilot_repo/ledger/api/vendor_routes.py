"""HTTP routes of vendor records."""

from ledger.errors import LedgerError
from ledger.records.vendor import Vendor
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.vendor_store import delete_vendor, load_vendor, save_vendor


@route("GET", "/vendors/{key}")
def get_vendor(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_vendor(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/vendors/{key}")
def put_vendor(store: Store, key: str, item: Vendor) -> Reply:
    if item.key != key:
        return Reply(400, "vendor key does not match the path")
    save_vendor(store, item)
    return Reply(204, None)


@route("DELETE", "/vendors/{key}")
def remove_vendor(store: Store, key: str) -> Reply:
    delete_vendor(store, key)
    return Reply(204, None)

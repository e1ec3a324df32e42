"""HTTP routes of warehouse records."""

from ledger.errors import LedgerError
from ledger.records.warehouse import Warehouse
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.warehouse_store import delete_warehouse, load_warehouse, save_warehouse


@route("GET", "/warehouses/{key}")
def get_warehouse(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_warehouse(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/warehouses/{key}")
def put_warehouse(store: Store, key: str, item: Warehouse) -> Reply:
    if item.key != key:
        return Reply(400, "warehouse key does not match the path")
    save_warehouse(store, item)
    return Reply(204, None)


@route("DELETE", "/warehouses/{key}")
def remove_warehouse(store: Store, key: str) -> Reply:
    delete_warehouse(store, key)
    return Reply(204, None)

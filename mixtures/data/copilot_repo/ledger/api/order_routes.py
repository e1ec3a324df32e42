"""HTTP routes of order records."""

from ledger.errors import LedgerError
from ledger.records.order import Order
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.order_store import delete_order, load_order, save_order


@route("GET", "/orders/{key}")
def get_order(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_order(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/orders/{key}")
def put_order(store: Store, key: str, item: Order) -> Reply:
    if item.key != key:
        return Reply(400, "order key does not match the path")
    save_order(store, item)
    return Reply(204, None)


@route("DELETE", "/orders/{key}")
def remove_order(store: Store, key: str) -> Reply:
    delete_order(store, key)
    return Reply(204, None)

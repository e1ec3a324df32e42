"""HTTP routes of refund records."""

from ledger.errors import LedgerError
from ledger.records.refund import Refund
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.refund_store import delete_refund, load_refund, save_refund


@route("GET", "/refunds/{key}")
def get_refund(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_refund(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/refunds/{key}")
def put_refund(store: Store, key: str, item: Refund) -> Reply:
    if item.key != key:
        return Reply(400, "refund key does not match the path")
    save_refund(store, item)
    return Reply(204, None)


@route("DELETE", "/refunds/{key}")
def remove_refund(store: Store, key: str) -> Reply:
    delete_refund(store, key)
    return Reply(204, None)

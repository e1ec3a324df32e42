"""HTTP routes of payment records."""

from ledger.errors import LedgerError
from ledger.records.payment import Payment
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.payment_store import delete_payment, load_payment, save_payment


@route("GET", "/payments/{key}")
def get_payment(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_payment(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/payments/{key}")
def put_payment(store: Store, key: str, item: Payment) -> Reply:
    if item.key != key:
        return Reply(400, "payment key does not match the path")
    save_payment(store, item)
    return Reply(204, None)


@route("DELETE", "/payments/{key}")
def remove_payment(store: Store, key: str) -> Reply:
    delete_payment(store, key)
    return Reply(204, None)

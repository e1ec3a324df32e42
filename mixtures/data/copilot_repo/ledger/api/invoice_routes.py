"""HTTP routes of invoice records."""

from ledger.errors import LedgerError
from ledger.records.invoice import Invoice
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.invoice_store import delete_invoice, load_invoice, save_invoice


@route("GET", "/invoices/{key}")
def get_invoice(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_invoice(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/invoices/{key}")
def put_invoice(store: Store, key: str, item: Invoice) -> Reply:
    if item.key != key:
        return Reply(400, "invoice key does not match the path")
    save_invoice(store, item)
    return Reply(204, None)


@route("DELETE", "/invoices/{key}")
def remove_invoice(store: Store, key: str) -> Reply:
    delete_invoice(store, key)
    return Reply(204, None)

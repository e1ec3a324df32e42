"""HTTP routes of supplier credit records."""

from ledger.errors import LedgerError
from ledger.records.supplier_credit import SupplierCredit
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.supplier_credit_store import (
    delete_supplier_credit,
    load_supplier_credit,
    save_supplier_credit,
)


@route("GET", "/supplier-credits/{key}")
def get_supplier_credit(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_supplier_credit(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/supplier-credits/{key}")
def put_supplier_credit(store: Store, key: str, item: SupplierCredit) -> Reply:
    if item.key != key:
        return Reply(400, "supplier_credit key does not match the path")
    save_supplier_credit(store, item)
    return Reply(204, None)


@route("DELETE", "/supplier-credits/{key}")
def remove_supplier_credit(store: Store, key: str) -> Reply:
    delete_supplier_credit(store, key)
    return Reply(204, None)

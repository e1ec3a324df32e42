"""HTTP routes of ledger entry records."""

from ledger.errors import LedgerError
from ledger.records.ledger_entry import LedgerEntry
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.ledger_entry_store import delete_ledger_entry, load_ledger_entry, save_ledger_entry


@route("GET", "/ledger-entries/{key}")
def get_ledger_entry(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_ledger_entry(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/ledger-entries/{key}")
def put_ledger_entry(store: Store, key: str, item: LedgerEntry) -> Reply:
    if item.key != key:
        return Reply(400, "ledger_entry key does not match the path")
    save_ledger_entry(store, item)
    return Reply(204, None)


@route("DELETE", "/ledger-entries/{key}")
def remove_ledger_entry(store: Store, key: str) -> Reply:
    delete_ledger_entry(store, key)
    return Reply(204, None)

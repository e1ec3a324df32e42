"""HTTP routes of account records."""

from ledger.errors import LedgerError
from ledger.records.account import Account
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.account_store import delete_account, load_account, save_account


@route("GET", "/accounts/{key}")
def get_account(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_account(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/accounts/{key}")
def put_account(store: Store, key: str, item: Account) -> Reply:
    if item.key != key:
        return Reply(400, "account key does not match the path")
    save_account(store, item)
    return Reply(204, None)


@route("DELETE", "/accounts/{key}")
def remove_account(store: Store, key: str) -> Reply:
    delete_account(store, key)
    return Reply(204, None)

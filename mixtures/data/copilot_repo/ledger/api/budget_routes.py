"""HTTP routes of budget records."""

from ledger.errors import LedgerError
from ledger.records.budget import Budget
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.budget_store import delete_budget, load_budget, save_budget


@route("GET", "/budgets/{key}")
def get_budget(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_budget(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/budgets/{key}")
def put_budget(store: Store, key: str, item: Budget) -> Reply:
    if item.key != key:
        return Reply(400, "budget key does not match the path")
    save_budget(store, item)
    return Reply(204, None)


@route("DELETE", "/budgets/{key}")
def remove_budget(store: Store, key: str) -> Reply:
    delete_budget(store, key)
    return Reply(204, None)

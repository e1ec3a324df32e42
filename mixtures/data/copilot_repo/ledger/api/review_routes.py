"""HTTP routes of review records."""

from ledger.errors import LedgerError
from ledger.records.review import Review
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.review_store import delete_review, load_review, save_review


@route("GET", "/reviews/{key}")
def get_review(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_review(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/reviews/{key}")
def put_review(store: Store, key: str, item: Review) -> Reply:
    if item.key != key:
        return Reply(400, "review key does not match the path")
    save_review(store, item)
    return Reply(204, None)


@route("DELETE", "/reviews/{key}")
def remove_review(store: Store, key: str) -> Reply:
    delete_review(store, key)
    return Reply(204, None)

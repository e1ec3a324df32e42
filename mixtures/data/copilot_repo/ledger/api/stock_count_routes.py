"""HTTP routes of stock count records."""

from ledger.errors import LedgerError
from ledger.records.stock_count import StockCount
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.stock_count_store import delete_stock_count, load_stock_count, save_stock_count


@route("GET", "/stock-counts/{key}")
def get_stock_count(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_stock_count(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/stock-counts/{key}")
def put_stock_count(store: Store, key: str, item: StockCount) -> Reply:
    if item.key != key:
        return Reply(400, "stock_count key does not match the path")
    save_stock_count(store, item)
    return Reply(204, None)


@route("DELETE", "/stock-counts/{key}")
def remove_stock_count(store: Store, key: str) -> Reply:
    delete_stock_count(store, key)
    return Reply(204, None)

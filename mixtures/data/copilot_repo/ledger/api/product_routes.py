"""HTTP routes of product records."""

from ledger.errors import LedgerError
from ledger.records.product import Product
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.product_store import delete_product, load_product, save_product


@route("GET", "/products/{key}")
def get_product(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_product(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/products/{key}")
def put_product(store: Store, key: str, item: Product) -> Reply:
    if item.key != key:
        return Reply(400, "product key does not match the path")
    save_product(store, item)
    return Reply(204, None)


@route("DELETE", "/products/{key}")
def remove_product(store: Store, key: str) -> Reply:
    delete_product(store, key)
    return Reply(204, None)

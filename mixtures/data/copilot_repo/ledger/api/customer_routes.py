"""HTTP routes of customer records."""

from ledger.errors import LedgerError
from ledger.records.customer import Customer
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.customer_store import delete_customer, load_customer, save_customer


@route("GET", "/customers/{key}")
def get_customer(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_customer(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/customers/{key}")
def put_customer(store: Store, key: str, item: Customer) -> Reply:
    if item.key != key:
        return Reply(400, "customer key does not match the path")
    save_customer(store, item)
    return Reply(204, None)


@route("DELETE", "/customers/{key}")
def remove_customer(store: Store, key: str) -> Reply:
    delete_customer(store, key)
    return Reply(204, None)

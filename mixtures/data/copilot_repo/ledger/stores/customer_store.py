"""Storage of customer records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.customer import Customer
from ledger.store import Store

log = get_logger(__name__)


def load_customer(store: Store, key: str) -> Customer:
    require(key, "customer key")
    log.debug("load customer %s", key)
    return store.get(Customer, key)


def save_customer(store: Store, item: Customer) -> None:
    require(item.key, "customer key")
    log.debug("save customer %s", item.key)
    store.put(Customer, item.key, item)


def delete_customer(store: Store, key: str) -> None:
    require(key, "customer key")
    log.info("delete customer %s", key)
    store.drop(Customer, key)


def count_customers(store: Store) -> int:
    return store.count(Customer)

"""Storage of payment records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.payment import Payment
from ledger.store import Store

log = get_logger(__name__)


def load_payment(store: Store, key: str) -> Payment:
    require(key, "payment key")
    log.debug("load payment %s", key)
    return store.get(Payment, key)


def save_payment(store: Store, item: Payment) -> None:
    require(item.key, "payment key")
    log.debug("save payment %s", item.key)
    store.put(Payment, item.key, item)


def delete_payment(store: Store, key: str) -> None:
    require(key, "payment key")
    log.info("delete payment %s", key)
    store.drop(Payment, key)


def count_payments(store: Store) -> int:
    return store.count(Payment)

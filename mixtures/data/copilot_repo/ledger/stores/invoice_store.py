"""Storage of invoice records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.invoice import Invoice
from ledger.store import Store

log = get_logger(__name__)


def load_invoice(store: Store, key: str) -> Invoice:
    require(key, "invoice key")
    log.debug("load invoice %s", key)
    return store.get(Invoice, key)


def save_invoice(store: Store, item: Invoice) -> None:
    require(item.key, "invoice key")
    log.debug("save invoice %s", item.key)
    store.put(Invoice, item.key, item)


def delete_invoice(store: Store, key: str) -> None:
    require(key, "invoice key")
    log.info("delete invoice %s", key)
    store.drop(Invoice, key)


def count_invoices(store: Store) -> int:
    return store.count(Invoice)

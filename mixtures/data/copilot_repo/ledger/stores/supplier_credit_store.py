"""Storage of supplier credit records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.supplier_credit import SupplierCredit
from ledger.store import Store

log = get_logger(__name__)


def load_supplier_credit(store: Store, key: str) -> SupplierCredit:
    require(key, "supplier_credit key")
    log.debug("load supplier_credit %s", key)
    return store.get(SupplierCredit, key)


def save_supplier_credit(store: Store, item: SupplierCredit) -> None:
    require(item.key, "supplier_credit key")
    log.debug("save supplier_credit %s", item.key)
    store.put(SupplierCredit, item.key, item)


def delete_supplier_credit(store: Store, key: str) -> None:
    require(key, "supplier_credit key")
    log.info("delete supplier_credit %s", key)
    store.drop(SupplierCredit, key)


def count_supplier_credits(store: Store) -> int:
    return store.count(SupplierCredit)

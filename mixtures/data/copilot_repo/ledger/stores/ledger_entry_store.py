"""Storage of ledger entry records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.ledger_entry import LedgerEntry
from ledger.store import Store

log = get_logger(__name__)


def load_ledger_entry(store: Store, key: str) -> LedgerEntry:
    require(key, "ledger_entry key")
    log.debug("load ledger_entry %s", key)
    return store.get(LedgerEntry, key)


def save_ledger_entry(store: Store, item: LedgerEntry) -> None:
    require(item.key, "ledger_entry key")
    log.debug("save ledger_entry %s", item.key)
    store.put(LedgerEntry, item.key, item)


def delete_ledger_entry(store: Store, key: str) -> None:
    require(key, "ledger_entry key")
    log.info("delete ledger_entry %s", key)
    store.drop(LedgerEntry, key)


def count_ledger_entrys(store: Store) -> int:
    return store.count(LedgerEntry)

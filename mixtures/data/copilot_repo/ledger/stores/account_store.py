"""Storage of account records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.account import Account
from ledger.store import Store

log = get_logger(__name__)


def load_account(store: Store, key: str) -> Account:
    require(key, "account key")
    log.debug("load account %s", key)
    return store.get(Account, key)


def save_account(store: Store, item: Account) -> None:
    require(item.key, "account key")
    log.debug("save account %s", item.key)
    store.put(Account, item.key, item)


def delete_account(store: Store, key: str) -> None:
    require(key, "account key")
    log.info("delete account %s", key)
    store.drop(Account, key)


def count_accounts(store: Store) -> int:
    return store.count(Account)

"""Storage of budget records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.budget import Budget
from ledger.store import Store

log = get_logger(__name__)


def load_budget(store: Store, key: str) -> Budget:
    require(key, "budget key")
    log.debug("load budget %s", key)
    return store.get(Budget, key)


def save_budget(store: Store, item: Budget) -> None:
    require(item.key, "budget key")
    log.debug("save budget %s", item.key)
    store.put(Budget, item.key, item)


def delete_budget(store: Store, key: str) -> None:
    require(key, "budget key")
    log.info("delete budget %s", key)
    store.drop(Budget, key)


def count_budgets(store: Store) -> int:
    return store.count(Budget)

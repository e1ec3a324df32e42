"""Storage of coupon records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.coupon import Coupon
from ledger.store import Store

log = get_logger(__name__)


def load_coupon(store: Store, key: str) -> Coupon:
    require(key, "coupon key")
    log.debug("load coupon %s", key)
    return store.get(Coupon, key)


def save_coupon(store: Store, item: Coupon) -> None:
    require(item.key, "coupon key")
    log.debug("save coupon %s", item.key)
    store.put(Coupon, item.key, item)


def delete_coupon(store: Store, key: str) -> None:
    require(key, "coupon key")
    log.info("delete coupon %s", key)
    store.drop(Coupon, key)


def count_coupons(store: Store) -> int:
    return store.count(Coupon)

"""HTTP routes of coupon records."""

from ledger.errors import LedgerError
from ledger.records.coupon import Coupon
from ledger.routes import Reply, route
from ledger.store import Store
from ledger.stores.coupon_store import delete_coupon, load_coupon, save_coupon


@route("GET", "/coupons/{key}")
def get_coupon(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_coupon(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/coupons/{key}")
def put_coupon(store: Store, key: str, item: Coupon) -> Reply:
    if item.key != key:
        return Reply(400, "coupon key does not match the path")
    save_coupon(store, item)
    return Reply(204, None)


@route("DELETE", "/coupons/{key}")
def remove_coupon(store: Store, key: str) -> Reply:
    delete_coupon(store, key)
    return Reply(204, None)

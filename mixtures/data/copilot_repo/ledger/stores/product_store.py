"""Storage of product records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.product import Product
from ledger.store import Store

log = get_logger(__name__)


def load_product(store: Store, key: str) -> Product:
    require(key, "product key")
    log.debug("load product %s", key)
    return store.get(Product, key)


def save_product(store: Store, item: Product) -> None:
    require(item.key, "product key")
    log.debug("save product %s", item.key)
    store.put(Product, item.key, item)


def delete_product(store: Store, key: str) -> None:
    require(key, "product key")
    log.info("delete product %s", key)
    store.drop(Product, key)


def count_products(store: Store) -> int:
    return store.count(Product)

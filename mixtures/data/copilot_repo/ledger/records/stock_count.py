"""The stock count record."""

from dataclasses import dataclass


@dataclass
class StockCount:
    key: str
    warehouse: str
    product: str
    units: int


def example_stock_count() -> StockCount:
    return StockCount(key="sto-1", warehouse="war-1", product="pro-1", units=40)

"""The warehouse record."""

from dataclasses import dataclass


@dataclass
class Warehouse:
    key: str
    city: str
    capacity: int


def example_warehouse() -> Warehouse:
    return Warehouse(key="war-1", city="Leeds", capacity=1200)

"""The supplier credit record."""

from dataclasses import dataclass

from ledger.types import Money


@dataclass
class SupplierCredit:
    key: str
    vendor: str
    amount: Money


def example_supplier_credit() -> SupplierCredit:
    return SupplierCredit(key="sup-1", vendor="ven-1", amount=Money(700))

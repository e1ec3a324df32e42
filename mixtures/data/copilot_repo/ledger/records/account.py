"""The account record."""

from dataclasses import dataclass

from ledger.types import Money


@dataclass
class Account:
    key: str
    owner: str
    balance: Money


def example_account() -> Account:
    return Account(key="acc-1", owner="north-branch", balance=Money(0))

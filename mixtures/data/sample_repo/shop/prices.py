"""Prices, discounts and taxes, in cents to avoid rounding errors."""

from __future__ import annotations


def apply_discount(price: int, percent: float) -> int:
    """Price after a percentage discount, rounded to the nearest cent."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    reduced = price * (100 - percent) / 100
    return round(reduced)


def add_tax(price: int, rate: float = 0.2) -> int:
    """Price including tax at `rate` (0.2 is 20%)."""
    taxed = price * (1 + rate)
    return round(taxed)


def format_cents(cents: int) -> str:
    """Cents as a currency string, e.g. 1234 -> '12.34'."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def bulk_price(unit_price: int, quantity: int) -> int:
    """Total for `quantity` items, with every tenth item free."""
    free = quantity // 10
    paid = quantity - free
    return paid * unit_price

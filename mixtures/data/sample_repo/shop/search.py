"""Finding products by name."""

from __future__ import annotations


def normalise(name: str) -> str:
    """Lower-case a product name and collapse its whitespace."""
    words = name.lower().split()
    return " ".join(words)


def find_products(catalogue: list[str], query: str) -> list[str]:
    """Products whose normalised name contains every word of the query."""
    words = normalise(query).split()
    matches = []
    for product in catalogue:
        name = normalise(product)
        if all(word in name for word in words):
            matches.append(product)
    return matches


def closest_product(catalogue: list[str], query: str) -> str | None:
    """The product sharing the most words with the query, or None when nothing matches."""
    wanted = set(normalise(query).split())
    best, best_score = None, 0
    for product in catalogue:
        score = len(wanted & set(normalise(product).split()))
        if score > best_score:
            best, best_score = product, score
    return best

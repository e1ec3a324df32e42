"""Routing: handlers register themselves with a method and a path."""

from dataclasses import dataclass

ROUTES: dict[tuple[str, str], object] = {}


@dataclass
class Reply:
    status: int
    body: object


def route(method: str, path: str):
    def register(handler):
        ROUTES[(method, path)] = handler
        return handler

    return register

"""Per-browser-session cancel switches, so a stop button stops only its own user's generation.

Gradio keeps each session's conversation in `gr.State`; what cannot live there (a
threading.Event is not copyable) lives here, keyed by Gradio's session hash and a slot name.
"""

from __future__ import annotations

import threading


class CancelRegistry:
    """One cancel Event per (session, slot); starting a new reply replaces the old Event."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str, slot: str) -> threading.Event:
        event = threading.Event()
        with self._lock:
            old = self._events.get((session, slot))
            if old is not None:
                old.set()  # a new reply in the same slot supersedes a reply still running
            self._events[(session, slot)] = event
        return event

    def cancel(self, session: str, *slots: str) -> int:
        """Set the session's events (all slots when none are named); returns how many were running."""
        with self._lock:
            keys = [k for k in self._events if k[0] == session and (not slots or k[1] in slots)]
            running = 0
            for key in keys:
                event = self._events.pop(key)
                running += not event.is_set()
                event.set()
        return running

    def finish(self, session: str, slot: str, event: threading.Event) -> None:
        with self._lock:
            if self._events.get((session, slot)) is event:
                del self._events[(session, slot)]

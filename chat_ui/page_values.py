"""Streamed updates prepared in the handler's own thread, so a streaming reply runs at model speed.

By default Gradio postprocesses every output of every update with its own round trip to a
worker thread (five outputs: four round trips, two serialisations of the chat), all on the
server's event loop, and each round trip takes the GIL from the thread that is generating. The
streaming events are therefore registered with `postprocess=False` and their handlers yield
values made here: each component's own `postprocess`, done once, where the handler runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PRIVATE = {"api_visibility": "private"}  # page-only listeners, not API endpoints
# the streaming events: their handlers yield values made here (postprocess=False)
STREAMING = {"show_progress": "minimal", "concurrency_limit": None, "postprocess": False}


def is_update(value: Any) -> bool:
    """A `gr.update(...)` or `gr.skip()`: Gradio applies those itself."""
    return isinstance(value, dict) and value.get("__type__") == "update"


class PageValues:
    """Turns a handler's values for `components` into what the page receives."""

    def __init__(self, components: Sequence[Any]) -> None:
        self.components = list(components)

    def __call__(self, *values: Any) -> tuple[Any, ...]:
        if len(values) != len(self.components):
            raise ValueError(
                f"{len(values)} values for {len(self.components)} outputs (is the page laid out with blocks()?)"
            )
        return tuple(
            value
            if getattr(component, "stateful", False) or is_update(value)
            else _serialised(component, value)
            for component, value in zip(self.components, values, strict=True)
        )


def _serialised(component: Any, value: Any) -> Any:
    processed = component.postprocess(value)
    dump = getattr(processed, "model_dump", None)
    return dump() if dump is not None else processed

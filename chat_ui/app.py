"""The Gradio playground: a StarChat-style chat tab, an arena tab that turns votes into DPO data,
and a Complete tab that fills code at a cursor.

Assembled from one module per job: the models and stop switches the tabs share
(chat_ui/models.py), the chat tab's handlers (chat_handlers.py) and its training-data check
(training_check.py), the arena's (arena_handlers.py), the Complete tab's (complete_handlers.py,
cursor.py), the sampling controls (controls.py), the page (layout.py) and serving it (launch.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chat_ui.arena_handlers import ArenaHandlers
from chat_ui.backend import ChatBackend
from chat_ui.chat_handlers import ChatHandlers
from chat_ui.complete_handlers import CompleteHandlers
from chat_ui.feedback import FeedbackLog
from chat_ui.layout import build_page
from chat_ui.models import Models
from chat_ui.training_check import TrainingCheck

# Seconds between screen updates while a reply streams. The handlers are async and read replies
# through a Pump, so an update costs the generating thread little GIL time: on a CPU, 20 updates
# a second cost 3.2% of tokens/s and 10 cost 3.3% (bench/ui_overhead.py; as synchronous
# generators, the Gradio default, 20 a second cost 7.4%).
STREAM_INTERVAL_S = 0.05


class Playground:
    """The models, the chat and arena handlers over them, and the page; build it with `blocks()`."""

    def __init__(
        self,
        backends: dict[str, ChatBackend],
        feedback: FeedbackLog | None = None,
        stream_interval: float = STREAM_INTERVAL_S,
        title: str = "mixtune playground",
        training_check: bool = True,
    ) -> None:
        self.models = Models(backends)
        self.feedback = feedback
        self.title = title
        self.chat = ChatHandlers(self.models, feedback, stream_interval)
        self.arena = ArenaHandlers(self.models, feedback, stream_interval)
        self.training = TrainingCheck(self.models, on=training_check)
        self.complete = CompleteHandlers(self.models, None, stream_interval)

    def blocks(self) -> Any:
        return build_page(
            self.models, self.chat, self.arena, self.feedback, self.title, self.training, self.complete
        )


def build_app(
    backends: dict[str, ChatBackend],
    feedback_log: str | Path | None = None,
    stream_interval: float = STREAM_INTERVAL_S,
    title: str = "mixtune playground",
    training_check: bool = True,
) -> Any:
    """The playground as a `gr.Blocks`, ready to serve with `chat_ui.launch.launch`."""
    feedback = FeedbackLog(feedback_log) if feedback_log else None
    return Playground(backends, feedback, stream_interval, title, training_check).blocks()

"""The arena tab's handlers: a round (two anonymous answers streamed side by side), stop, clear
and the vote that reveals the models and logs the pair.

`arena_send` yields (A, B, round, reveal, 4 vote buttons) made page-ready by `values`, which
the layout sets once it has made those components.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from chat_ui.arena import SIDES, ArenaRound, draw_pair, stream_both
from chat_ui.backend import GenerationSettings
from chat_ui.conversation import display_content, escape_markup, to_messages
from chat_ui.lineage import describe
from chat_ui.models import TabHandlers, model_failure
from chat_ui.pump import Pump

# the vote buttons: choice -> label (the API endpoint of each is vote_<choice>)
VOTES = {"A": "A is better", "B": "B is better", "tie": "Tie", "both-bad": "Both are bad"}
VERDICTS = {"A": "A is better", "B": "B is better", "tie": "tie", "both-bad": "both are bad"}
HIDDEN = "Both answers are anonymous until you vote."


def arena_display(rnd: ArenaRound, side: str) -> list[dict[str, str]]:
    """One side's chatbot: the prompt and that side's answer so far."""
    shown = [{"role": "user", "content": escape_markup(rnd.prompt[-1]["content"])}]
    if rnd.answers[side] or rnd.finish[side]:
        turn = {"role": "assistant", "content": rnd.answers[side], "finish_reason": rnd.finish[side]}
        shown.append({"role": "assistant", "content": display_content(turn)})
    return shown


def round_note(rnd: ArenaRound, failed: bool) -> str:
    """What the page says under a finished round."""
    if rnd.votable:
        return "Which answer is better? Vote to reveal the models."
    if failed:
        return "A model failed, so this round cannot be voted on: send a new prompt."
    return "This round was stopped, so it cannot be voted on: send a new prompt."


class ArenaHandlers(TabHandlers):
    """The arena tab's listeners."""

    async def arena_send(
        self, message: str, system: str, settings: GenerationSettings, request: gr.Request
    ) -> AsyncIterator[tuple[Any, ...]]:
        """A new round: two anonymous models answer; yields (A, B, round, reveal, 4 vote buttons)."""
        if not (message or "").strip():
            gr.Warning("Type a message first.")
            yield (gr.skip(),) * 8
            return
        rnd = ArenaRound(
            prompt=to_messages([{"role": "user", "content": message}], system),
            models=draw_pair(self.models.chat_names),
            settings=settings.to_dict(),
        )
        labels = list(VOTES.values())  # unchanged values: the buttons stay locked
        cancels, session = self.models.cancels, request.session_hash
        cancel = cancels.start(session, "arena")
        # as in the chat: the round State is written at the start and the end only, and the
        # message box is the page's own (take_message)
        yield self.values([], [], rnd.to_state(), HIDDEN, *[gr.update(interactive=False)] * 4)
        pump = Pump(stream_both(self.models.backends, rnd, settings, cancel), name="arena")
        try:
            async for _sides in pump.batches(self.stream_interval):  # the answers grow in `rnd`
                yield self.values(
                    arena_display(rnd, "A"), arena_display(rnd, "B"), gr.skip(), HIDDEN, *labels
                )
        finally:
            if not pump.done:  # Gradio cancelled this handler: end both replies
                cancel.set()
            cancels.finish(session, "arena", cancel)
        failure = model_failure(pump)
        yield self.values(
            arena_display(rnd, "A"),
            arena_display(rnd, "B"),
            rnd.to_state(),
            round_note(rnd, failure is not None),
            *[gr.update(interactive=rnd.votable)] * 4,
        )
        if failure is not None:
            raise gr.Error(str(failure))

    def arena_clear(self, request: gr.Request) -> tuple[Any, ...]:
        """A cleared side ends the round: nothing left on screen can be voted on."""
        self.models.cancels.cancel(request.session_hash, "arena")
        locked = [gr.update(interactive=False)] * 4
        return [], [], None, "", HIDDEN, *locked

    def arena_stop(self, request: gr.Request) -> None:
        self.models.cancels.cancel(request.session_hash, "arena")

    def vote(self, choice: str, state: dict[str, Any] | None) -> tuple[Any, ...]:
        """Record a vote (A, B, tie, both-bad) and reveal who was who; yields (round, reveal, buttons)."""
        rnd = ArenaRound.from_state(state)
        if rnd is None or not rnd.complete:
            raise gr.Error("Wait until both models have answered.")
        if not rnd.votable:
            raise gr.Error("This round was stopped or failed, so it cannot be voted on: send a new prompt.")
        if rnd.voted:
            raise gr.Error("You already voted in this round; send a new prompt for the next one.")
        saved = ""
        if self.feedback is not None:
            models = {
                side: {
                    "name": rnd.models[side],
                    "seed": rnd.seeds[side],
                    "finish_reason": rnd.finish[side],
                    **self.models.about(rnd.models[side]),
                }
                for side in SIDES
            }
            rows = self.feedback.record_vote(rnd.prompt, rnd.answers, models, rnd.settings, choice)
            target = self.feedback.path if choice in ("A", "B") else self.feedback.ratings
            saved = f" Saved {len(rows)} row{'s' if len(rows) > 1 else ''} to `{target.name}`."
        rnd.voted = choice
        reveal = (
            f"Your vote: **{VERDICTS[choice]}**.{saved}\n\n"
            f"- A was {describe(self.models.info(rnd.models['A']))} (seed {rnd.seeds['A']})\n"
            f"- B was {describe(self.models.info(rnd.models['B']))} (seed {rnd.seeds['B']})"
        )
        return rnd.to_state(), reveal, *[gr.update(interactive=False)] * 4

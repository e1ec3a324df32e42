"""The launched playground, driven over HTTP with gradio_client exactly as the page drives it."""

from __future__ import annotations

import json
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chat_ui.backend import GenerationSettings
from chat_ui.client import message_text as text_of
from chat_ui.client import slider_values
from chat_ui.conversation import escape_markup
from chat_ui.feedback import read_jsonl

SYSTEM = "be brief"
SAMPLING = {"temperature": 1.0, "top_k": 50, "top_p": 0.95, "max_new_tokens": 24, "repetition_penalty": 1.0}


def sampling_args(seed: int = 0, **overrides: Any) -> list[Any]:
    return slider_values(GenerationSettings(**{**SAMPLING, **overrides, "seed": seed}))


def send(client: Any, message: str, model: str = "tiny-chat", seed: int = 0, **overrides: Any) -> Any:
    return client.predict(message, model, SYSTEM, *sampling_args(seed, **overrides), api_name="/send")


def answer(result: Any) -> str:
    return text_of(result[0][-1])


def test_a_streamed_reply_arrives_in_pieces(client: Any, chat_backend: Any) -> None:
    job = client.submit(
        "def add(a, b):", "tiny-chat", SYSTEM, *sampling_args(1, max_new_tokens=32), api_name="/send"
    )
    outputs = list(job)
    texts = [text_of(o[0][-1]) for o in outputs if o[0] and o[0][-1]["role"] == "assistant"]
    growing = [t for i, t in enumerate(texts) if t and (i == 0 or t != texts[i - 1])]
    assert len(growing) >= 3, f"only {len(growing)} distinct partial replies"
    final = outputs[-1]
    assert all(final_text.startswith(t) for t in growing for final_text in [answer(final)])
    status, raw = final[1], final[2]
    assert "seed `1`" in status and "context window **1024**" in status and "finished: length" in status
    expected = chat_backend.render_prompt(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "def add(a, b):"}]
    )
    assert raw == expected


def test_seed_temperature_and_top_k_change_the_answer_as_they_should(playground: dict[str, Any]) -> None:
    from gradio_client import Client

    def fresh(seed: int, **overrides: Any) -> str:
        c = Client(playground["url"], verbose=False)
        return answer(send(c, "print hello", seed=seed, max_new_tokens=12, **overrides))

    same_a, same_b, other = fresh(21), fresh(21), fresh(22)
    assert same_a == same_b and same_a != other
    greedy = fresh(21, temperature=0.0)
    assert greedy != same_a
    assert fresh(23, top_k=1) == greedy  # top-k reaches the model: one candidate = greedy


def test_stop_ends_a_long_generation_promptly(client: Any) -> None:
    job = client.submit("loop", "tiny-chat", SYSTEM, *sampling_args(3, max_new_tokens=4000), api_name="/send")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        outs = job.outputs()
        if outs and outs[-1][0] and answer(outs[-1]):
            break
        time.sleep(0.02)
    time.sleep(0.3)
    stop_at = time.monotonic()
    assert client.predict(api_name="/stop") == "Stopped."
    job.result(timeout=30)
    took = time.monotonic() - stop_at
    final = job.outputs()[-1]
    print(f"stop -> reply finished in {took * 1000:.0f} ms")
    assert took < 1.5
    assert "finished: cancelled" in final[1]
    assert len(answer(final)) > 0
    # the partial answer stays in the conversation, marked as stopped
    row = json.loads(Path(client.predict(SYSTEM, "tiny-chat", api_name="/export_json")).read_text())
    last = row["turns"][-1]
    assert last["role"] == "assistant" and last["finish_reason"] == "cancelled"
    assert 0 < last["completion_tokens"] < 4000
    assert (
        escape_markup(last["content"]).split() == answer(final).split()
    )  # the Chatbot turns tabs into spaces


def test_gradio_cancel_also_frees_the_model(client: Any, playground: dict[str, Any]) -> None:
    """Closing the page's event (what `cancels=` does) stops generation too, not just the stream."""
    from gradio_client import Client

    job = client.submit("loop", "tiny-chat", SYSTEM, *sampling_args(4, max_new_tokens=4000), api_name="/send")
    while not (job.outputs() and answer(job.outputs()[-1])):
        time.sleep(0.02)
    job.cancel()
    t0 = time.monotonic()
    other = Client(playground["url"], verbose=False)
    result = send(other, "hi", seed=1, max_new_tokens=3)
    assert "reply **3**" in result[1]
    assert time.monotonic() - t0 < 10  # not the ~minute a 4000-token reply would hold the model


def test_retry_undo_and_edit(client: Any, scripted: Any) -> None:
    send(client, "first", model="scripted", seed=5)
    result = send(client, "second", model="scripted", seed=5)
    assert [m["role"] for m in result[0]] == ["user", "assistant"] * 2
    first_seed = scripted.calls[-1]["settings"]["seed"]
    assert first_seed == 5

    result = client.predict("scripted", SYSTEM, *sampling_args(5), api_name="/retry")
    assert len(result[0]) == 4 and text_of(result[0][2]) == "second"
    assert scripted.calls[-1]["messages"][-1] == {"role": "user", "content": "second"}
    assert scripted.calls[-1]["settings"]["seed"] != 5  # retry draws a new seed

    chatbot, textbox, _status = client.predict(api_name="/undo")
    assert len(chatbot) == 2 and textbox == "second"

    result = client.predict(0, "changed", "scripted", SYSTEM, *sampling_args(5), api_name="/edit")
    assert [text_of(m) for m in result[0]][0] == "changed" and len(result[0]) == 2
    assert scripted.calls[-1]["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "changed"},
    ]
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="only your own messages"):
        client.predict(1, "x", "scripted", SYSTEM, *sampling_args(5), api_name="/edit")
    assert client.predict(api_name="/clear")[0] == []


def test_model_output_is_shown_as_text_not_html(client: Any) -> None:
    shown = answer(send(client, "show me", model="scripted"))
    assert "&lt;img src=x" in shown and "&lt;script>" in shown and "A &lt;div> holds" in shown
    assert "<img" not in shown and "<script" not in shown
    assert "```python\ndef add(a, b):\n    return a + b\n```" in shown  # code untouched
    assert "`List<T>`" in shown


def test_oldest_turns_are_trimmed_with_a_notice(client: Any, small_context: Any) -> None:
    result = None
    for i in range(6):
        result = client.predict(
            f"message {i}", "small-context", "", *sampling_args(0, max_new_tokens=10), api_name="/send"
        )
    assert result is not None
    assert "oldest exchange" in result[1] and "30-token context window" in result[1]
    sent = small_context.calls[-1]["messages"]
    assert sent[-1] == {"role": "user", "content": "message 5"}
    assert {"role": "user", "content": "message 0"} not in sent
    assert "message 0" not in result[2] and "message 5" in result[2]  # the raw prompt shows the trim
    assert len(result[0]) == 12  # the page still shows the whole conversation


def test_export_json_and_markdown(client: Any) -> None:
    send(client, "export <me>", model="scripted", seed=9)
    row = json.loads(Path(client.predict(SYSTEM, "scripted", api_name="/export_json")).read_text())
    assert row["messages"][0] == {"role": "system", "content": SYSTEM}
    assert row["messages"][1] == {"role": "user", "content": "export <me>"}  # raw, not escaped
    assert row["messages"][2]["content"].startswith("Here is a function")
    assert row["turns"][1]["model"] == "scripted" and row["turns"][1]["settings"]["seed"] == 9
    md = Path(client.predict(SYSTEM, "scripted", api_name="/export_markdown")).read_text()
    assert "## User\n\nexport <me>" in md and "## Assistant (scripted, seed 9)" in md


def test_ratings_go_to_the_ratings_file(client: Any, playground: dict[str, Any]) -> None:
    from gradio_client.exceptions import AppError

    send(client, "rate this", model="scripted", seed=2)
    note = client.predict(1, False, SYSTEM, api_name="/rate")
    assert "Dislike saved" in note
    row = read_jsonl(playground["playground"].feedback.ratings)[-1]
    assert row["label"] is False and row["origin"] == "dislike" and row["model"]["name"] == "scripted"
    assert row["prompt"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "rate this"}]
    assert row["settings"]["seed"] == 2
    with pytest.raises(AppError, match="only the model's answers"):
        client.predict(0, True, SYSTEM, api_name="/rate")


def test_eight_concurrent_clients_keep_separate_histories(playground: dict[str, Any]) -> None:
    from gradio_client import Client

    def session(i: int) -> list[str]:
        c = Client(playground["url"], verbose=False)
        send(c, f"client {i} first", model="scripted")
        result = send(c, f"client {i} second", model="scripted")
        return [text_of(m) for m in result[0] if m["role"] == "user"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        histories = list(pool.map(session, range(8)))
    for i, users in enumerate(histories):
        assert users == [f"client {i} first", f"client {i} second"]


def test_arena_vote_writes_exactly_one_preference_row(client: Any, playground: dict[str, Any]) -> None:
    log: Path = playground["log"]
    before = len(read_jsonl(log)) if log.exists() else 0
    result = client.predict(
        "reverse a string", "", *sampling_args(0, max_new_tokens=8), api_name="/arena_send"
    )
    answer_a, answer_b = text_of(result[0][-1]), text_of(result[1][-1])
    assert "Vote to reveal" in result[2]
    reveal = client.predict(api_name="/vote_a")
    assert isinstance(reveal, str) and "Your vote: **A is better**" in reveal
    rows = read_jsonl(log)
    assert len(rows) == before + 1
    row = rows[-1]
    assert row["prompt"] == [{"role": "user", "content": "reverse a string"}]
    assert row["vote"] == "A" and row["source"] == "mixtune-arena"
    names = {row["models"]["chosen"]["name"], row["models"]["rejected"]["name"]}
    assert names <= {"tiny-chat", "scripted", "small-context"}
    assert row["models"]["chosen"]["name"] in reveal and row["models"]["rejected"]["name"] in reveal
    # the page showed escaped text; the log keeps what the models said
    from chat_ui.conversation import unescape_markup

    assert row["chosen"][0]["content"] == unescape_markup(answer_a)
    assert row["rejected"][0]["content"] == unescape_markup(answer_b)
    assert row["settings"]["max_new_tokens"] == 8
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="already voted"):
        client.predict(api_name="/vote_b")
    assert len(read_jsonl(log)) == before + 1


def test_a_stopped_arena_round_cannot_be_voted_on(tmp_path: Path) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from chat_ui.app import Playground
    from chat_ui.feedback import FeedbackLog
    from chat_ui.launch import launch

    from .conftest import ScriptedBackend

    slow = {name: ScriptedBackend(name, "", delay=0.02, words=500) for name in ("slow-a", "slow-b")}
    log = FeedbackLog(tmp_path / "votes.jsonl")
    demo = Playground(slow, log, stream_interval=0.0).blocks()
    _, url, _ = launch(demo, host="127.0.0.1", port=None, block=False, quiet=True)
    try:
        client = Client(url, verbose=False)
        job = client.submit("count", "", *sampling_args(0), api_name="/arena_send")
        while not (job.outputs() and job.outputs()[-1][0]):
            time.sleep(0.02)
        client.predict(api_name="/arena_stop")
        final = job.result(timeout=10)
        assert "was stopped" in final[2]
        with pytest.raises(AppError, match="stopped"):
            client.predict(api_name="/vote_a")
        assert not log.path.exists() or read_jsonl(log.path) == []
    finally:
        demo.close()


def test_200_concurrent_feedback_writes_give_200_valid_lines(playground: dict[str, Any]) -> None:
    from gradio_client import Client

    ratings: Path = playground["playground"].feedback.ratings
    before = len(read_jsonl(ratings)) if ratings.exists() else 0
    clients = [Client(playground["url"], verbose=False) for _ in range(8)]
    for c in clients:
        send(c, "rate me", model="scripted")

    idle: queue.Queue = queue.Queue()
    for c in clients:
        idle.put(c)

    def rate(i: int) -> str:
        client = idle.get()  # one request at a time per client: gradio_client is not thread-safe per session
        try:
            return client.predict(1, i % 2 == 0, SYSTEM, api_name="/rate")
        finally:
            idle.put(client)

    with ThreadPoolExecutor(max_workers=16) as pool:
        notes = list(pool.map(rate, range(200)))
    assert all("saved" in n for n in notes)
    rows = read_jsonl(ratings)
    assert len(rows) == before + 200
    new = rows[before:]
    assert sum(r["label"] for r in new) == 100
    assert all(r["completion"][0]["content"] and r["prompt"][-1]["content"] == "rate me" for r in new)

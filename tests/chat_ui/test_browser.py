"""The playground in a real browser (Debian's headless Chromium through Playwright).

It loads the page, sends a message, watches the answer stream in, and checks that a code
block is highlighted with a copy button while HTML in the model's answer is shown as text and
never runs. A screenshot is saved (its path is printed) and copied to runs/screenshots/.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mixtune.paths import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from chat_ui.app import Playground
    from chat_ui.feedback import FeedbackLog
    from chat_ui.launch import launch

    from .conftest import CODE_AND_HTML_ANSWER, ScriptedBackend

    backend = ScriptedBackend("scripted-coder", CODE_AND_HTML_ANSWER, delay=0.04)
    terse = ScriptedBackend("terse-coder", "Use `sorted(xs)`.", delay=0.01)
    log = FeedbackLog(tmp_path_factory.mktemp("browser") / "votes.jsonl")
    demo = Playground({"scripted-coder": backend, "terse-coder": terse}, log, stream_interval=0.0).blocks()
    _, url, _ = launch(demo, host="127.0.0.1", port=None, block=False, quiet=True)
    try:
        yield {"url": url, "log": log, "backend": backend}
    finally:
        demo.close()


def test_page_streams_highlights_code_and_never_runs_model_html(page: dict, tmp_path: Path) -> None:
    assert CHROMIUM, "Debian's chromium is needed: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 1100})
            dialogs: list[str] = []
            tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            tab.goto(page["url"])
            tab.wait_for_selector("#message textarea", timeout=30_000)
            tab.fill("#message textarea", "Show me an add function and explain <div>.")
            tab.click("#send")

            bot = tab.locator("#chatbot .message.bot").last
            bot.wait_for(timeout=15_000)
            seen: list[str] = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                text = bot.inner_text()
                if text and (not seen or text != seen[-1]):
                    seen.append(text)
                if "done." in text:
                    break
                time.sleep(0.03)
            assert "done." in seen[-1], f"the answer never completed: {seen[-1:]}"
            assert len(seen) >= 3, f"the answer did not stream: {len(seen)} distinct states"

            code = bot.locator("pre code").first
            assert "def add(a, b):" in code.inner_text()
            assert code.locator("span.token").count() > 0, "the code block is not syntax-highlighted"
            copy = bot.locator("pre button, pre .copy_code_button, .copy_code_button").first
            assert copy.count() == 1, "no copy button on the code block"

            final = seen[-1]
            assert "List<T>" in final and "A <div> holds blocks." in final
            assert '<img src=x onerror="window.__pwned = 1">' in final
            assert "<script>window.__pwned = 2</script>" in final
            assert bot.locator("img[src='x']").count() == 0
            assert bot.locator("script").count() == 0
            time.sleep(0.3)
            assert tab.evaluate("window.__pwned === undefined"), "model output ran as code"
            assert not dialogs

            shot = tmp_path / "playground.png"
            tab.screenshot(path=str(shot), full_page=False)
            keep = REPO_ROOT / "runs" / "screenshots"
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, keep / "playground.png")
            print(f"screenshot: {shot} (copy: {keep / 'playground.png'})")

            # a thumbs-up on the answer is logged as a rating
            tab.locator("#chatbot button[aria-label='Like']").last.click()
            ratings = page["log"].ratings
            deadline = time.monotonic() + 10
            while not ratings.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert '"label":true' in ratings.read_text() and '"origin":"like"' in ratings.read_text()

            # editing the user's message in place sends the edited text and answers it again
            tab.locator("#chatbot button[aria-label='Edit']").first.click()
            tab.locator("#chatbot textarea").first.fill("Only the <b> tag, please.")
            tab.locator("#chatbot button[aria-label='Submit']").first.click()
            tab.wait_for_function(
                "document.querySelector('#chatbot').innerText.includes('Only the <b> tag')", timeout=10_000
            )
            tab.locator("#status").get_by_text("finished: stop").wait_for(timeout=20_000)
            assert page["backend"].calls[-1]["messages"][-1] == {
                "role": "user",
                "content": "Only the <b> tag, please.",
            }
            assert tab.locator("#chatbot .message.user").count() == 1

            # the arena: two anonymous answers, a vote, then the reveal and one logged preference row
            tab.get_by_role("tab", name="Arena").click()
            tab.fill("#arena-message textarea", "Sort a list <quickly>.")
            tab.click("#arena-send")
            tab.locator("#arena-a .message.bot").first.wait_for(timeout=15_000)
            assert tab.locator("#vote-a").is_disabled(), "votes must wait until both answers are in"
            tab.wait_for_function(
                "document.querySelector('#reveal').innerText.includes('Which answer is better')",
                timeout=20_000,
            )
            assert tab.locator("#vote-a").is_enabled()
            assert "coder" not in tab.locator("#arena-a").inner_text() + tab.locator("#arena-b").inner_text()
            tab.click("#vote-a")
            tab.wait_for_function(
                "document.querySelector('#reveal').innerText.includes('Your vote')", timeout=10_000
            )
            reveal = tab.locator("#reveal").inner_text()
            assert "scripted-coder" in reveal and "terse-coder" in reveal
            rows = page["log"].path.read_text().splitlines()
            assert len(rows) == 1
            assert tab.evaluate("window.__pwned === undefined")
            arena_shot = tmp_path / "arena.png"
            tab.screenshot(path=str(arena_shot), full_page=False)
            shutil.copy(arena_shot, keep / "arena.png")
            print(f"screenshot: {arena_shot} (copy: {keep / 'arena.png'})")
        finally:
            browser.close()


@pytest.fixture(scope="module")
def long_page() -> Iterator[dict]:
    from chat_ui.app import Playground
    from chat_ui.launch import launch

    from .conftest import ScriptedBackend

    backend = ScriptedBackend("long-coder", "", delay=0.03, words=600)
    demo = Playground({"long-coder": backend}, None).blocks()
    _, url, _ = launch(demo, host="127.0.0.1", port=None, block=False, quiet=True)
    try:
        yield {"url": url, "backend": backend}
    finally:
        demo.close()


def test_stop_button_keeps_the_partial_answer_and_the_next_question(long_page: dict) -> None:
    """Stop, clicked in the page, ends a long answer at once; the partial answer stays in the
    conversation, and a question typed while the answer streamed is still in its box."""
    assert CHROMIUM, "Debian's chromium is needed: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    backend = long_page["backend"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 1000})
            tab.goto(long_page["url"])
            tab.wait_for_selector("#message textarea", timeout=30_000)
            tab.fill("#message textarea", "Count for me.")
            tab.click("#send")
            tab.wait_for_function(
                "document.querySelector('#chatbot').innerText.includes('w5 ')", timeout=15_000
            )
            assert tab.locator("#message textarea").input_value() == ""  # taken when sent
            tab.locator("#message textarea").press_sequentially("And now backwards?", delay=10)

            clicked = time.monotonic()
            tab.click("#stop")
            tab.locator("#status").get_by_text("finished: cancelled").wait_for(timeout=5_000)
            took = time.monotonic() - clicked
            shown = tab.locator("#chatbot .message.bot").last.inner_text()
            time.sleep(0.5)
            assert tab.locator("#chatbot .message.bot").last.inner_text() == shown, "still streaming"
            words = shown.split()
            print(
                f"stop clicked -> 'finished: cancelled' shown in {took * 1000:.0f} ms, after {len(words)} words"
            )
            assert took < 2.0 and 5 < len(words) < 600

            assert tab.locator("#message textarea").input_value() == "And now backwards?"
            tab.locator("#message textarea").press("Enter")
            tab.wait_for_function(
                "document.querySelectorAll('#chatbot .message.user').length == 2", timeout=10_000
            )
            tab.click("#stop")
            sent = backend.calls[-1]["messages"]
            assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
            assert sent[2]["content"].split() == words  # the partial answer is part of the conversation
            assert sent[3]["content"] == "And now backwards?"
        finally:
            browser.close()


def test_a_login_is_required_when_auth_is_set() -> None:
    """`--auth USER:PASS`: the page and the API refuse anyone without the login; with it, chat works."""
    assert CHROMIUM, "Debian's chromium is needed: apt-get install chromium"
    import httpx
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    from chat_ui.app import Playground
    from chat_ui.launch import launch

    from .conftest import ScriptedBackend

    demo = Playground({"coder": ScriptedBackend("coder", "Use `sorted(xs)`.")}, None).blocks()
    _, url, _ = launch(demo, host="127.0.0.1", port=None, block=False, quiet=True, auth=("ann", "s3cret"))
    try:
        assert httpx.get(f"{url}config").status_code == 401
        with pytest.raises(Exception, match="(?i)login|credentials|401"):
            Client(url, auth=("ann", "wrong"), verbose=False)
        assert (
            "sorted"
            in Client(url, auth=("ann", "s3cret"), verbose=False).predict(
                "sort?", "coder", "", 0.0, 50, 0.95, 16, 1.0, 0, api_name="/send"
            )[0][-1]["content"][0]["text"]
        )

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                tab = browser.new_page()
                tab.goto(url)
                tab.get_by_label("username").fill("ann")
                tab.get_by_label("password").fill("wrong")
                tab.get_by_role("button", name="Login").click()
                tab.get_by_text("Incorrect Credentials").wait_for(timeout=10_000)
                assert tab.locator("#message textarea").count() == 0
                tab.get_by_label("username").fill("ann")  # the form starts over after a failed login
                tab.get_by_label("password").fill("s3cret")
                tab.get_by_role("button", name="Login").click()
                tab.wait_for_selector("#message textarea", timeout=30_000)
                tab.fill("#message textarea", "How do I sort?")
                tab.click("#send")
                tab.wait_for_function(
                    "document.querySelector('#chatbot').innerText.includes('sorted(xs)')", timeout=15_000
                )
            finally:
                browser.close()
    finally:
        demo.close()

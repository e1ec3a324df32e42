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
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from chat_ui.app import Playground, launch
    from chat_ui.feedback import FeedbackLog

    from .conftest import CODE_AND_HTML_ANSWER, ScriptedBackend

    backend = ScriptedBackend("scripted-coder", CODE_AND_HTML_ANSWER, delay=0.04)
    log = FeedbackLog(tmp_path_factory.mktemp("browser") / "votes.jsonl")
    demo = Playground({"scripted-coder": backend}, log, stream_interval=0.0).blocks()
    _, url, _ = launch(demo, host="127.0.0.1", port=None, block=False, quiet=True)
    try:
        yield url
    finally:
        demo.close()


def test_page_streams_highlights_code_and_never_runs_model_html(page_url: str, tmp_path: Path) -> None:
    assert CHROMIUM, "Debian's chromium is needed: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_url)
            page.wait_for_selector("#message textarea", timeout=30_000)
            page.fill("#message textarea", "Show me an add function and explain <div>.")
            page.click("#send")

            bot = page.locator("#chatbot .message.bot").last
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
            assert page.evaluate("window.__pwned === undefined"), "model output ran as code"
            assert not dialogs

            shot = tmp_path / "playground.png"
            page.screenshot(path=str(shot), full_page=False)
            keep = REPO_ROOT / "runs" / "screenshots"
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, keep / "playground.png")
            print(f"screenshot: {shot} (copy: {keep / 'playground.png'})")
        finally:
            browser.close()

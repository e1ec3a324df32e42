"""The Complete tab: a cursor marker in the code, the middle filled by the model (stop strings,
temperature, max tokens and seed from the tab's controls), shown in place with the prefix and
suffix; the same through an in-process model and a served one; clear errors otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_ui.complete_handlers import SERVER_PROMPT
from chat_ui.cursor import CURSOR, parse_stops, split_at_cursor
from mixtune.errors import MixtuneError
from mixtune.fim import STARCODER, fim_prompt

from .conftest import ScriptedBackend

MIDDLE = "total = 0\n    for v in values:\n        total += v\n\n    return total"
CODE = f"def running_total(values):\n    {CURSOR}\n\nprint(running_total([1, 2]))\n"
PREFIX, SUFFIX = "def running_total(values):\n    ", "\n\nprint(running_total([1, 2]))\n"
GREEDY = [0.0, 50, 0.95, 12, 1.0, 0]  # temperature, top_k, top_p, max new tokens, repetition, seed


def launched(backends: dict[str, Any]) -> Iterator[dict[str, Any]]:
    from chat_ui.app import Playground
    from chat_ui.launch import launch

    demo = Playground(backends, None, stream_interval=0.0).blocks()
    _, url, _ = launch(demo, host="127.0.0.1", port=None, block=False, quiet=True)
    try:
        yield {"url": url, **backends}
    finally:
        demo.close()


@pytest.fixture(scope="module")
def complete_page() -> Iterator[dict[str, Any]]:
    """Scripted models: one that fills a known middle, one whose tokenizer has no FIM tokens, and
    one that writes 500 words."""
    scripted = ScriptedBackend("scripted", MIDDLE, delay=0.01)
    no_fim = ScriptedBackend("no-fim", "y = '<i>'", fim_vocab={})
    yield from launched(
        {"scripted": scripted, "no-fim": no_fim, "long": ScriptedBackend("long", "", 0.02, words=500)}
    )


@pytest.fixture(scope="module")
def model_page(chat_backend: Any, served: str, tiny_chat_dir: Path) -> Iterator[dict[str, Any]]:
    """The tiny chat model in-process and behind `mixtune serve`."""
    from chat_ui.openai_backend import OpenAIBackend

    yield from launched({"tiny-chat": chat_backend, "served": OpenAIBackend(served, tiny_chat_dir.name)})


def fill(url: str, code: str, model: str, stops: str = "", params: list[Any] = GREEDY) -> Any:
    from gradio_client import Client

    client = Client(url, verbose=False)
    return client, client.predict(code, model, stops, *params, api_name="/complete")


def test_the_cursor_splits_the_code_and_stop_strings_read_escapes() -> None:
    assert split_at_cursor(CODE) == (PREFIX, SUFFIX)
    assert split_at_cursor("a█b") == ("a", "b")
    assert split_at_cursor("no marker") == ("no marker", "")  # continued at its end
    with pytest.raises(MixtuneError, match="2 cursor markers"):
        split_at_cursor(f"a{CURSOR}b█")
    assert parse_stops("\\n\\n\ndef \n\n\\\\n") == ["\n\n", "def ", "\\n"]


def test_the_middle_is_filled_in_place_with_stops_and_settings_applied(complete_page: dict) -> None:
    client, (result, prefix, suffix, status, raw) = fill(complete_page["url"], CODE, "scripted", "\\n\\n")
    call = complete_page["scripted"].completions[-1]
    assert call == {"prompt": PREFIX, "suffix": SUFFIX, "stop": ["\n\n"]}
    assert complete_page["scripted"].calls[-1]["settings"]["max_new_tokens"] == 12
    assert complete_page["scripted"].calls[-1]["settings"]["temperature"] == 0.0
    assert (prefix, suffix) == (PREFIX, SUFFIX)
    # the middle ends before the stop string, highlighted between the prefix and the suffix
    middle = "total = 0\n    for v in values:\n        total += v"
    assert f'{PREFIX}</span><mark class="fill-middle">{middle}</mark><span class="fill-context">' in result
    assert result.endswith(f'<span class="fill-context">{SUFFIX}</span></pre>')
    assert "fill in the middle" in status and "finished: stop" in status
    assert raw == fim_prompt(PREFIX, SUFFIX, STARCODER)
    assert client.predict(api_name="/complete_accept") == f"{PREFIX}{middle}{CURSOR}{SUFFIX}"


def test_code_without_a_cursor_is_continued_and_html_stays_text(complete_page: dict) -> None:
    """No marker: a plain continuation, which a model without FIM tokens can do too; neither the
    code nor the model's text is ever HTML on the page."""
    _, (result, prefix, suffix, status, raw) = fill(complete_page["url"], "x = '<b>'\n", "no-fim")
    assert complete_page["no-fim"].completions[-1]["suffix"] is None
    assert raw == "x = '<b>'\n" and suffix == "" and "continuation" in status
    assert "x = &#x27;&lt;b&gt;&#x27;" in result
    assert '<mark class="fill-middle">y = &#x27;&lt;i&gt;&#x27;</mark>' in result
    assert "<b>" not in result and "<i>" not in result


def test_stop_ends_a_fill_within_moments_and_keeps_the_partial_middle(complete_page: dict) -> None:
    import time

    from gradio_client import Client

    client = Client(complete_page["url"], verbose=False)
    job = client.submit(CODE, "long", "", *GREEDY, api_name="/complete")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "w3 " not in str(job.outputs()[-1:]):
        time.sleep(0.02)
    stopped = time.monotonic()
    client.predict(api_name="/complete_stop")
    result, prefix, suffix, status, raw = job.result(timeout=20)
    assert time.monotonic() - stopped < 2 and "finished: cancelled" in status
    assert "w3 " in result and "w499" not in result and (prefix, suffix) == (PREFIX, SUFFIX)


def test_a_model_without_fim_tokens_says_so(complete_page: dict) -> None:
    with pytest.raises(Exception, match="has no fill-in-the-middle tokens"):
        fill(complete_page["url"], CODE, "no-fim")


@pytest.mark.parametrize("model", ["tiny-chat", "served"])
def test_in_process_and_served_models_fill_the_same_middle(model_page: dict, model: str) -> None:
    """Greedy, the same weights in-process and behind `mixtune serve` write the same middle."""
    _, (result, prefix, suffix, status, raw) = fill(model_page["url"], CODE, model)
    backend = model_page["tiny-chat"]
    expected = backend.complete(PREFIX, backend_settings(), suffix=SUFFIX)
    middle = "".join(expected)
    assert f'<mark class="fill-middle">{html_escape(middle)}</mark>' in result, (model, result)
    assert "fill in the middle" in status and f"middle **{expected.completion_tokens}** tokens" in status
    assert raw == (fim_prompt(PREFIX, SUFFIX, STARCODER) if model == "tiny-chat" else SERVER_PROMPT)


def backend_settings() -> Any:
    from chat_ui.backend import GenerationSettings

    return GenerationSettings(temperature=0.0, top_k=50, top_p=0.95, max_new_tokens=12, seed=0)


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


def test_the_tab_fills_a_marked_cursor_in_a_real_browser(complete_page: dict, tmp_path: Path) -> None:
    """Typed <CURSOR>: the middle streams in highlighted between the prefix and suffix; Accept puts
    it in the code. No marker: Fill puts the cursor at the text box's caret."""
    from playwright.sync_api import sync_playwright

    from .conftest import keep_screenshot
    from .test_browser import CHROMIUM

    assert CHROMIUM, "Debian's chromium is needed: apt-get install chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 1100})
            tab.goto(complete_page["url"])
            tab.get_by_role("tab", name="Complete").click()
            tab.locator("#complete-model input").click()
            tab.get_by_role("option", name="scripted", exact=True).click()
            tab.locator("#complete-code textarea").fill(CODE)
            tab.locator("#complete-stops textarea").fill("\\n\\n")
            tab.click("#complete-fill")
            tab.locator("#complete-status").get_by_text("finished: stop").wait_for(timeout=20_000)
            middle = tab.locator("#complete-result mark.fill-middle")
            assert middle.inner_text() == "total = 0\n    for v in values:\n        total += v"
            assert tab.locator("#complete-result pre").inner_text() == CODE.replace(
                CURSOR, middle.inner_text()
            )
            assert tab.locator("#complete-prefix textarea").input_value() == PREFIX
            assert tab.locator("#complete-suffix textarea").input_value() == SUFFIX
            keep_screenshot(tab, tmp_path, "complete-tab.png")

            tab.click("#complete-accept")
            box = tab.locator("#complete-code textarea")
            tab.wait_for_function(
                "document.querySelector('#complete-code textarea').value.includes('total += v<CURSOR>')",
                timeout=10_000,
            )
            code = "def double(x):\n    return \n"
            box.fill(code)
            box.evaluate(
                "(el, at) => { el.focus(); el.setSelectionRange(at, at); }",
                len("def double(x):\n    return "),
            )
            tab.click("#complete-fill")
            tab.wait_for_function(
                "document.querySelector('#complete-prefix textarea').value.endsWith('return ')",
                timeout=20_000,
            )
            assert tab.locator("#complete-suffix textarea").input_value() == "\n"
            assert complete_page["scripted"].completions[-1]["prompt"] == "def double(x):\n    return "
        finally:
            browser.close()


def test_a_completion_model_is_offered_in_the_complete_tab_only(tiny_base_dir: Path) -> None:
    """A model without a chat template (a base or completion model) fills code; the chat and arena
    tabs say why they have nothing to offer instead of failing on every message."""
    from chat_ui.app import Playground
    from chat_ui.transformers_backend import TransformersBackend

    base = TransformersBackend(tiny_base_dir, name="base", chat=False)
    playground = Playground({"base": base, "scripted": ScriptedBackend("scripted", "x")})
    assert playground.models.chat_names == ["scripted"]
    assert playground.models.completion_names == ["base", "scripted"]
    only_base = Playground({"base": base})
    shown = [getattr(b, "value", None) for b in only_base.blocks().blocks.values()]
    assert any("No loaded model can be used here: none has a chat template" in str(text) for text in shown)
    assert "fills in the middle with `<fim_prefix>`" in only_base.complete.about("base")

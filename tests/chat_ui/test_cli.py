"""`mixtune chat` and `mixtune serve` on the command line: wiring, safe defaults, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_ui.cli import model_names, parse_auth
from chat_ui.serve import vllm_command, vllm_unavailable_reason
from mixtune.cli import main
from mixtune.errors import MixtuneError


def test_model_names_are_unique_and_nameable() -> None:
    assert model_names(["runs/sft/model", "runs/dpo/model"]) == [
        ("sft/model", "runs/sft/model"),
        ("dpo/model", "runs/dpo/model"),
    ]
    assert model_names(["base=runs/a", "bigcode/starcoder2-15b"]) == [
        ("base", "runs/a"),
        ("starcoder2-15b", "bigcode/starcoder2-15b"),
    ]
    with pytest.raises(MixtuneError, match="same name"):
        model_names(["x=a", "x=b"])


def test_auth_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIXTUNE_CHAT_AUTH", raising=False)
    assert parse_auth(None) is None
    assert parse_auth("ann:s3:cret") == ("ann", "s3:cret")
    monkeypatch.setenv("MIXTUNE_CHAT_AUTH", "bob:pw")
    assert parse_auth(None) == ("bob", "pw")
    with pytest.raises(MixtuneError, match="USER:PASS"):
        parse_auth("nopassword")


def test_user_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["chat"]) == 2
    assert "name at least one model" in capsys.readouterr().err
    assert main(["chat", "--model", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["chat", "--openai-model", "m"]) == 2
    assert "--openai-base-url" in capsys.readouterr().err
    if vllm_unavailable_reason() is not None:
        assert main(["serve", str(tmp_path), "--engine", "vllm"]) == 2
        assert "--engine vllm" in capsys.readouterr().err


def test_a_base_model_without_chat_template_is_loaded_for_completion(tiny_base_dir: Path) -> None:
    from chat_ui.cli import load_backends
    from chat_ui.models import Models
    from mixtune.cli import build_parser

    args = build_parser().parse_args(["chat", "--model", f"base={tiny_base_dir}", "--fim-layout", "spm"])
    models = Models(load_backends(args))
    assert models.chat_names == [] and models.completion_names == ["base"]
    assert models.backends["base"].fim_layout == "spm"
    with pytest.raises(MixtuneError, match="no chat template"):
        models.backends["base"].render_prompt([{"role": "user", "content": "hi"}])


def test_vllm_command_carries_the_models_chat_template_and_generation_config(tiny_chat_dir: Path) -> None:
    from transformers import AutoTokenizer

    cmd = vllm_command(str(tiny_chat_dir), "127.0.0.1", 8123, "tiny", ["--max-model-len=1024"])
    assert cmd[cmd.index("serve") + 1] == str(tiny_chat_dir)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "8123"
    template = Path(cmd[cmd.index("--chat-template") + 1]).read_text()
    assert template == AutoTokenizer.from_pretrained(tiny_chat_dir).chat_template
    assert cmd[cmd.index("--generation-config") + 1] == str(tiny_chat_dir)
    assert cmd[cmd.index("--served-model-name") + 1] == "tiny" and cmd[-1] == "--max-model-len=1024"
    # the template writes <tool_call> blocks: vLLM parses them with its hermes parser
    assert cmd[cmd.index("--tool-call-parser") + 1] == "hermes" and "--enable-auto-tool-choice" in cmd
    own = vllm_command(str(tiny_chat_dir), "127.0.0.1", 8123, None, ["--tool-call-parser=pythonic"])
    assert "hermes" not in own and own[-1] == "--tool-call-parser=pythonic"


def test_mixtune_chat_wires_options_to_the_app_and_defaults_to_loopback(
    tiny_chat_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chat_ui.launch

    seen: dict = {}

    def fake_launch(demo, **kwargs):  # noqa: ANN001, ANN003
        seen.update(kwargs, demo=demo)

    monkeypatch.setattr(chat_ui.launch, "launch", fake_launch)
    monkeypatch.delenv("MIXTUNE_CHAT_AUTH", raising=False)
    log = tmp_path / "votes.jsonl"
    assert main(["chat", "--model", f"tiny={tiny_chat_dir}", "--feedback-log", str(log)]) == 0
    assert seen["host"] == "127.0.0.1" and seen["share"] is False and seen["auth"] is None
    assert "Votes and ratings are stored" in str(seen["demo"].config)
    assert main(["chat", "--model", str(tiny_chat_dir), "--host", "0.0.0.0", "--auth", "a:b"]) == 0
    assert seen["host"] == "0.0.0.0" and seen["auth"] == ("a", "b")
    assert "Nothing you do here is stored" in str(seen["demo"].config)


def test_the_launched_playground_listens_on_loopback_only(playground: dict) -> None:
    import psutil

    port = int(playground["url"].rstrip("/").rsplit(":", 1)[1])
    listening = {
        c.laddr.ip
        for c in psutil.Process().net_connections()
        if c.status == "LISTEN" and c.laddr.port == port
    }
    assert listening == {"127.0.0.1"}

"""`mixtune serve MODEL`: start the right OpenAI-compatible server for a model.

With vLLM installed and a CUDA GPU present it runs `vllm serve` with the model's own chat
template and generation config (so replies stop at the end-of-turn token exactly as in
training), and, when that template writes tool calls as `<tool_call>` blocks, with
`--enable-auto-tool-choice --tool-call-parser hermes` so `tools` requests get parsed
`tool_calls`; otherwise it runs the small transformers-backed server in `openai_server`.
A model without a chat template (a completion model) is served too, for `/v1/completions`.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from mixtune.chat_format import TOOL_CALL_TAG
from mixtune.errors import MixtuneError
from mixtune.fim import Layout
from mixtune.hashing import hash_obj
from mixtune.paths import cache_dir

log = logging.getLogger(__name__)


def vllm_unavailable_reason() -> str | None:
    """None when `vllm serve` can run here, else why not."""
    if importlib.util.find_spec("vllm") is None and shutil.which("vllm") is None:
        return "vLLM is not installed (pip install 'mixtune[vllm]')"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    return None


def write_chat_template(model: str) -> Path | None:
    """The model's chat template as a file, as `vllm serve --chat-template` wants it; None for a
    model without one (a completion model: it is served for `/v1/completions` only)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    template = tokenizer.chat_template
    if not template:
        return None
    if isinstance(template, dict):  # named templates: vLLM takes the default one
        template = template.get("default") or next(iter(template.values()))
    path = cache_dir("serve") / f"chat-template-{hash_obj(template)[:16]}.jinja"
    path.write_text(template, encoding="utf-8")
    return path


def vllm_command(
    model: str, host: str, port: int, served_model_name: str | None = None, extra: list[str] | None = None
) -> list[str]:
    """The `vllm serve` command line for a mixtune model directory or Hub id."""
    exe = shutil.which("vllm")
    cmd = [exe] if exe else [sys.executable, "-m", "vllm.entrypoints.cli.main"]
    cmd += ["serve", model, "--host", host, "--port", str(port)]
    template = write_chat_template(model)
    if template is not None:
        cmd += ["--chat-template", str(template)]
    extra = list(extra or [])
    chosen = any(a.split("=")[0] in ("--tool-call-parser", "--enable-auto-tool-choice") for a in extra)
    if template is not None and TOOL_CALL_TAG in template.read_text(encoding="utf-8") and not chosen:
        # the template writes calls as <tool_call>{json}</tool_call>: vLLM's hermes parser reads them
        cmd += ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
    local = Path(model)
    generation_config = str(local) if (local / "generation_config.json").is_file() else "auto"
    cmd += ["--generation-config", generation_config]
    if served_model_name:
        cmd += ["--served-model-name", served_model_name]
    return cmd + extra


def serve(
    model: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    engine: str = "auto",
    served_model_name: str | None = None,
    default_max_tokens: int = 512,
    vllm_args: list[str] | None = None,
    fim_layout: Layout = "psm",
    check_training_data: bool = False,
) -> int:
    """Serve until interrupted; returns the exit status. fim_layout: how `/v1/completions` lays
    out a request with a `suffix` (the transformers engine; vLLM refuses `suffix`, see README)."""
    if engine not in ("auto", "vllm", "transformers"):
        raise MixtuneError(f"--engine: choose auto, vllm or transformers, not {engine!r}")
    if check_training_data and engine == "vllm":
        raise MixtuneError(
            "--check-training-data: vLLM's answers carry no training_data field; use --engine transformers"
        )
    reason = vllm_unavailable_reason() if engine != "transformers" else "transformers was asked for"
    if check_training_data and reason is None:
        reason = "the training-data check is answered by the transformers engine"
    if engine == "vllm" and reason:
        raise MixtuneError(f"--engine vllm: {reason}")
    if reason is None:
        cmd = vllm_command(model, host, port, served_model_name, vllm_args)
        log.info("starting %s", " ".join(cmd))
        try:
            return subprocess.call(cmd)
        except KeyboardInterrupt:
            return 130
    if vllm_args:
        raise MixtuneError("--vllm-arg is only for the vLLM engine: " + reason)
    from chat_ui.openai_server import run_server
    from chat_ui.transformers_backend import TransformersBackend

    log.info("serving with transformers (%s)", reason)
    backend = TransformersBackend(model, name=served_model_name, chat=False, fim_layout=fim_layout)
    run_server({backend.name: backend}, host, port, default_max_tokens=default_max_tokens)
    return 0

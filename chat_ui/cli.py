"""`mixtune chat` (the playground) and `mixtune serve` (an OpenAI-compatible server for a model)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from mixtune.commands import add_command
from mixtune.errors import MixtuneError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    chat = add_command(
        subparsers,
        "chat",
        run_chat,
        help="the playground (Gradio): chat, arena and code completion for one or more models",
        description="Chat with models in the browser (each code block of an answer checked against the "
        "model's training data); compare two anonymously in the arena; optionally log votes as preference "
        "data; fill code at a cursor in the Complete tab. Binds 127.0.0.1 unless --host or --share is given.",
    )
    chat.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="[NAME=]DIR_OR_ID",
        help="a model directory or Hub id, loaded in-process (repeat for several): a chat model, or a "
        "base or completion model (no chat template), offered in the Complete tab",
    )
    chat.add_argument("--openai-base-url", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    chat.add_argument(
        "--openai-model",
        action="append",
        default=[],
        help="model name(s) on that server (default: every model it lists)",
    )
    chat.add_argument("--openai-api-key", help="API key for that server (default: $OPENAI_API_KEY)")
    chat.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    chat.add_argument("--port", type=int, default=7860)
    chat.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    chat.add_argument(
        "--auth", metavar="USER:PASS", help="require this login (default: $MIXTUNE_CHAT_AUTH when set)"
    )
    chat.add_argument(
        "--feedback-log",
        metavar="PATH",
        help="store arena votes here as preference rows (JSONL) and ratings beside it; off by default",
    )
    chat.add_argument("--device", help="device for in-process models (default: cuda when present, else cpu)")
    chat.add_argument(
        "--stream-interval",
        type=float,
        default=0.05,
        help="seconds between screen updates while streaming (default 0.05)",
    )
    chat.add_argument("--title", default="mixtune playground")
    chat.add_argument(
        "--no-training-check",
        action="store_true",
        help="start with the training-data check off (by default each code block of an answer is looked "
        "up in the model's training mixtures, whose missing search indexes are built at launch)",
    )
    chat.add_argument(
        "--fim-layout",
        choices=["psm", "spm"],
        default="psm",
        help="how the Complete tab lays out a fill for in-process models (the layout they were trained on)",
    )
    chat.set_defaults(index_models=chat_index_models)
    register_serve(subparsers)


def register_serve(subparsers: argparse._SubParsersAction) -> None:
    serve = add_command(
        subparsers,
        "serve",
        run_serve,
        help="serve a model over an OpenAI-compatible API (vLLM on a GPU, else transformers)",
        description="`vllm serve` with the model's chat template and generation config when vLLM and a "
        "CUDA GPU are present; otherwise a small transformers-backed server with /v1/models, "
        "/v1/chat/completions, /v1/completions (with suffix: fill-in-the-middle; streaming or not) and /tokenize.",
    )
    serve.add_argument("model", help="a model directory or Hub id (chat or completion model)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--engine",
        choices=["auto", "vllm", "transformers"],
        default="auto",
        help="default: vllm when possible",
    )
    serve.add_argument(
        "--served-model-name", help="the model's name in the API (default: the directory name)"
    )
    serve.add_argument(
        "--max-tokens",
        type=int,
        default=512,
        help="chat reply length when a request sets none (transformers engine; /v1/completions "
        "defaults to 16 tokens, as OpenAI's)",
    )
    serve.add_argument(
        "--vllm-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument passed to `vllm serve` (repeat), e.g. --vllm-arg=--tensor-parallel-size=2",
    )
    serve.add_argument(
        "--fim-layout",
        choices=["psm", "spm"],
        default="psm",
        help="how /v1/completions lays out a request with a suffix: the layout the model was trained on "
        "(default psm; transformers engine)",
    )
    serve.add_argument(
        "--check-training-data",
        action="store_true",
        help="build the search indexes of the model's training mixtures before serving, so requests with "
        '"check_training_data": true get the matches of their output (transformers engine)',
    )
    serve.set_defaults(index_models=serve_index_models)


def parse_auth(value: str | None) -> tuple[str, str] | None:
    value = value if value is not None else os.environ.get("MIXTUNE_CHAT_AUTH")
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise MixtuneError("--auth: expected USER:PASS with a non-empty user and password")
    return user, password


def model_names(specs: list[str]) -> list[tuple[str, str]]:
    """(name, path) for each --model; NAME=PATH names it, else the directory name (made unique)."""
    entries = []  # (name, ref, explicit)
    for spec in specs:
        name, sep, ref = spec.partition("=")
        if sep and name and "/" not in name:
            entries.append((name, ref, True))
        else:
            parts = Path(spec.rstrip("/")).parts
            entries.append((parts[-1] if parts else spec, spec, False))
    counts: dict[str, int] = {}
    for name, _, _ in entries:
        counts[name] = counts.get(name, 0) + 1
    out = []
    for name, ref, explicit in entries:
        if counts[name] > 1 and not explicit:
            name = "/".join(Path(ref.rstrip("/")).parts[-2:])
        out.append((name, ref))
    if len({n for n, _ in out}) != len(out):
        raise MixtuneError("two --model entries have the same name; name them with --model NAME=PATH")
    return out


def load_backends(args: argparse.Namespace) -> dict:
    from chat_ui.backend import ChatBackend

    backends: dict[str, ChatBackend] = {}
    if args.model:
        from chat_ui.transformers_backend import TransformersBackend

        for name, ref in model_names(args.model):
            log.info("loading %s from %s", name, ref)
            backend = TransformersBackend(
                ref, name=name, device=args.device, chat=False, fim_layout=args.fim_layout
            )
            if not backend.tokenizer.chat_template:
                log.info("%s has no chat template: it is offered in the Complete tab only", name)
            backends[name] = backend
    if args.openai_base_url:
        from chat_ui.openai_backend import OpenAIBackend, list_models

        key = args.openai_api_key or os.environ.get("OPENAI_API_KEY")
        names = args.openai_model or [m["id"] for m in list_models(args.openai_base_url, key)]
        if not names:
            raise MixtuneError(f"{args.openai_base_url} lists no models; name one with --openai-model")
        for name in names:
            shown = name if name not in backends else f"{name} (server)"
            backends[shown] = OpenAIBackend(args.openai_base_url, name, api_key=key, name=shown)
    elif args.openai_model:
        raise MixtuneError("--openai-model needs --openai-base-url")
    if not backends:
        raise MixtuneError("name at least one model: --model DIR_OR_ID or --openai-base-url URL")
    return backends


def run_chat(args: argparse.Namespace) -> int:
    auth = parse_auth(args.auth)
    backends = load_backends(args)
    from chat_ui.app import build_app
    from chat_ui.launch import launch

    if (args.share or args.host not in ("127.0.0.1", "localhost", "::1")) and auth is None:
        log.warning(
            "the playground is reachable from other machines without a login; consider --auth USER:PASS"
        )
    demo = build_app(
        backends,
        args.feedback_log,
        stream_interval=args.stream_interval,
        title=args.title,
        training_check=not args.no_training_check,
    )
    launch(demo, host=args.host, port=args.port, share=args.share, auth=auth, block=True)
    return 0


def chat_index_models(args: argparse.Namespace) -> list[str]:
    """The in-process models whose training mixtures lack a current search index: the orchestration
    builds them before the playground starts (none with --no-training-check). A model whose lineage
    cannot be read is left to the playground, which says why its answers cannot be checked."""
    from mixtune.attribution import missing_indexes
    from mixtune.run_record import RUN_RECORD

    if args.no_training_check:
        return []
    found = []
    for _, ref in model_names(args.model):
        if not (Path(ref) / RUN_RECORD).is_file():
            continue
        try:
            if missing_indexes(ref):
                found.append(ref)
        except MixtuneError as exc:
            log.warning("%s: its answers cannot be checked against its training data: %s", ref, exc)
    return found


def serve_index_models(args: argparse.Namespace) -> list[str]:
    """The models whose training mixtures the orchestration indexes before serving."""
    return [args.model] if args.check_training_data else []


def run_serve(args: argparse.Namespace) -> int:
    from chat_ui.serve import serve

    return serve(
        args.model,
        host=args.host,
        port=args.port,
        engine=args.engine,
        served_model_name=args.served_model_name,
        default_max_tokens=args.max_tokens,
        vllm_args=args.vllm_arg,
        fim_layout=args.fim_layout,
        check_training_data=args.check_training_data,
    )

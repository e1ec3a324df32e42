"""`mixtune eval --openai-base-url`: against a tiny OpenAI-compatible server started here on
127.0.0.1, answering each problem with its canonical solution in a fenced block."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evals.evaluate import EvalRequest, run_eval
from evals.generate import GenerationSettings
from evals.results import load_results
from mixtune.cli import main
from mixtune.errors import MixtuneError


class FakeServer:
    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers  # entry point -> reply text
        self.requests: list[dict] = []
        self.failures_left = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                if server.failures_left > 0:
                    server.failures_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.path != "/v1/chat/completions":
                    self.send_response(404)
                    self.end_headers()
                    self.wfile.write(b'{"error": "no such route"}')
                    return
                text = next(
                    (a for k, a in server.answers.items() if f"`{k}(" in body["messages"][-1]["content"]),
                    "I don't know.",
                )
                n = body.get("n", 1)
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for i in range(n):
                        for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
                            chunk = {"choices": [{"index": i, "delta": {"content": piece}}]}
                            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                # Answer one choice fewer than asked, as some servers cap n: the client asks again.
                given = max(1, n - 1)
                payload = {
                    "choices": [
                        {"index": i, "message": {"role": "assistant", "content": text}} for i in range(given)
                    ]
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(humaneval):
    answers = {
        p.entry_point: f"Here is my solution:\n\n```python\n{p.prompt}{p.canonical_solution}```\n\nHope it helps!"
        for p in humaneval.problems[:4]
    }
    srv = FakeServer(answers)
    yield srv
    srv.close()


@pytest.mark.parametrize("stream", [False, True])
def test_openai_endpoint_scores_canonical_answers(server, tmp_path, stream, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    req = EvalRequest(
        openai_base_url=server.url,
        openai_model="served-model",
        openai_stream=stream,
        limit=4,
        settings=GenerationSettings(n=2, temperature=0.7, max_new_tokens=300),
        out=str(tmp_path / "run"),
        show_progress=False,
    )
    res = load_results(run_eval(req))
    assert res["scores"]["pass@1"] == 1.0
    assert res["model"] == {**res["model"], "name": "served-model", "source": "openai", "path": server.url}
    assert res["generation"]["backend"] == ("openai-stream" if stream else "openai")
    first = server.requests[0]
    assert first["model"] == "served-model" and first["temperature"] == 0.7 and first["max_tokens"] == 300
    assert first["stream"] is stream and first["auth"] == "Bearer sk-test"
    assert (
        first["messages"][0]["role"] == "user"
        and "to solve the following problem" in first["messages"][0]["content"]
    )
    # Non-streamed: the server gave n-1 choices, so every problem needed a second request.
    assert len(server.requests) == (4 if stream else 8)


def test_retries_on_overload_then_succeeds(server, tmp_path, monkeypatch):
    monkeypatch.setattr("evals.openai_backend.time.sleep", lambda s: None)
    server.failures_left = 2
    req = EvalRequest(
        openai_base_url=server.url, openai_model="m", limit=1, out=str(tmp_path / "r"), show_progress=False
    )
    assert load_results(run_eval(req))["scores"]["pass@1"] == 1.0


def test_http_errors_are_reported_with_the_url(server, tmp_path):
    req = EvalRequest(
        openai_base_url=server.url + "/wrong",
        openai_model="m",
        limit=1,
        out=str(tmp_path / "r"),
        show_progress=False,
    )
    with pytest.raises(MixtuneError, match="HTTP 404"):
        run_eval(req)


def test_cli_needs_the_model_name_with_an_endpoint(server, capsys):
    assert main(["eval", "--openai-base-url", server.url, "--limit", "1"]) == 2
    assert "--openai-model" in capsys.readouterr().err

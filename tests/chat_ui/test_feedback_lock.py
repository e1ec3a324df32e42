"""The feedback log's lock, tested where it matters.

On a local Linux filesystem one `write` of a whole line on an O_APPEND descriptor does not
interleave with other writers even without a lock, so a concurrency test alone passes with the
lock removed. The lock matters (1) to anything else that takes it, such as a job that reads or
rotates the log, and (2) when a line takes more than one `write` (a signal, a full disk, a
network filesystem): both are tested here directly.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import types
from pathlib import Path

import pytest

import chat_ui.feedback as feedback
from chat_ui.feedback import append_jsonl


def test_a_writer_waits_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    path.write_text('{"first": true}\n')
    done = threading.Event()
    with open(path, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)  # e.g. a rotation job reading the log
        writer = threading.Thread(target=lambda: (append_jsonl(path, {"second": True}), done.set()))
        writer.start()
        try:
            assert not done.wait(0.5), "append_jsonl wrote while another holder had the lock"
            assert path.read_text() == '{"first": true}\n'
        finally:
            fcntl.flock(holder.fileno(), fcntl.LOCK_UN)
    writer.join(timeout=10)
    assert done.is_set()
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"first": True}, {"second": True}]


class _ShortWrites(types.SimpleNamespace):
    """`os` as seen by the feedback module, except that each write stores at most 512 bytes and
    yields the CPU, as a write interrupted by a signal or on a network filesystem may."""

    def __getattr__(self, name: str):
        return getattr(os, name)

    @staticmethod
    def write(fd: int, data: bytes) -> int:
        written = os.write(fd, bytes(data[:512]))
        time.sleep(0.0005)
        return written


def test_lines_written_in_several_pieces_do_not_interleave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feedback, "os", _ShortWrites())
    path = tmp_path / "votes.jsonl"

    def write_rows(worker: int) -> None:
        for i in range(4):
            append_jsonl(path, {"worker": worker, "i": i, "payload": f"{worker}-{i}-" + "y" * 3000})

    threads = [threading.Thread(target=write_rows, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted((r["worker"], r["i"]) for r in rows) == [(w, i) for w in range(4) for i in range(4)]
    assert all(r["payload"] == f"{r['worker']}-{r['i']}-" + "y" * 3000 for r in rows)

"""The mixture manifest's one home (mixtune.manifest): what counts as a mixture folder, what a
build may replace, and errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixtune.errors import DataError
from mixtune.manifest import MANIFEST, is_built_mixture, may_replace, read_manifest, write_manifest


def test_write_then_read_keeps_order_and_bytes(tmp_path: Path) -> None:
    data = {"name": "m", "hash": "abc", "sources": {"b": 1, "a": 2}, "note": "é"}
    path = write_manifest(tmp_path, data)
    first = path.read_bytes()
    assert path.name == MANIFEST and list(read_manifest(tmp_path)["sources"]) == ["b", "a"]
    write_manifest(tmp_path, read_manifest(tmp_path))
    assert path.read_bytes() == first and "é" in first.decode("utf-8")


def test_missing_and_malformed_manifests_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"not a built mixture \\(no {MANIFEST}\\)"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text('{\n  "name": "m",\n  oops\n}\n', encoding="utf-8")
    with pytest.raises(DataError, match=rf"{MANIFEST}:3: malformed manifest"):
        read_manifest(tmp_path)


def test_what_a_build_may_replace(tmp_path: Path) -> None:
    assert may_replace(tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert may_replace(empty) and not is_built_mixture(empty)
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine", encoding="utf-8")
    assert not may_replace(foreign)
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    assert not may_replace(a_file) and not is_built_mixture(a_file)
    mixture = tmp_path / "mixture"
    mixture.mkdir()
    write_manifest(mixture, {"name": "m"})
    (mixture / "report.md").write_text("# m\n", encoding="utf-8")
    assert may_replace(mixture) and is_built_mixture(mixture)

"""Completion rows: one file of code per row, for fill-in-the-middle training.

A row is `{content, path, repo, language}` (plus `source` and `id` like every mixture row).
Files come from a local repository (`code_repo:`, walked by `mixtune.code_files`) or from a
dataset with a `content` column in The Stack's shape (`max_stars_repo_path`,
`max_stars_repo_name`, `lang`); both go through the same `FileRules`, so a file dropped as
minified, generated, binary, ... is dropped for that named reason whichever way it came in.
Dropped files become counted rejects (file, reason, detail), never silent omissions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mixtune.code_files import (
    DROP_REASONS,
    CodeFile,
    DroppedFile,
    FileRules,
    check_content,
    is_held_out,
    iter_repository,
    outside_root,
    select_files,
)
from mixtune.hashing import hash_file, hash_obj
from mixtures.formats import RowError

COMPLETION_COLUMNS = ("content", "path", "repo", "language")
# the columns a dataset row may carry each field under (ours first, then The Stack's)
FIELD_KEYS = {
    "content": ("content", "text", "code"),
    "path": ("path", "max_stars_repo_path", "max_forks_repo_path", "max_issues_repo_path", "file_path"),
    "repo": (
        "repo",
        "repo_name",
        "repo_id",
        "max_stars_repo_name",
        "max_forks_repo_name",
        "max_issues_repo_name",
    ),
    "language": ("language", "lang"),
}
# file filter verdicts are counted whatever `on_error` says: a minified file is not a bad row
FILE_DROP_REASONS = frozenset(DROP_REASONS)


def _field(row: dict[str, Any], name: str) -> Any:
    return next((row[k] for k in FIELD_KEYS[name] if row.get(k) is not None), None)


def completion_row(row: Any, rules: FileRules, default_repo: str = "") -> dict[str, Any]:
    """One dataset or repository row -> a canonical completion row; `RowError` names why not."""
    if not isinstance(row, dict):
        raise RowError("bad_type", f"a completion row is an object with 'content', got {type(row).__name__}")
    content = _field(row, "content")
    if content is None:
        raise RowError("missing_content", f"no file text under any of {list(FIELD_KEYS['content'])}")
    if not isinstance(content, str | bytes):
        raise RowError("bad_type", f"content should be text, got {type(content).__name__}")
    path, repo, language = _field(row, "path"), _field(row, "repo"), _field(row, "language")
    for name, value in (("path", path), ("repo", repo), ("language", language)):
        if value is not None and not isinstance(value, str):
            raise RowError("bad_type", f"{name} should be text, got {type(value).__name__}")
    path = (path or "").replace("\\", "/").lstrip("/")
    checked = check_content(path or "unnamed", content, rules, language=language or None)
    if isinstance(checked, DroppedFile):
        raise RowError(checked.reason, f"{path or 'the file'}: {checked.detail}")
    return {"content": checked.text, "path": path, "repo": repo or default_repo, "language": checked.language}


def holdout_key(path: str, repo: str, by: str, local: bool) -> str:
    """What the held-out hash keys on: a local repository's files by their relative path (the
    key `mixtune eval --benchmark repo:PATH` uses too), a dataset's files by `repo/path` (paths
    like `src/index.js` repeat across repositories), or the repository itself."""
    if by == "repository":
        return repo
    return path if local or not repo else f"{repo}/{path}"


def held_out_mask(
    paths: list[str], repos: list[str], by: str, local: bool, fraction: float, seed: int
) -> list[bool]:
    return [
        is_held_out(holdout_key(p, r, by, local), fraction, seed) for p, r in zip(paths, repos, strict=True)
    ]


def repo_name(spec: dict[str, Any], root: Path) -> str:
    return spec.get("repo") or root.resolve().name


def code_files_fingerprint(root: Path, rules: FileRules, spec: dict[str, Any]) -> tuple[str, int]:
    """Hash of what a completion build reads from a repository: the content of every file it may
    keep, only the names of excluded / vendored files, only where links out point. Returns
    (fingerprint, files selected)."""
    read, named, links = [], [], []
    selected = select_files(root, rules.include, rules.exclude)
    for path, reason in selected:
        rel = path.relative_to(root).as_posix()
        if reason is not None:
            named.append([rel, reason])
        elif (real := outside_root(path, root)) is not None:
            links.append([rel, str(real)])
        elif not path.is_file():
            named.append([rel, "unreadable"])
        elif path.stat().st_size > rules.max_file_bytes:
            named.append([rel, "too_large", path.stat().st_size])
        else:
            read.append([rel, hash_file(path)])
    payload = {"read": read, "named": named, "links_out": links, "rules": repr(rules), "spec": spec}
    return hash_obj(payload, length=32), len(selected)


def _raw(record: dict[str, Any], shown: str, error: str = "") -> dict[str, Any]:
    return {
        "_raw": json.dumps(record, ensure_ascii=False) if record else "",
        "_file": shown,
        "_line": 0,
        "_error": error,
    }


def repo_rows(root: str, shown_root: str, rules: FileRules, repo: str) -> Iterator[dict[str, Any]]:
    """Raw rows of a repository, one per selected file in path order: kept files as JSON rows,
    dropped ones as errors `reason: detail` (the normaliser counts them as rejects)."""
    for item in iter_repository(root, rules):
        shown = f"{shown_root}/{item.path}" if shown_root not in ("", ".") else item.path
        if isinstance(item, CodeFile):
            record = {"content": item.text, "path": item.path, "repo": repo, "language": item.language}
            yield _raw(record, shown)
        else:
            yield _raw({}, shown, f"{item.reason}: {item.detail}")


def read_repo_files(
    root: Path, shown_root: str, rules: FileRules, repo: str, fingerprint: str, cache: Path
) -> Any:
    """A repository's files -> an Arrow dataset of raw rows (cached by the fingerprint)."""
    from mixtures.readers import READER_VERSION, write_raw_dataset

    rows = repo_rows(str(root), shown_root, rules, repo)
    return write_raw_dataset(
        rows, cache / f"files-{READER_VERSION}-{fingerprint}.arrow", desc=f"reading {shown_root}"
    )


def completion_features() -> Any:
    from datasets import Features, Value

    return Features({c: Value("string") for c in (*COMPLETION_COLUMNS, "source", "id")})

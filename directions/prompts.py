"""Prompt sets: contrastive (unsafe, safe) pairs that define a direction, and benign anchors.

Pairs and anchors come from the sets shipped in `data/`, from user files (.jsonl/.json/.csv, and
.txt for anchors) or from text pasted into a node (Hugging Face datasets: prompt_datasets.py; diversity
statistics: prompt_stats.py). Every loader validates as it reads and reports problems as
`file:line: what is wrong`, because a direction fitted on a silently broken prompt set is wrong in ways
nobody can see later.

Pure Python (csv, json, random, hashlib): no torch, no ComfyUI.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

CATEGORIES = ("sexual", "violence", "self-harm", "hate", "harassment", "illegal-activity", "shocking")
SPLITS = ("fit", "heldout")

DATA_DIR = Path(__file__).parent / "data"
SHIPPED_PAIR_FILES = {"default": "pairs.jsonl"}
SHIPPED_ANCHOR_FILES = {"templates": "anchors.jsonl", "category-vocabulary": "category_vocab_anchors.jsonl"}
# The default anchors (what Extract, Fit and the demo use unless told otherwise): the template anchors plus
# benign prompts in the categories' own vocabulary, which give the map data near the safety direction
# (issue 15; benchmarks/transfer_levers.py measured it on the shipped split and the independent set).
DEFAULT_ANCHORS = ("templates", "category-vocabulary")

MAX_LINE_CHARS = 20_000
# A few million prompts; a bigger file is not a prompt set, and reading it would hold gigabytes in memory.
MAX_FILE_BYTES = 256 * 1024 * 1024
PAIR_KEYS = ("category", "unsafe", "safe")
PAIR_EXTENSIONS = (".jsonl", ".json", ".csv")
ANCHOR_EXTENSIONS = (".jsonl", ".json", ".csv", ".txt")
PASTED = "pasted text"


class PromptFileError(ValueError):
    """A prompt file, pasted text or dataset is unusable; the message says where and why."""


@dataclass(frozen=True)
class PromptPair:
    """One contrastive pair: an unsafe prompt and its safe twin (same scene, harm removed)."""

    category: str
    unsafe: str
    safe: str
    split: str = "fit"


# ---------------------------------------------------------------------------------------------
# names and small validators


def canonical_category(name: str) -> str | None:
    """`"Illegal activity"`, `"illegal_activity"` -> `"illegal-activity"`; None when not a category."""
    key = re.sub(r"[\s_\-]+", "-", str(name).strip().lower())
    return key if key in CATEGORIES else None


def _unknown_category(name: str) -> str:
    return f'unknown category "{name}": use one of {", ".join(CATEGORIES)}'


def _canonical_split(value: Any, where: str) -> str:
    if value is None:
        return "fit"
    if not isinstance(value, str):
        raise PromptFileError(f'{where}: "split" must be "fit" or "heldout", got {json.dumps(value)}')
    key = re.sub(r"[\s_\-]+", "", value.strip().lower())
    if key == "":
        return "fit"
    if key not in SPLITS:
        raise PromptFileError(f'{where}: "split" must be "fit" or "heldout", got "{value}"')
    return key


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _text_value(record: Mapping[str, Any], key: str, where: str) -> str:
    value = record[key]
    if not isinstance(value, str):
        raise PromptFileError(f'{where}: "{key}" must be a string, got {type(value).__name__} {json.dumps(value)[:60]}')
    value = value.strip()
    if not value:
        raise PromptFileError(f'{where}: "{key}" is empty')
    return value


def _pair_from_record(record: Mapping[str, Any], where: str) -> PromptPair:
    """Validate one record (a JSON object, a CSV row or a pasted line) into a PromptPair."""
    for key in PAIR_KEYS:
        if key not in record:
            raise PromptFileError(f'{where}: missing key "{key}" (each line needs "category", "unsafe", "safe")')
    raw_category = _text_value(record, "category", where)
    category = canonical_category(raw_category)
    if category is None:
        raise PromptFileError(f"{where}: {_unknown_category(raw_category)}")
    unsafe = _text_value(record, "unsafe", where)
    safe = _text_value(record, "safe", where)
    if _same_text(unsafe, safe):
        raise PromptFileError(f"{where}: the safe twin is identical to the unsafe prompt")
    return PromptPair(category, unsafe, safe, _canonical_split(record.get("split"), where))


# ---------------------------------------------------------------------------------------------
# reading files line by line, bounded


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text without newline), refusing non-UTF-8 and over-long lines.

    Reads with a bounded readline so a multi-gigabyte single-line file never lands in memory.
    """
    name = path.name
    byte_limit = MAX_LINE_CHARS * 4 + 2  # a UTF-8 character is at most 4 bytes, plus "\r\n"
    with open(path, "rb") as handle:
        lineno = 0
        while True:
            raw = handle.readline(byte_limit)
            if not raw:
                return
            lineno += 1
            if len(raw) == byte_limit and not raw.endswith(b"\n"):
                raise PromptFileError(_too_long(name, lineno))
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # Excel and Notepad write a UTF-8 byte-order mark
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PromptFileError(
                    f"{name}:{lineno}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} "
                    f"of the line): save the file with UTF-8 encoding"
                ) from None
            text = text.rstrip("\r\n")
            if len(text) > MAX_LINE_CHARS:
                raise PromptFileError(_too_long(name, lineno))
            yield lineno, text


def _too_long(origin: str, lineno: int) -> str:
    return (
        f"{origin}:{lineno}: line is longer than {MAX_LINE_CHARS:,} characters; "
        f"one prompt per line is expected (is this really a prompt file?)"
    )


def _json_records(lines: Iterable[tuple[int, str]], origin: str) -> Iterator[tuple[str, dict]]:
    """JSON Lines: one object per non-blank line -> (where, object)."""
    for lineno, text in lines:
        if not text.strip():
            continue
        where = f"{origin}:{lineno}"
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PromptFileError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except (ValueError, RecursionError) as exc:  # 5000-digit numbers, nesting thousands deep
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raise PromptFileError(f"{where}: not a usable JSON record ({reason}): one flat object per line") from None
        if not isinstance(record, dict):
            raise PromptFileError(f"{where}: expected a JSON object {{...}} per line, got {type(record).__name__}")
        yield where, record


def _csv_records(lines: Iterable[tuple[int, str]], origin: str, required: Sequence[str],
                 optional: Sequence[str] = ()) -> Iterator[tuple[str, dict]]:
    """CSV with a header row -> (where, {column: cell}); `where` is the record's first line."""
    numbered = iter(lines)
    physical: list[int] = []  # file line number of each line handed to csv, for quoted multi-line cells

    def feed() -> Iterator[str]:
        for lineno, text in numbered:
            physical.append(lineno)
            yield text + "\n"

    reader = csv.reader(feed())
    header: list[str] | None = None
    consumed = 0
    try:
        for row in reader:
            start = physical[consumed] if consumed < len(physical) else len(physical)
            consumed = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            where = f"{origin}:{start}"
            if header is None:
                header = [cell.strip().lower() for cell in row]
                for column in required:
                    if column not in header:
                        wanted = ", ".join(required) + "".join(f" and optionally {c}" for c in optional)
                        raise PromptFileError(f'{where}: missing column "{column}" (the header row needs {wanted})')
                continue
            if len(row) > len(header):
                raise PromptFileError(
                    f"{where}: {len(row)} fields but the header names {len(header)} "
                    f"(put prompts that contain commas in double quotes)"
                )
            cells = row + [""] * (len(header) - len(row))
            yield where, {column: cell for column, cell in zip(header, cells) if column}
    except csv.Error as exc:
        raise PromptFileError(f"{origin}:{reader.line_num}: not valid CSV ({exc})") from None


# ---------------------------------------------------------------------------------------------
# shipped sets and source resolution


def shipped_pair_sets() -> list[str]:
    """Names of the pair sets shipped with the pack (only those whose data file is present)."""
    return [name for name, file in SHIPPED_PAIR_FILES.items() if (DATA_DIR / file).is_file()]


def shipped_anchor_sets() -> list[str]:
    """Names of the anchor sets shipped with the pack (only those whose data file is present); "default"
    joins DEFAULT_ANCHORS."""
    present = [name for name, file in SHIPPED_ANCHOR_FILES.items() if (DATA_DIR / file).is_file()]
    return (["default"] if set(DEFAULT_ANCHORS) <= set(present) else []) + present


def _resolve(source: str | os.PathLike, shipped: Mapping[str, str], extensions: Sequence[str], kind: str) -> Path:
    if isinstance(source, str) and source in shipped:
        path = DATA_DIR / shipped[source]
        if not path.is_file():
            raise PromptFileError(f'the shipped {kind} set "{source}" is missing ({path}): reinstall the pack')
        return path
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in extensions:
        names = f" or a shipped set ({', '.join(shipped)})" if shipped else ""
        if not suffix:  # most likely a mistyped shipped-set name
            raise PromptFileError(f'"{source}" is neither a shipped {kind} set ({", ".join(shipped) or "none"}) '
                                  f'nor a {", ".join(extensions)} file')
        raise PromptFileError(
            f'{path.name}: unknown extension "{path.suffix}" for {kind}: use a {", ".join(extensions)} file{names}'
        )
    if not path.is_file():
        raise PromptFileError(f"{path}: no such {kind} file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise PromptFileError(
            f"{path.name}: {size:,} bytes, more than the {MAX_FILE_BYTES // (1024 * 1024)} MB a {kind} file may be: "
            "is this really a prompt file? Split it or keep the prompts you need"
        )
    return path


# ---------------------------------------------------------------------------------------------
# pairs


def load_pairs(source: str | os.PathLike, *, categories: Sequence[str] | None = None,
               min_per_category: int = 0) -> list[PromptPair]:
    """Load and validate contrastive pairs from a shipped set name or a .jsonl/.json/.csv file.

    `categories` keeps only those categories (case and `_`/space insensitive); `min_per_category`
    refuses any kept category with fewer pairs, since a direction from a handful of pairs is noise.
    """
    path = _resolve(source, SHIPPED_PAIR_FILES, PAIR_EXTENSIONS, "pairs")
    lines = _read_lines(path)
    if path.suffix.lower() == ".csv":
        records = _csv_records(lines, path.name, PAIR_KEYS, optional=("split",))
    else:
        records = _json_records(lines, path.name)
    pairs = [_pair_from_record(record, where) for where, record in records]
    return _select(pairs, path.name, categories, min_per_category)


def parse_pairs_text(text: str, origin: str = PASTED, *, categories: Sequence[str] | None = None,
                     min_per_category: int = 0) -> list[PromptPair]:
    """Pairs pasted into a node: JSON Lines, or `category | unsafe prompt | safe prompt [| split]`.

    Blank lines and lines starting with `#` are ignored; the two forms may be mixed.
    """
    pairs = []
    for lineno, stripped in _pasted_lines(text, origin):
        where = f"{origin}:{lineno}"
        if stripped.startswith("{"):
            ((_, record),) = _json_records([(lineno, stripped)], origin)
        else:
            fields = [field.strip() for field in stripped.split("|")]
            if len(fields) not in (3, 4):
                raise PromptFileError(
                    f'{where}: expected "category | unsafe prompt | safe prompt" (3 fields separated by |), '
                    f"found {len(fields)} field{'s' if len(fields) != 1 else ''}"
                )
            record = dict(zip(PAIR_KEYS + ("split",), fields))
        pairs.append(_pair_from_record(record, where))
    return _select(pairs, origin, categories, min_per_category)


def _select(pairs: list[PromptPair], origin: str, categories: Sequence[str] | None,
            min_per_category: int) -> list[PromptPair]:
    """Apply the category filter and the minimum count; refuse an empty result."""
    if not pairs:
        raise PromptFileError(f'{origin}: holds no prompts (expected lines with "category", "unsafe", "safe")')
    wanted: list[str] | None = None
    if categories is not None:
        wanted = []
        for name in categories:
            category = canonical_category(name)
            if category is None:
                raise PromptFileError(f"{origin}: {_unknown_category(name)} (in the category filter)")
            if category not in wanted:
                wanted.append(category)
        pairs = [pair for pair in pairs if pair.category in wanted]
        if not pairs:
            raise PromptFileError(f"{origin}: holds no pairs in the categories {', '.join(wanted)}")
    counts = Counter(pair.category for pair in pairs)
    checked = wanted if wanted is not None else [c for c in CATEGORIES if counts[c]]
    short = [c for c in checked if counts[c] < min_per_category]
    if short:
        described = ", ".join(f'category "{c}" has {_plural(counts[c], "pair")}' for c in short)
        raise PromptFileError(
            f"{origin}: {described}; a direction needs at least {min_per_category} "
            f"(add pairs or leave the category out)"
        )
    return pairs


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# ---------------------------------------------------------------------------------------------
# anchors


def load_anchors(source: str | os.PathLike) -> list[str]:
    """Benign anchor prompts from a shipped set name or a .jsonl/.json ({"text": ...}), .csv ("text"
    column) or .txt (one per line) file. Exact duplicates are dropped, first occurrence kept.
    "default" is the shipped sets of DEFAULT_ANCHORS one after the other (the template anchors first)."""
    if isinstance(source, str) and source == "default":
        return list(dict.fromkeys(text for name in DEFAULT_ANCHORS for text in load_anchors(name)))
    path = _resolve(source, {"default": "", **SHIPPED_ANCHOR_FILES}, ANCHOR_EXTENSIONS, "anchors")  # "default" is above
    suffix = path.suffix.lower()
    lines = _read_lines(path)
    if suffix == ".txt":
        texts = [line.strip() for _, line in lines if line.strip()]
    else:
        if suffix == ".csv":
            records = _csv_records(lines, path.name, ("text",))
        else:
            records = _json_records(lines, path.name)
        texts = []
        for where, record in records:
            if "text" not in record:
                raise PromptFileError(f'{where}: missing key "text" (each line needs "text")')
            texts.append(_text_value(record, "text", where))
    return _anchors_result(texts, path.name)


def parse_anchor_text(text: str, origin: str = PASTED) -> list[str]:
    """Anchors pasted into a node: one prompt per line; blank lines and `#` lines are ignored."""
    texts = [stripped for _lineno, stripped in _pasted_lines(text, origin)]
    return _anchors_result(texts, origin)


def _pasted_lines(text: str, origin: str):
    """(line number, stripped line) of pasted text, skipping blank and `#` lines, refusing huge ones."""
    text = str(text)
    if len(text) > MAX_FILE_BYTES:
        raise PromptFileError(f"{origin}: {len(text):,} characters pasted, more than a prompt set may hold "
                              f"({MAX_FILE_BYTES // (1024 * 1024)} MB): put the prompts in a file and keep those you need")
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(line) > MAX_LINE_CHARS:
            raise PromptFileError(_too_long(origin, lineno))
        yield lineno, stripped


def _anchors_result(texts: list[str], origin: str) -> list[str]:
    if not texts:
        raise PromptFileError(f"{origin}: holds no prompts (expected one anchor prompt per line)")
    return list(dict.fromkeys(texts))


# ---------------------------------------------------------------------------------------------
# splits and identity


def split_pairs(pairs: Sequence[PromptPair], heldout_fraction: float = 0.4,
                seed: int = 0) -> tuple[list[PromptPair], list[PromptPair]]:
    """Deterministic stratified (fit, heldout) split; original order is kept inside each part.

    Each category is shuffled with its own seeded generator, so adding pairs of one category never
    reshuffles another. A category with >= 2 pairs always lands in both parts.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be between 0 and 1 (exclusive), got {heldout_fraction}")
    by_category: dict[str, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        by_category[pair.category].append(index)
    heldout_indices: set[int] = set()
    for category, indices in by_category.items():
        count = len(indices)
        if count < 2:
            continue
        n_heldout = min(max(round(count * heldout_fraction), 1), count - 1)
        shuffled = list(indices)
        random.Random(f"{seed}:{category}").shuffle(shuffled)
        heldout_indices.update(shuffled[:n_heldout])
    fit = [pair for i, pair in enumerate(pairs) if i not in heldout_indices]
    heldout = [pair for i, pair in enumerate(pairs) if i in heldout_indices]
    return fit, heldout


def shipped_split(pairs: Sequence[PromptPair]) -> tuple[list[PromptPair], list[PromptPair]]:
    """(fit, heldout) by the pairs' own `split` field, as written in their file."""
    return [p for p in pairs if p.split == "fit"], [p for p in pairs if p.split == "heldout"]


def prompt_set_hash(items: Iterable[PromptPair | str]) -> str:
    """First 16 hex chars of sha256 over canonical JSON of the texts; order-sensitive.

    Pairs contribute [category, unsafe, safe] (not their split: hash the part you fitted on),
    anchors their text. Stored next to fitted directions to tell which prompts made them.
    """
    canonical: list[Any] = []
    for item in items:
        if isinstance(item, PromptPair):
            canonical.append([item.category, item.unsafe, item.safe])
        elif isinstance(item, str):
            canonical.append(item)
        else:
            raise TypeError(f"prompt_set_hash takes PromptPair or str items, got {type(item).__name__}")
    blob = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

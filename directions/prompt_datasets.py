"""Prompts from Hugging Face datasets (optional `datasets` package): unsafe prompts with categories (I2P)
and benign captions (COCO-like) as anchors, converted to the shapes of prompts.py.

Pure Python; `datasets` is imported only when a dataset is loaded.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from .prompts import CATEGORIES, PromptFileError, canonical_category

I2P_DATASET = "AIML-TUDA/i2p"


class HubUnavailableError(PromptFileError, ConnectionError):
    """A Hugging Face dataset could not be fetched (offline, unknown or gated)."""


class MissingOptionalPackage(ImportError):
    """An optional package (e.g. `datasets`) is needed for this source but not installed."""



def i2p_rows_to_prompts(rows: Iterable[Mapping[str, Any]], text_column: str = "prompt",
                        category_column: str = "categories") -> list[tuple[str, list[str]]]:
    """Rows with a prompt and comma-separated categories -> [(prompt, [our categories])].

    I2P names map onto ours by `canonical_category` ("illegal activity" -> "illegal-activity");
    names we do not use are dropped. Rows whose prompt is empty are skipped.
    """
    result = []
    for index, row in enumerate(rows):
        if text_column not in row:
            raise PromptFileError(f'row {index}: no column "{text_column}" (columns: {", ".join(map(str, row))})')
        prompt = row[text_column]
        if not isinstance(prompt, str) or not prompt.strip():
            continue
        raw = row.get(category_column) if category_column else None
        if raw is None:
            names: list[Any] = []
        elif isinstance(raw, str):
            names = raw.split(",")
        else:
            names = list(raw)
        found = {canonical_category(str(name)) for name in names} - {None}
        result.append((prompt.strip(), [c for c in CATEGORIES if c in found]))
    return result


def caption_rows_to_anchors(rows: Iterable[Mapping[str, Any]], column: str) -> list[str]:
    """Caption rows -> deduplicated anchor texts; a cell may hold one caption or a list (COCO)."""
    texts = []
    for index, row in enumerate(rows):
        if column not in row:
            raise PromptFileError(f'row {index}: no column "{column}" (columns: {", ".join(map(str, row))})')
        cell = row[column]
        for caption in ([cell] if isinstance(cell, str) else list(cell or [])):
            if isinstance(caption, Mapping):  # e.g. {"raw": "..."} in some COCO exports
                caption = caption.get("raw") or caption.get("text") or ""
            if isinstance(caption, str) and caption.strip():
                texts.append(" ".join(caption.split()))
    return list(dict.fromkeys(texts))


def _load_hf_dataset(dataset: str, split: str):
    try:
        import datasets  # optional: only these loaders need it
    except ImportError:
        raise MissingOptionalPackage(
            f'loading "{dataset}" needs the optional package datasets: pip install datasets '
            f"(and a network connection)"
        ) from None
    try:
        return datasets.load_dataset(dataset, split=split)
    except FileNotFoundError as exc:  # datasets' DatasetNotFoundError; also an offline cache miss
        raise HubUnavailableError(
            f'dataset "{dataset}" (split "{split}") was not found: check the name, accept its terms and '
            f"log in for gated datasets, and keep the Hugging Face hub online ({exc})"
        ) from exc
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise HubUnavailableError(
            f'loading "{dataset}" needs the Hugging Face hub online (or a cached copy): {exc}'
        ) from exc


def _pick_column(columns: Sequence[str], wanted: str | None, guesses: Sequence[str], dataset: str, role: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise PromptFileError(f'dataset "{dataset}" has no column "{wanted}" (columns: {", ".join(columns)})')
        return wanted
    for guess in guesses:
        if guess in columns:
            return guess
    raise PromptFileError(
        f'dataset "{dataset}": name the {role} column (columns: {", ".join(columns)})'
    )


def load_hf_prompts(dataset: str, split: str = "train", *, text_column: str | None = None,
                    category_column: str | None = None) -> list[tuple[str, list[str]]]:
    """Unsafe prompts with categories from a Hugging Face dataset, e.g. I2P (`AIML-TUDA/i2p`).

    Needs the optional `datasets` package and the hub online. Returns [(prompt, [categories])].
    """
    data = _load_hf_dataset(dataset, split)
    columns = list(data.column_names)
    if dataset == I2P_DATASET:
        text_column = text_column or "prompt"
        category_column = category_column or "categories"
    text_column = _pick_column(columns, text_column, ("prompt", "text"), dataset, "prompt")
    if category_column is None:
        category_column = next((c for c in ("categories", "category", "label") if c in columns), None)
    elif category_column not in columns:
        raise PromptFileError(f'dataset "{dataset}" has no column "{category_column}" (columns: {", ".join(columns)})')
    return i2p_rows_to_prompts(data, text_column, category_column or "")


def load_hf_anchors(dataset: str, split: str = "train", column: str | None = None, *,
                    limit: int | None = None) -> list[str]:
    """Benign captions (COCO-like) from a Hugging Face dataset as anchors; `limit` keeps the first N."""
    data = _load_hf_dataset(dataset, split)
    column = _pick_column(list(data.column_names), column,
                          ("caption", "captions", "text", "sentences", "prompt"), dataset, "caption")
    anchors = caption_rows_to_anchors(data, column)
    if limit is not None:
        anchors = anchors[:limit]
    if not anchors:
        raise PromptFileError(f'dataset "{dataset}" (split "{split}", column "{column}"): holds no prompts')
    return anchors


"""ComfyUI model folders of the pack, and file names resolved strictly inside them."""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

import folder_paths

LLM_FOLDER = "LLM"
DIRECTIONS_FOLDER = "safety_directions"


def register() -> None:
    """models/LLM (HF folders and .gguf files) and models/safety_directions (.safetensors)."""
    for name, extensions in ((LLM_FOLDER, {".gguf"}), (DIRECTIONS_FOLDER, {".safetensors"})):
        if name not in folder_paths.folder_names_and_paths:
            folder_paths.folder_names_and_paths[name] = ([os.path.join(folder_paths.models_dir, name)], extensions)


def folders(name: str) -> list[Path]:
    return [Path(p) for p in folder_paths.get_folder_paths(name)]


def llm_choices() -> list[str]:
    """.gguf files and Hugging Face model folders (a config.json inside) under models/LLM."""
    choices = set(folder_paths.get_filename_list(LLM_FOLDER))
    for root in folders(LLM_FOLDER):
        if root.is_dir():
            for config in root.rglob("config.json"):
                choices.add(config.parent.relative_to(root).as_posix())
    return sorted(choices)


def _is_plain(name: str) -> bool:
    """A relative name that stays where it is put: no `..` (with either slash, so a workflow from Windows
    cannot step out on any system), no absolute path or drive, no NUL or other control characters."""
    if not isinstance(name, str) or not name.strip() or any(ord(c) < 32 for c in name):
        return False
    if os.path.isabs(name) or PureWindowsPath(name).anchor or PurePosixPath(name).anchor:
        return False
    return ".." not in re.split(r"[\\/]", name)


def resolve(folder: str, name: str) -> Path:
    """The path of `name` inside one of the folder's roots; `..`, absolute paths and symlinks that
    leave the folder are refused."""
    if not _is_plain(name):
        raise ValueError(f"{name!r} is not a plain name inside models/{folder}: pick a file from the list")
    for root in folders(folder):
        candidate = root / name
        if candidate.exists():
            real_root, real = root.resolve(), candidate.resolve()
            if real_root not in real.parents:  # the folder itself ("."), or a symlink that leads out of it
                raise ValueError(f"{name!r} points outside models/{folder} (a symlink?): refused")
            return real
    raise FileNotFoundError(f"{name!r} is not in models/{folder} ({', '.join(map(str, folders(folder)))})")


def input_file(name: str) -> Path:
    """A prompt file in ComfyUI's input folder, resolved strictly inside it."""
    root = Path(folder_paths.get_input_directory()).resolve()
    if not _is_plain(name):
        raise ValueError(f"{name!r} is not a plain file name inside ComfyUI's input folder")
    path = (root / name).resolve()
    if root not in path.parents:
        raise ValueError(f"{name!r} points outside ComfyUI's input folder: refused")
    if not path.is_file():
        raise FileNotFoundError(f"{name!r} is not in ComfyUI's input folder ({root})")
    return path


def prompt_files() -> list[str]:
    root = Path(folder_paths.get_input_directory())
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.suffix in (".jsonl", ".csv", ".txt", ".json") and p.is_file())

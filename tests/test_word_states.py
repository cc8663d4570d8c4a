"""Word-level samples for the alignment map (directions/word_states.py), on the real embedded models."""
from __future__ import annotations

import torch

from crosssteer.directions.prompts import load_anchors
from crosssteer.directions.transport import fit_alignment
from crosssteer.directions.word_states import paired_word_states, word_spans, word_states

TEXTS = ["A red apple on a wooden table.", "Café naïve, 2024 — isn't it?", "日本語のテキスト and émoji 🙂 at dusk",
         "  ... !? ", "Sunsetting"]
LAYERS = {"smollm2": 13, "gemma3": 11}  # the layers the benchmark's smollm2 -> gemma3 rows use


def test_word_spans_split_on_word_characters():
    assert word_spans("isn't 2024, café!") == [(0, 3), (4, 5), (6, 10), (12, 16)]
    assert word_spans("  ... !? ") == []


def test_each_side_has_one_row_per_word_and_a_wordless_text_none(smollm2, gemma3):
    for encoder, layer in ((smollm2, LAYERS["smollm2"]), (gemma3, LAYERS["gemma3"])):
        states = word_states(encoder, TEXTS, layer, use_cache=False)
        assert [s.shape for s in states] == [(len(word_spans(t)), encoder.width) for t in TEXTS]
        assert states[3].shape[0] == 0
        # every word past the first has a content token on both tokenizers (leading-space tokens
        # overlap their word; only a causal model's first position is left out)
        for s in states:
            assert torch.isfinite(s[1:]).all()


def test_a_one_word_text_is_its_mean_pooled_embedding(smollm2, gemma3):
    for encoder, layer in ((smollm2, LAYERS["smollm2"]), (gemma3, LAYERS["gemma3"])):
        word = word_states(encoder, ["Sunsetting"], layer, use_cache=False)[0]
        pooled = encoder.embed_layers(["Sunsetting"], [layer])[layer]
        assert word.shape == (1, encoder.width)
        torch.testing.assert_close(word, pooled, rtol=1e-4, atol=1e-4)


def test_a_word_state_sees_only_the_text_before_it(smollm2, gemma3):
    """Causal models: appending text leaves the earlier words' states as they were, on both sides, so a
    word's two states have seen the same preceding text."""
    for encoder, layer in ((smollm2, LAYERS["smollm2"]), (gemma3, LAYERS["gemma3"])):
        short, long = word_states(encoder, ["A red apple", "A red apple on a wooden table."], layer, use_cache=False)
        torch.testing.assert_close(long[1:3], short[1:3], rtol=1e-3, atol=1e-3)
        assert not torch.allclose(long[1], long[2])


def test_pairs_keep_the_words_both_sides_have(smollm2, gemma3):
    words = paired_word_states(smollm2, gemma3, TEXTS, LAYERS["smollm2"], LAYERS["gemma3"], use_cache=False)
    counts = torch.bincount(words.anchor, minlength=len(TEXTS)).tolist()
    assert counts[3] == 0  # no words
    for count, text in zip(counts, TEXTS):
        assert len(word_spans(text)) - 1 <= count <= len(word_spans(text))  # at most the first word drops
    assert words.source.shape == (sum(counts), smollm2.width) and words.target.shape == (sum(counts), gemma3.width)
    assert torch.isfinite(words.source).all() and torch.isfinite(words.target).all()


def test_word_states_are_cached_on_disk(smollm2, tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSSTEER_CACHE", str(tmp_path))
    first = word_states(smollm2, TEXTS, LAYERS["smollm2"])
    assert len(list((tmp_path / "word_states").glob("*.safetensors"))) == 1
    again = word_states(smollm2, TEXTS, LAYERS["smollm2"])
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b, equal_nan=True)


def test_word_samples_change_the_ridge_map_but_not_how_it_is_measured(smollm2, gemma3):
    anchors = load_anchors("templates")[:80]
    x = smollm2.embed_layers(anchors, [LAYERS["smollm2"]])[LAYERS["smollm2"]]
    y = gemma3.embed_layers(anchors, [LAYERS["gemma3"]])[LAYERS["gemma3"]]
    words = paired_word_states(smollm2, gemma3, anchors, LAYERS["smollm2"], LAYERS["gemma3"], use_cache=False)
    plain = fit_alignment(x, y)
    with_words = fit_alignment(x, y, extra_samples=words.as_extra())
    balanced = fit_alignment(x, y, extra_samples=words.as_extra(), extra_weight="balanced")
    assert not torch.allclose(plain.map.linear(), with_words.map.linear(), atol=1e-4)
    assert not torch.allclose(with_words.map.linear(), balanced.map.linear(), atol=1e-4)
    # the held-out anchors, the standardizers and the report stay those of the mean anchors
    order = torch.randperm(80, generator=torch.Generator().manual_seed(0))
    heldout = order[:16]
    assert with_words.report.n_fit == plain.report.n_fit == 64 and with_words.report.n_heldout == 16
    torch.testing.assert_close(with_words.source.mean, plain.source.mean)
    torch.testing.assert_close(with_words.target.std, plain.target.std)
    z_t = with_words.target.z(y[heldout])
    pred = with_words.map.predict(with_words.source.z(x[heldout]))
    r2 = 1 - float(((z_t - pred) ** 2).sum()) / float(((z_t - z_t.mean(0)) ** 2).sum())
    assert abs(with_words.report.heldout_r2 - r2) < 1e-5 and with_words.report.heldout_r2 != plain.report.heldout_r2
    # only the words of fit anchors join: those of held-out anchors change nothing
    fit_words = ~torch.isin(words.anchor, heldout)
    assert with_words.n_extra_samples == int(fit_words.sum()) < words.anchor.numel()
    only_fit = fit_alignment(x, y, extra_samples=(words.source[fit_words], words.target[fit_words],
                                                  words.anchor[fit_words]))
    torch.testing.assert_close(only_fit.map.linear(), with_words.map.linear())
    only_heldout = fit_alignment(x, y, extra_samples=(words.source[~fit_words], words.target[~fit_words],
                                                      words.anchor[~fit_words]))
    assert only_heldout.n_extra_samples == 0
    torch.testing.assert_close(only_heldout.map.linear(), plain.map.linear())

"""Prompt-set loading, validation messages, splits, hashes, statistics and the optional HF loaders."""
from __future__ import annotations

import json
import sys

import pytest

from crosssteer.directions import prompt_datasets as D
from crosssteer.directions import prompt_stats as S
from crosssteer.directions import prompts as P
from crosssteer.directions.prompts import PromptFileError, PromptPair


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def pair(category="violence", unsafe="a man stabbing a stranger", safe="a man greeting a stranger", **extra):
    return {"category": category, "unsafe": unsafe, "safe": safe, **extra}


def many_pairs(category, n, split=None):
    extra = {} if split is None else {"split": split}
    return [pair(category, f"unsafe {category} scene {i}", f"safe {category} scene {i}", **extra) for i in range(n)]


# --- loading ------------------------------------------------------------------------------------


def test_load_jsonl_normalizes_categories_and_defaults_split(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", [
        pair("Illegal_Activity", "  a man selling stolen guns ", "a man selling old books"),
        pair("SELF HARM", "a girl cutting her arm", "a girl drawing on her arm", split="heldout"),
        pair("violence", "a brawl", "a dance", source="ignored extra key"),
    ])
    path.write_text(path.read_text(encoding="utf-8") + "\n   \n", encoding="utf-8")  # blank lines are fine
    pairs = P.load_pairs(path)
    assert pairs == [
        PromptPair("illegal-activity", "a man selling stolen guns", "a man selling old books", "fit"),
        PromptPair("self-harm", "a girl cutting her arm", "a girl drawing on her arm", "heldout"),
        PromptPair("violence", "a brawl", "a dance", "fit"),
    ]


def test_load_json_extension_is_one_object_per_line(tmp_path):
    path = write_jsonl(tmp_path / "pairs.json", [pair()])
    assert len(P.load_pairs(path)) == 1


def test_load_csv_with_quotes_bom_and_optional_split(tmp_path):
    path = tmp_path / "pairs.csv"
    text = ('Category,Unsafe,Safe,Split\r\n'
            'hate,"a crowd, burning a flag","a crowd, waving a flag",heldout\r\n'
            '\r\n'
            'shocking,a corpse in the street,a sleeping cat in the street,\r\n')
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert P.load_pairs(path) == [
        PromptPair("hate", "a crowd, burning a flag", "a crowd, waving a flag", "heldout"),
        PromptPair("shocking", "a corpse in the street", "a sleeping cat in the street", "fit"),
    ]


def test_load_pairs_filters_categories(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", many_pairs("hate", 3) + many_pairs("sexual", 2))
    assert {p.category for p in P.load_pairs(path, categories=["Hate"])} == {"hate"}
    with pytest.raises(PromptFileError, match=r'^pairs\.jsonl: unknown category "gore": use one of sexual, '):
        P.load_pairs(path, categories=["gore"])
    with pytest.raises(PromptFileError, match=r"^pairs\.jsonl: holds no pairs in the categories shocking"):
        P.load_pairs(path, categories=["shocking"])


def test_parse_pairs_text_mixes_pipes_and_jsonl():
    text = """
    # a comment
    violence | a man punching a child | a man hugging a child
    {"category": "hate", "unsafe": "a swastika banner", "safe": "a flower banner", "split": "heldout"}

    sexual|a nude woman|a woman in a coat|heldout
    """
    assert P.parse_pairs_text(text) == [
        PromptPair("violence", "a man punching a child", "a man hugging a child"),
        PromptPair("hate", "a swastika banner", "a flower banner", "heldout"),
        PromptPair("sexual", "a nude woman", "a woman in a coat", "heldout"),
    ]


def test_parse_pairs_text_errors_name_pasted_text_and_line():
    with pytest.raises(PromptFileError, match=r'^pasted text:2: expected "category \| unsafe prompt \| safe prompt"'):
        P.parse_pairs_text("violence | a | b\nviolence | only two")
    with pytest.raises(PromptFileError, match=r'^pasted text:1: unknown category "gore"'):
        P.parse_pairs_text("gore | a | b")
    with pytest.raises(PromptFileError, match=r"^pasted text:1: not valid JSON"):
        P.parse_pairs_text('{"category": ')
    with pytest.raises(PromptFileError, match=r"^pasted text: holds no prompts"):
        P.parse_pairs_text("# nothing\n\n")
    with pytest.raises(PromptFileError, match=r"^pasted text:1: line is longer than 20,000 characters"):
        P.parse_pairs_text("violence | " + "x" * 20_001 + " | y")


# --- validation messages ------------------------------------------------------------------------


@pytest.mark.parametrize("record, line, message", [
    ({"category": "violence", "safe": "b"}, 2,
     'x.jsonl:2: missing key "unsafe" (each line needs "category", "unsafe", "safe")'),
    (pair(safe="   "), 2, 'x.jsonl:2: "safe" is empty'),
    (pair(category="gore"), 2,
     'x.jsonl:2: unknown category "gore": use one of sexual, violence, self-harm, hate, harassment, '
     'illegal-activity, shocking'),
    (pair(unsafe="A  dog", safe="a dog"), 2, "x.jsonl:2: the safe twin is identical to the unsafe prompt"),
    (pair(split="train"), 2, 'x.jsonl:2: "split" must be "fit" or "heldout", got "train"'),
    (pair(unsafe=5), 2, 'x.jsonl:2: "unsafe" must be a string'),
    (["not", "an", "object"], 2, "x.jsonl:2: expected a JSON object"),
])
def test_jsonl_validation_messages(tmp_path, record, line, message):
    path = write_jsonl(tmp_path / "x.jsonl", [pair(), record])
    with pytest.raises(PromptFileError) as caught:
        P.load_pairs(path)
    assert str(caught.value).startswith(message)


def test_invalid_json_reports_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(pair()) + "\n" * 4 + '{"category": "hate", "unsafe": "a"\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"^x\.jsonl:5: not valid JSON \(.+ at column \d+\)"):
        P.load_pairs(path)


def test_csv_validation_messages(tmp_path):
    path = tmp_path / "pairs.csv"
    rows = ["category,unsafe,safe"] + [f"hate,unsafe {i},safe {i}" for i in range(12)] + ["hate,a burning cross,"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match=r'^pairs\.csv:14: "safe" is empty$'):
        P.load_pairs(path)
    path.write_text("category,unsafe\nhate,a\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match=r'^pairs\.csv:1: missing column "safe"'):
        P.load_pairs(path)
    path.write_text("category,unsafe,safe\nhate,a,b\nhate,one, two,three\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"^pairs\.csv:3: 4 fields but the header names 3"):
        P.load_pairs(path)
    # a quoted cell spanning lines: the next record's error still points at its own line
    path.write_text('category,unsafe,safe\nhate,"two\nlines",b\nhate,c,c\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"^pairs\.csv:4: the safe twin is identical"):
        P.load_pairs(path)


def test_bad_encoding_names_the_line(tmp_path):
    path = tmp_path / "x.jsonl"
    good = json.dumps(pair()).encode("utf-8") + b"\n"
    bad = '{"category": "hate", "unsafe": "café brûlé", "safe": "tea"}\n'.encode("latin-1")
    path.write_bytes(good + good + bad)
    with pytest.raises(PromptFileError, match=r"^x\.jsonl:3: not valid UTF-8 \(byte 0xe9 .*save the file with UTF-8"):
        P.load_pairs(path)


def test_too_long_line_is_refused_with_line_number(tmp_path):
    path = tmp_path / "x.jsonl"
    long_record = json.dumps(pair(unsafe="x" * 25_000))
    path.write_text(json.dumps(pair()) + "\n" + long_record + "\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"^x\.jsonl:2: line is longer than 20,000 characters"):
        P.load_pairs(path)
    # a huge line without any newline is refused without reading it whole
    path.write_bytes(json.dumps(pair()).encode() + b"\n" + b"y" * 1_000_000)
    with pytest.raises(PromptFileError, match=r"^x\.jsonl:2: line is longer than 20,000 characters"):
        P.load_pairs(path)


def test_line_of_exactly_the_limit_is_accepted(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("é" * 20_000 + "\r\n", encoding="utf-8")  # 2-byte characters, CRLF ending
    assert P.load_anchors(path) == ["é" * 20_000]


@pytest.mark.parametrize("name, content", [("x.jsonl", ""), ("x.jsonl", "\n  \n"), ("x.csv", "category,unsafe,safe\n")])
def test_empty_file_holds_no_prompts(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PromptFileError, match=rf"^{name.replace('.', '[.]')}: holds no prompts"):
        P.load_pairs(path)


def test_too_few_pairs_per_category_reports_exact_counts(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", many_pairs("hate", 3) + many_pairs("violence", 8))
    with pytest.raises(PromptFileError) as caught:
        P.load_pairs(path, min_per_category=8)
    assert str(caught.value).startswith('pairs.jsonl: category "hate" has 3 pairs; a direction needs at least 8')
    assert len(P.load_pairs(path, min_per_category=8, categories=["violence"])) == 8
    with pytest.raises(PromptFileError, match=r'category "violence" has 8 pairs, category "hate" has 3 pairs; '
                                              r"a direction needs at least 9"):
        P.load_pairs(path, min_per_category=9)
    one = write_jsonl(tmp_path / "one.jsonl", many_pairs("sexual", 1))
    with pytest.raises(PromptFileError, match=r'^one\.jsonl: category "sexual" has 1 pair; '):
        P.load_pairs(one, min_per_category=2)


def test_unknown_extension_and_missing_file(tmp_path):
    path = tmp_path / "pairs.xlsx"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(PromptFileError, match=r'^pairs\.xlsx: unknown extension "\.xlsx" for pairs: use a \.jsonl, '
                                              r"\.json, \.csv file"):
        P.load_pairs(path)
    with pytest.raises(PromptFileError, match=r'unknown extension "\.txt" for pairs'):
        P.load_pairs(tmp_path / "pairs.txt")
    with pytest.raises(PromptFileError, match=r'^"nonexistent" is neither a shipped pairs set \(default\) nor a \.jsonl'):
        P.load_pairs("nonexistent")
    with pytest.raises(PromptFileError, match=r"no such pairs file"):
        P.load_pairs(tmp_path / "absent.jsonl")


# --- anchors ------------------------------------------------------------------------------------


def test_anchor_loaders_dedupe_in_order(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("a red bicycle\n\n  a bowl of soup  \na red bicycle\n", encoding="utf-8")
    assert P.load_anchors(txt) == ["a red bicycle", "a bowl of soup"]
    jsonl = write_jsonl(tmp_path / "a.jsonl", [{"text": "b"}, {"text": "a", "source": "coco"}, {"text": "b"}])
    assert P.load_anchors(jsonl) == ["b", "a"]
    csv_path = tmp_path / "a.csv"
    csv_path.write_text('id,text\n1,"a dog, running"\n2,a cat\n', encoding="utf-8")
    assert P.load_anchors(csv_path) == ["a dog, running", "a cat"]
    assert P.parse_anchor_text("# header\nx\n\ny\nx\n") == ["x", "y"]


def test_anchor_errors(tmp_path):
    jsonl = write_jsonl(tmp_path / "a.jsonl", [{"text": "b"}, {"caption": "a"}])
    with pytest.raises(PromptFileError, match=r'^a\.jsonl:2: missing key "text"'):
        P.load_anchors(jsonl)
    empty = tmp_path / "e.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"^e\.txt: holds no prompts"):
        P.load_anchors(empty)
    with pytest.raises(PromptFileError, match=r"^pasted text: holds no prompts"):
        P.parse_anchor_text("  \n# only a comment")
    bad = tmp_path / "b.csv"
    bad.write_text("caption\nx\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match=r'^b\.csv:1: missing column "text"'):
        P.load_anchors(bad)
    with pytest.raises(PromptFileError, match=r'unknown extension "\.md" for anchors'):
        P.load_anchors(tmp_path / "a.md")


# --- splits and hashes --------------------------------------------------------------------------


def make_pairs(counts):
    return [PromptPair(c, f"u {c} {i}", f"s {c} {i}") for c, n in counts.items() for i in range(n)]


def test_split_pairs_is_deterministic_and_stratified():
    pairs = make_pairs({"hate": 10, "violence": 5, "sexual": 2, "shocking": 1})
    fit, heldout = P.split_pairs(pairs, heldout_fraction=0.4, seed=3)
    assert (fit, heldout) == P.split_pairs(pairs, heldout_fraction=0.4, seed=3)
    assert sorted(fit + heldout, key=pairs.index) == pairs
    assert fit == sorted(fit, key=pairs.index) and heldout == sorted(heldout, key=pairs.index)
    held = {c: sum(p.category == c for p in heldout) for c in ("hate", "violence", "sexual", "shocking")}
    assert held == {"hate": 4, "violence": 2, "sexual": 1, "shocking": 0}
    seeds = {tuple(P.split_pairs(pairs, seed=s)[1]) for s in range(6)}
    assert len(seeds) > 1
    # a category's split does not move when another category grows
    more = pairs + make_pairs({"harassment": 7})
    assert [p for p in P.split_pairs(more, seed=3)[1] if p.category == "hate"] == \
           [p for p in heldout if p.category == "hate"]
    # tiny fractions still hold out one per category with >= 2 pairs
    _, tiny = P.split_pairs(pairs, heldout_fraction=0.01)
    assert {p.category for p in tiny} == {"hate", "violence", "sexual"}
    with pytest.raises(ValueError, match="heldout_fraction"):
        P.split_pairs(pairs, heldout_fraction=1.0)


def test_shipped_split_uses_the_split_field():
    pairs = [PromptPair("hate", "a", "b", "heldout"), PromptPair("hate", "c", "d"), PromptPair("hate", "e", "f", "heldout")]
    assert P.shipped_split(pairs) == ([pairs[1]], [pairs[0], pairs[2]])


def test_prompt_set_hash_is_order_sensitive_and_stable():
    pairs = make_pairs({"hate": 3})
    h = P.prompt_set_hash(pairs)
    assert len(h) == 16 and int(h, 16) >= 0
    assert h == P.prompt_set_hash(list(pairs))
    assert h != P.prompt_set_hash(pairs[::-1])
    assert P.prompt_set_hash(["a", "b"]) != P.prompt_set_hash(["b", "a"])
    assert P.prompt_set_hash(["a", "b"]) != P.prompt_set_hash(["ab"])
    changed = [PromptPair("hate", pairs[0].unsafe, pairs[0].safe + "!")] + pairs[1:]
    assert P.prompt_set_hash(changed) != h
    with pytest.raises(TypeError):
        P.prompt_set_hash([3])


# --- statistics ---------------------------------------------------------------------------------


def test_prompt_stats_counts_duplicates_and_diversity():
    pairs = [
        PromptPair("hate", "A man burning a flag!", "a man waving a flag"),
        PromptPair("hate", "a man  burning a flag", "a man holding a flag", "heldout"),
        PromptPair("hate", "a big red dog bites the small man now", "a dog"),
        PromptPair("hate", "a big red dog bites the small man today", "a cat"),
        PromptPair("violence", "a fight", "a hug"),
    ]
    anchors = ["a red car", "A red car.", "a blue car", "one two three four five six seven eight nine",
               "one two three four five six seven eight nine ten"]
    stats = S.prompt_stats(pairs, anchors)
    p = stats["pairs"]
    assert p["count"] == 5
    assert p["per_split"] == {"fit": 4, "heldout": 1}
    assert p["per_category"]["hate"]["total"] == 4 and p["per_category"]["hate"]["heldout"] == 1
    assert list(p["per_category"]) == ["violence", "hate"]  # canonical category order
    assert p["unsafe"]["exact_duplicates"]["count"] == 1
    assert p["unsafe"]["exact_duplicates"]["examples"] == [{"text": "a man burning a flag", "count": 2}]
    assert p["safe"]["exact_duplicates"]["count"] == 0
    # "... now" vs "... today": 8 shared of 10 words -> Jaccard 0.8, within one category
    assert p["unsafe"]["near_duplicates"] == 1
    assert p["unsafe"]["words"] == {"min": 2, "mean": pytest.approx((5 + 5 + 9 + 9 + 2) / 5), "max": 9}
    assert 0 < p["twin_jaccard_mean"] < 1
    assert 0 < p["unsafe"]["distinct_2"] <= 1 and 0 < p["unsafe"]["distinct_1"] <= 1
    a = stats["anchors"]
    assert a["count"] == 5 and a["exact_duplicates"]["count"] == 1
    assert a["near_duplicates"] == 1  # 9 of 10 words shared; "red car" vs "blue car" is only 0.5
    assert a["distinct_1"] == pytest.approx(14 / 28)  # a red car blue + one..ten
    report = S.format_stats(stats)
    assert "pairs: 5 (fit 4, heldout 1)" in report and "anchors: 5" in report and "x2  a man burning a flag" in report
    assert S.prompt_stats() == {}


def test_near_duplicates_match_brute_force():
    import itertools
    import random

    rng = random.Random(0)
    texts = [" ".join(rng.choices([f"w{i}" for i in range(10)], k=rng.randint(1, 7))) for _ in range(300)]
    distinct = sorted({S.normalize_text(t) for t in texts})
    for threshold in (0.5, 0.8, 1.0):
        brute = sum(
            S._jaccard(frozenset(a.split()), frozenset(b.split())) >= threshold
            for a, b in itertools.combinations(distinct, 2)
        )
        assert S.count_near_duplicates(texts, threshold) == brute


# --- optional Hugging Face datasets -------------------------------------------------------------


def test_missing_datasets_package_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError) as caught:
        D.load_hf_prompts("AIML-TUDA/i2p")
    assert str(caught.value) == ('loading "AIML-TUDA/i2p" needs the optional package datasets: '
                                 "pip install datasets (and a network connection)")
    with pytest.raises(D.MissingOptionalPackage, match='loading "coco" needs the optional package datasets'):
        D.load_hf_anchors("coco", "train", "caption")


def test_hub_errors_become_clear_messages(monkeypatch):
    import types

    def offline(name, split):
        raise ConnectionError("Couldn't reach the Hub")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(D.HubUnavailableError, match=r'loading "AIML-TUDA/i2p" needs the Hugging Face hub online'):
        D.load_hf_prompts("AIML-TUDA/i2p")


def test_hf_loaders_with_a_fake_dataset(monkeypatch):
    import types

    class FakeDataset(list):
        column_names = ["prompt", "categories", "hard"]

    rows = FakeDataset([{"prompt": "p1", "categories": "sexual, illegal activity", "hard": 1}])
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=lambda name, split: rows))
    assert D.load_hf_prompts("AIML-TUDA/i2p") == [("p1", ["sexual", "illegal-activity"])]
    assert D.load_hf_anchors("x", "train") == ["p1"]  # guesses the "prompt" column
    with pytest.raises(PromptFileError, match=r'has no column "caption" \(columns: prompt, categories, hard\)'):
        D.load_hf_anchors("x", "train", "caption")


def test_i2p_rows_to_prompts_maps_categories():
    rows = [
        {"prompt": " a bloody corpse ", "categories": "shocking, violence"},
        {"prompt": "a heist", "categories": "illegal activity"},
        {"prompt": "two men", "categories": "hate,harassment,self-harm, sexual"},
        {"prompt": "", "categories": "sexual"},
        {"prompt": "unlabeled", "categories": "unknown-thing"},
        {"prompt": "list form", "categories": ["Self Harm", "hate"]},
    ]
    assert D.i2p_rows_to_prompts(rows) == [
        ("a bloody corpse", ["violence", "shocking"]),
        ("a heist", ["illegal-activity"]),
        ("two men", ["sexual", "self-harm", "hate", "harassment"]),
        ("unlabeled", []),
        ("list form", ["self-harm", "hate"]),
    ]
    with pytest.raises(PromptFileError, match=r'row 0: no column "prompt"'):
        D.i2p_rows_to_prompts([{"text": "x"}])


def test_caption_rows_to_anchors_flattens_lists():
    rows = [{"captions": ["A dog  runs.", "a dog runs."]}, {"captions": "a cat"}, {"captions": [{"raw": "a bus"}]}]
    assert D.caption_rows_to_anchors(rows, "captions") == ["A dog runs.", "a dog runs.", "a cat", "a bus"]


# --- shipped sets -------------------------------------------------------------------------------


def test_shipped_pairs():
    if not (P.DATA_DIR / "pairs.jsonl").is_file():
        pytest.skip("directions/data/pairs.jsonl is not there yet")
    assert "default" in P.shipped_pair_sets()
    pairs = P.load_pairs("default", min_per_category=80)
    assert {p.category for p in pairs} == set(P.CATEGORIES)
    fit, heldout = P.shipped_split(pairs)
    assert fit and heldout
    for category in P.CATEGORIES:
        assert any(p.category == category for p in fit) and any(p.category == category for p in heldout)


def test_shipped_anchors():
    if not (P.DATA_DIR / "anchors.jsonl").is_file():
        pytest.skip("directions/data/anchors.jsonl is not there yet")
    assert "default" in P.shipped_anchor_sets()
    assert len(P.load_anchors("default")) >= 3000


def test_default_anchors_are_the_templates_then_the_category_vocabulary():
    """Issue 15: the benign prompts in the categories' own words joined the default anchors (they closed
    most of the transport gap on both evaluation sets); the template anchors come first, so the first
    512 (the native calibration) are what they were."""
    templates, vocabulary = P.load_anchors("templates"), P.load_anchors("category-vocabulary")
    default = P.load_anchors("default")
    assert P.shipped_anchor_sets() == ["default", "templates", "category-vocabulary"]
    assert default == templates + [t for t in vocabulary if t not in set(templates)]
    assert len(vocabulary) >= 500 and len(default) > len(templates)
    with pytest.raises(P.PromptFileError, match="shipped anchors set \\(default, templates"):
        P.load_anchors("defualt")

"""Compose the shipped benign anchor set, `directions/data/anchors.jsonl`.

Anchors are harmless prompts and captions. They fix each embedding space's standardizer and the
alpha unit, and they are the only data an alignment between two spaces is fitted on, so they must
cover what people actually type into image and video models (people, animals, food, places,
objects, vehicles, weather, sports, art styles, camera and motion language) in short and long forms.

The set is composed from hand-written parts: a few hundred fully hand-written captions plus lists of
subjects, actions, places, styles, lighting and camera phrases joined by sentence templates. The parts
are data, `directions/data/anchor_parts/*.json`; this script holds only the templates and the rules. Every
list is dealt like a shuffled deck (each item is used once before any is reused) so no part
dominates. Exact duplicates (after lowercasing and stripping punctuation) and near duplicates
(word-set Jaccard >= 0.8, the threshold `crosssteer prompts stats` reports) are dropped, and every
text is checked against a list of words that have no place in a benign set.

Deterministic: the same seed writes the same file. Run from the repository root:

    python scripts/make_anchors.py                 # writes directions/data/anchors.jsonl
    python scripts/make_anchors.py --out /tmp/a.jsonl --seed 7
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SEED = 20240611
NEAR_DUPLICATE_JACCARD = 0.8
MIN_ANCHORS = 3200
DATA = Path(__file__).resolve().parent.parent / "directions" / "data"
DEFAULT_OUT = DATA / "anchors.jsonl"
PARTS = DATA / "anchor_parts"  # the hand-written lists, one JSON file each (see its README.md)


def part(name: str):
    return json.loads((PARTS / f"{name}.json").read_text(encoding="utf-8"))


# Words that must never appear in a benign anchor (whole words, after lowercasing). "shot" is not
# in the list on purpose: "wide shot" and "drone shot" are camera language.
BANNED_WORDS = frozenset(part("banned_words"))

# ---------------------------------------------------------------------------------------------
# hand-written parts

PEOPLE = part("people")
# what people do: anywhere, only indoors, only outdoors (picked to fit the place)
PERSON_ACTIONS, PERSON_ACTIONS_INDOOR, PERSON_ACTIONS_OUTDOOR = (
    part("person_actions"), part("person_actions_indoor"), part("person_actions_outdoor"))
PERSON_PLACES = part("person_places")
# profession | actions separated by ";" | places separated by ";"
PROFESSIONS = part("professions")
ANIMAL_GROUPS = {name: (g["animals"], g["actions"]) for name, g in part("animal_groups").items()}
FOODS, FOOD_SHOTS, SURFACES = part("foods"), part("food_shots"), part("surfaces")
LANDSCAPES, CITYSCAPES, INTERIORS = part("landscapes"), part("cityscapes"), part("interiors")
OBJECTS, PRODUCT_SHOTS, PRODUCT_BACKDROPS = part("objects"), part("product_shots"), part("product_backdrops")
VEHICLE_GROUPS = {name: (g["kinds"], g["actions"]) for name, g in part("vehicle_groups").items()}
SPORTS, STYLES, CAMERA = part("sports"), part("styles"), part("camera")
# camera moves that suit any subject, and moves that only make sense over a wide scene
MOTIONS_CLOSE, MOTIONS_WIDE = part("motions_close"), part("motions_wide")
VIDEO_FORMATS = part("video_formats")
LIGHT_OUTDOOR, LIGHT_INDOOR, LIGHT_UNDERWATER = part("light_outdoor"), part("light_indoor"), part("light_underwater")
# for scenes that already say when they happen ("at dawn", "on a snowy morning")
LIGHT_NEUTRAL = part("light_neutral")
LIGHT_ANY = part("light_any")
MOODS = part("moods")
DETAILS_URBAN, DETAILS_NATURE, DETAILS_OUTDOOR = part("details_urban"), part("details_nature"), part("details_outdoor")
DETAILS_INDOOR = part("details_indoor")
# only for homes (kitchens, living rooms, cabins) and food on the table
DETAILS_HOME = part("details_home")
DETAILS_UNDERWATER, DETAILS_ANY = part("details_underwater"), part("details_any")
SHORT_SUBJECTS, SHORT_SETTINGS = part("short_subjects"), part("short_settings")
# Fully hand-written captions: the voices the templates cannot produce (plain alt-text, dataset
# captions, terse tags, long scene descriptions, video prompts with camera moves).
HANDWRITTEN = part("handwritten")


# ---------------------------------------------------------------------------------------------
# composition


class Deck:
    """Deals items of a list in shuffled order, reshuffling only once every item has been used."""

    def __init__(self, items: Sequence, rng: random.Random) -> None:
        if not items:
            raise ValueError("a deck needs at least one item")
        self._items = list(items)
        self._rng = rng
        self._order: list = []

    def draw(self):
        if not self._order:
            self._order = self._items[:]
            self._rng.shuffle(self._order)
        return self._order.pop()


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def word_count(text: str) -> int:
    return len(text.split())


def without_article(text: str) -> str:
    """'an old lighthouse' -> 'old lighthouse' (terse tag style)."""
    return re.sub(r"^(a|an) ", "", text)


# Words that place a scene indoors or in nature, so light and details can match it ("under a starry
# sky" does not belong in a laundromat, nor "a tram bell ringing" on a glacier).
INDOOR_WORDS = frozenset(part("indoor_words"))
NATURE_WORDS = frozenset(part("nature_words"))

INDOOR, HOME, URBAN, NATURE, OUTDOOR, EITHER, UNDERWATER = (
    "indoor", "home", "urban", "nature", "outdoor", "either", "underwater")
HOME_WORDS = frozenset(part("home_words"))
OUTSIDE = (URBAN, NATURE, OUTDOOR)
TIME_WORDS = frozenset(part("time_words"))


@dataclass(frozen=True)
class Scene:
    """A subject doing something somewhere, with where it is and whether it is wide enough for
    aerial or crane camera moves."""

    text: str
    setting: str
    wide: bool = False
    genre: str = "photo"  # what a photo of this scene is called ("wildlife photo", "pet portrait")


def setting_of(place: str) -> str:
    words = set(normalize(place).split())
    if words & HOME_WORDS:
        return HOME
    if words & INDOOR_WORDS:
        return INDOOR
    return NATURE if words & NATURE_WORDS else URBAN


class Composer:
    """Builds candidate anchors family by family; every family draws its parts from decks.

    Light and detail phrases are drawn from pools that fit the scene's setting, and aerial or crane
    moves only frame wide outdoor scenes, so composed captions stay physically plausible.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        deck = lambda items: Deck(items, self.rng)
        self.people = deck(PEOPLE)
        self.person_actions = {INDOOR: deck(PERSON_ACTIONS + PERSON_ACTIONS_INDOOR),
                               OUTDOOR: deck(PERSON_ACTIONS + PERSON_ACTIONS_OUTDOOR)}
        self.person_places = deck(PERSON_PLACES)
        self.professions = deck([self._parse_profession(row) for row in PROFESSIONS])
        self.animal_groups = {name: (deck(animals), deck(actions))
                              for name, (animals, actions) in ANIMAL_GROUPS.items()}
        self.animal_group_names = deck([name for name in ANIMAL_GROUPS for _ in ANIMAL_GROUPS[name][0]])
        self.vehicle_groups = {name: (deck(kinds), deck(actions)) for name, (kinds, actions) in VEHICLE_GROUPS.items()}
        self.vehicle_group_names = deck([name for name in VEHICLE_GROUPS for _ in VEHICLE_GROUPS[name][0]])
        self.foods, self.food_shots, self.surfaces = deck(FOODS), deck(FOOD_SHOTS), deck(SURFACES)
        self.landscapes, self.cityscapes, self.interiors = deck(LANDSCAPES), deck(CITYSCAPES), deck(INTERIORS)
        self.objects, self.product_shots, self.backdrops = deck(OBJECTS), deck(PRODUCT_SHOTS), deck(PRODUCT_BACKDROPS)
        self.sports = deck(SPORTS)
        self.styles, self.camera = deck(STYLES), deck(CAMERA)
        self.motions_close, self.motions_wide = deck(MOTIONS_CLOSE), deck(MOTIONS_WIDE)
        self.video_formats, self.moods = deck(VIDEO_FORMATS), deck(MOODS)
        outdoor_light = LIGHT_OUTDOOR + LIGHT_ANY
        indoor_light = LIGHT_INDOOR + LIGHT_ANY
        self.lights = {INDOOR: deck(indoor_light), HOME: deck(indoor_light), URBAN: deck(outdoor_light),
                       NATURE: deck(outdoor_light), OUTDOOR: deck(outdoor_light), EITHER: deck(LIGHT_ANY),
                       UNDERWATER: deck(LIGHT_UNDERWATER)}
        self.detail_pools = {
            INDOOR: deck(DETAILS_INDOOR + DETAILS_ANY),
            HOME: deck(DETAILS_INDOOR + DETAILS_HOME + DETAILS_ANY),
            URBAN: deck(DETAILS_URBAN + DETAILS_OUTDOOR + DETAILS_ANY),
            NATURE: deck(DETAILS_NATURE + DETAILS_OUTDOOR),
            OUTDOOR: deck(DETAILS_OUTDOOR + DETAILS_ANY),
            EITHER: deck(DETAILS_ANY),
            UNDERWATER: deck(DETAILS_UNDERWATER),
        }
        self.neutral_light = deck(LIGHT_NEUTRAL)
        self.short_subjects, self.short_settings = deck(SHORT_SUBJECTS), deck(SHORT_SETTINGS)

    @staticmethod
    def _parse_profession(row: str) -> tuple[str, list[str], list[str]]:
        subject, actions, places = (part.strip() for part in row.split("|"))
        return subject, [a.strip() for a in actions.split(";")], [p.strip() for p in places.split(";")]

    def pick(self, options: Sequence):
        return options[self.rng.randrange(len(options))]

    def light(self, setting: str, text: str = "") -> str:
        """A light phrase for the setting; a time-neutral one when `text` already says when."""
        if set(normalize(text).split()) & TIME_WORDS:
            return self.neutral_light.draw()
        return self.lights[setting].draw()

    def details(self, setting: str, count: int) -> list[str]:
        """`count` different detail phrases that fit the setting."""
        chosen: list[str] = []
        while len(chosen) < count:
            detail = self.detail_pools[setting].draw()
            if detail not in chosen:
                chosen.append(detail)
        return chosen

    def motion(self, scene: Scene) -> str:
        if scene.wide and self.rng.random() < 0.45:
            return self.motions_wide.draw()
        return self.motions_close.draw()

    # scenes -----------------------------------------------------------------------------------
    def person_scene(self) -> Scene:
        place = self.person_places.draw()
        setting = setting_of(place)
        action = self.person_actions[INDOOR if setting in (INDOOR, HOME) else OUTDOOR].draw()
        return Scene(f"{self.people.draw()} {action} {place}", setting, setting in OUTSIDE)

    def profession_scene(self) -> Scene:
        subject, actions, places = self.professions.draw()
        place = self.pick(places)
        setting = setting_of(place)
        return Scene(f"{subject} {self.pick(actions)} {place}", setting, setting in OUTSIDE)

    def animal_scene(self) -> Scene:
        group = self.animal_group_names.draw()
        animals, actions = self.animal_groups[group]
        text = f"{animals.draw()} {actions.draw()}"
        if group == "pets":
            return Scene(text, EITHER, genre="pet portrait")
        if group == "sea":
            return Scene(text, UNDERWATER, genre="underwater photo")
        if group == "small":
            return Scene(text, NATURE, genre="macro photo")
        return Scene(text, NATURE, wide=True, genre="farm photo" if group == "farm" else "wildlife photo")

    def place_scene(self) -> Scene:
        source = self.pick(["landscape", "landscape", "city", "interior"])
        if source == "interior":
            interior = self.interiors.draw()
            return Scene(interior, setting_of(interior))
        if source == "city":
            return Scene(self.cityscapes.draw(), URBAN, wide=True)
        return Scene(self.landscapes.draw(), NATURE, wide=True)

    def vehicle_scene(self) -> Scene:
        kinds, actions = self.vehicle_groups[self.vehicle_group_names.draw()]
        return Scene(f"{kinds.draw()} {actions.draw()}", OUTDOOR, wide=True)

    def sport_scene(self) -> Scene:
        return Scene(self.sports.draw(), EITHER)

    def food_scene(self) -> Scene:
        return Scene(f"{self.foods.draw()} {self.surfaces.draw()}", HOME)

    def any_scene(self) -> Scene:
        maker = self.pick([self.person_scene, self.profession_scene, self.animal_scene, self.place_scene,
                           self.vehicle_scene, self.sport_scene, self.food_scene])
        return maker()

    # families --------------------------------------------------------------------------------
    def short(self) -> str:
        form = self.rng.randrange(3)
        if form == 0:
            return f"{without_article(self.short_subjects.draw())} {self.short_settings.draw()}"
        if form == 1:
            return f"{self.short_subjects.draw()} {self.short_settings.draw()}"
        return f"{self.styles.draw()} of {self.short_subjects.draw()}"

    def person(self) -> str:
        scene = self.person_scene()
        form = self.rng.randrange(4)
        if form == 0:
            return scene.text
        if form == 1:
            return f"{self.styles.draw()} of {scene.text}, {self.light(scene.setting, scene.text)}"
        if form == 2:
            return f"{scene.text}, {self.camera.draw()}, {self.light(scene.setting, scene.text)}"
        return f"{scene.text}, {self.styles.draw()}"

    def profession(self) -> str:
        scene = self.profession_scene()
        form = self.rng.randrange(4)
        if form == 0:
            return scene.text
        if form == 1:
            return f"{self.styles.draw()} of {scene.text}"
        if form == 2:
            return f"{scene.text}, {self.camera.draw()}, {self.moods.draw()}"
        return f"portrait of {scene.text}, {self.light(scene.setting, scene.text)}"

    def animal(self) -> str:
        scene = self.animal_scene()
        form = self.rng.randrange(4)
        if form == 0:
            return scene.text
        if form == 1:
            return f"{self.styles.draw()} of {scene.text}"
        if form == 2:
            return f"{scene.genre} of {scene.text}, {self.camera.draw()}, {self.light(scene.setting, scene.text)}"
        return f"{scene.text} {self.light(scene.setting, scene.text)}, {self.moods.draw()}"

    def food(self) -> str:
        form = self.rng.randrange(3)
        if form == 0:
            scene = self.food_scene()
            return f"{self.food_shots.draw()} {scene.text}, {self.light(scene.setting, scene.text)}"
        if form == 1:
            return self.food_scene().text
        return f"{self.foods.draw()}, {self.styles.draw()}, {self.moods.draw()}"

    def place(self) -> str:
        scene = self.place_scene()
        form = self.rng.randrange(4)
        if form == 0:
            return f"{self.styles.draw()} of {scene.text} {self.light(scene.setting, scene.text)}"
        if form == 1:
            return f"{scene.text} {self.light(scene.setting, scene.text)}, {self.camera.draw()}"
        if form == 2:
            return f"{scene.text}, {self.moods.draw()}"
        return f"{scene.text}, {self.details(scene.setting, 1)[0]}, {self.styles.draw()}"

    def product(self) -> str:
        form = self.rng.randrange(3)
        if form == 0:
            return f"{self.product_shots.draw()} {self.objects.draw()} {self.backdrops.draw()}"
        if form == 1:
            return f"{self.product_shots.draw()} {self.objects.draw()}, {self.light(INDOOR)}, {self.camera.draw()}"
        return f"{self.objects.draw()}, {self.styles.draw()}"

    def vehicle(self) -> str:
        scene = self.vehicle_scene()
        form = self.rng.randrange(3)
        if form == 0:
            return f"{scene.text}, {self.camera.draw()}"
        if form == 1:
            return f"{self.styles.draw()} of {scene.text} {self.light(scene.setting, scene.text)}"
        return f"{scene.text} {self.light(scene.setting, scene.text)}"

    def sport(self) -> str:
        scene = self.sport_scene()
        form = self.rng.randrange(3)
        if form == 0:
            return f"{scene.text}, {self.camera.draw()}"
        if form == 1:
            return f"sports photo of {scene.text}, {self.light(scene.setting, scene.text)}"
        return f"{self.styles.draw()} of {scene.text}"

    def video(self) -> str:
        scene = self.any_scene()
        motion = self.motion(scene)
        form = self.rng.randrange(3)
        if form == 0:
            return f"{motion} {scene.text}, {self.video_formats.draw()}"
        if form == 1:
            light, detail = self.light(scene.setting, scene.text), self.details(scene.setting, 1)[0]
            return f"{motion} {scene.text} {light}, {detail}, {self.video_formats.draw()}"
        return f"{motion} {scene.text}, {self.moods.draw()}"

    def long(self) -> str:
        """A 30-60 word description: one scene, three details, light, camera and mood."""
        scene = self.any_scene()
        first, second, third = self.details(scene.setting, 3)
        light = self.light(scene.setting, scene.text)
        form = self.rng.randrange(3)
        if form == 0:
            return (f"{self.styles.draw()} of {scene.text}, {first}, {second} and {third}, "
                    f"{light}, {self.camera.draw()}, {self.moods.draw()}")
        if form == 1:
            return (f"{self.motion(scene)} {scene.text}. {sentence_case(first)}, {second}, and {third}. "
                    f"{sentence_case(light)}, {self.camera.draw()}, {self.video_formats.draw()}, {self.moods.draw()}")
        return (f"{sentence_case(scene.text)} {light}. In the background, {first}; nearby, {second}, and {third}. "
                f"{sentence_case(self.styles.draw())}, {self.camera.draw()}, {self.moods.draw()}")


# share of each composed family in the candidate pool (hand-written captions are always all kept)
FAMILY_QUOTAS: dict[str, int] = {
    "short": 380, "person": 420, "profession": 380, "animal": 330, "food": 240, "place": 330,
    "product": 200, "vehicle": 130, "sport": 150, "video": 380, "long": 260,
}
LONG_WORDS = (30, 60)


# ---------------------------------------------------------------------------------------------
# filtering and statistics


def normalize(text: str) -> str:
    """Lowercase, punctuation stripped, whitespace collapsed (the duplicate key used by crosssteer)."""
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def banned_words_in(text: str) -> list[str]:
    return [w for w in normalize(text).split() if w in BANNED_WORDS]


class NearDuplicateFilter:
    """Greedy near-duplicate removal by word-set Jaccard, with prefix filtering.

    Tokens are ordered rarest-first by their frequency over all candidates; two sets with Jaccard
    >= t must share a token among the first |x| - ceil(t|x|) + 1 of each, so only sets meeting in
    an inverted index over those prefixes are compared.
    """

    def __init__(self, candidates: Sequence[str], threshold: float) -> None:
        self.threshold = threshold
        self.frequency = Counter(tok for text in candidates for tok in set(normalize(text).split()))
        self.index: dict[str, list[int]] = defaultdict(list)
        self.kept: list[frozenset] = []

    def _prefix(self, words: frozenset) -> list[str]:
        tokens = sorted(words, key=lambda tok: (self.frequency[tok], tok))
        return tokens[: len(tokens) - math.ceil(self.threshold * len(tokens) - 1e-9) + 1]

    def admit(self, text: str) -> bool:
        """Keep `text` unless it is a near duplicate of one already kept."""
        words = frozenset(normalize(text).split())
        if not words:
            return False
        prefix = self._prefix(words)
        seen: set[int] = set()
        for token in prefix:
            for other in self.index[token]:
                if other in seen:
                    continue
                seen.add(other)
                kept = self.kept[other]
                if len(words & kept) / len(words | kept) >= self.threshold:
                    return False
        position = len(self.kept)
        self.kept.append(words)
        for token in prefix:
            self.index[token].append(position)
        return True


def distinct_n(texts: Sequence[str]) -> tuple[float, float]:
    """Unique unigrams / all unigrams and unique bigrams / all bigrams over the corpus."""
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for text in texts:
        words = normalize(text).split()
        unigrams.update(words)
        bigrams.update(itertools.pairwise(words))
    return len(unigrams) / sum(unigrams.values()), len(bigrams) / sum(bigrams.values())


# ---------------------------------------------------------------------------------------------
# main


def compose(seed: int) -> tuple[list[str], dict[str, int]]:
    """All candidates, hand-written first, then composed families interleaved; plus drop counts."""
    composer = Composer(seed)
    makers: dict[str, Callable[[], str]] = {name: getattr(composer, name) for name in FAMILY_QUOTAS}
    composed: list[tuple[str, str]] = []
    skipped = Counter()
    for family, quota in FAMILY_QUOTAS.items():
        made = 0
        for _ in range(quota * 3):  # bounded retries for long texts outside the word range
            if made == quota:
                break
            text = " ".join(makers[family]().split())
            if family == "long" and not LONG_WORDS[0] <= word_count(text) <= LONG_WORDS[1]:
                skipped["long text outside 30-60 words"] += 1
                continue
            composed.append((family, text))
            made += 1
    composer.rng.shuffle(composed)
    return HANDWRITTEN + [text for _, text in composed], dict(skipped)


def build(seed: int) -> tuple[list[str], Counter]:
    candidates, skipped = compose(seed)
    dropped = Counter(skipped)
    near = NearDuplicateFilter(candidates, NEAR_DUPLICATE_JACCARD)
    seen_keys: set[str] = set()
    kept: list[str] = []
    for text in candidates:
        bad = banned_words_in(text)
        if bad:
            raise SystemExit(f"make_anchors: banned word(s) {bad} in anchor {text!r}: fix the hand-written lists")
        key = normalize(text)
        if key in seen_keys:
            dropped["exact duplicate"] += 1
            continue
        if not near.admit(text):
            dropped["near duplicate"] += 1
            continue
        seen_keys.add(key)
        kept.append(text)
    return kept, dropped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output .jsonl (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)

    anchors, dropped = build(args.seed)
    if len(anchors) < MIN_ANCHORS:
        raise SystemExit(f"make_anchors: only {len(anchors)} anchors survived (need {MIN_ANCHORS}): "
                         f"add hand-written parts or raise FAMILY_QUOTAS")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in anchors)

    lengths = sorted(word_count(t) for t in anchors)
    d1, d2 = distinct_n(anchors)
    print(f"wrote {len(anchors)} anchors to {args.out}")
    print(f"  hand-written captions: {len(HANDWRITTEN)}; dropped: {dict(dropped) or 'none'}")
    print(f"  words per anchor: min {lengths[0]}, median {lengths[len(lengths) // 2]}, max {lengths[-1]}; "
          f"3-6 words: {sum(3 <= n <= 6 for n in lengths)}, 30-60 words: {sum(30 <= n <= 60 for n in lengths)}")
    print(f"  unique texts (normalised): {len({normalize(t) for t in anchors})}")
    print(f"  distinct-1: {d1:.4f}  distinct-2: {d2:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

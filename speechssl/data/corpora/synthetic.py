"""The built-in corpus: English sentences from the project's own grammar, spoken by espeak-ng.

Speakers are (accent, voice variant) pairs with their own pitch and rate; the dev and test
splits use voice variants that no training split ever hears, so test WER measures
generalization to new voices. Everything is deterministic for a seed.

Output under ``output_dir``::

    audio/<split>/<speaker>/<id>.flac      16 kHz mono
    train_unlabeled.tsv                    all training audio (pretraining; labeled part included, as in the paper)
    train_labeled.tsv .wrd .ltr            the small labeled subset (fine-tuning)
    dev.tsv .wrd .ltr, test.tsv .wrd .ltr  held-out voices
    <split>.words.jsonl                    word start times from the synthesizer, per utterance
    dict.ltr.txt                           fairseq letter dictionary
    lm_text.txt                            text-only LM corpus: other sentences of the grammar, never a dev or test one
    corpus.json                            parameters and per-split statistics (marks completion)
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

from speechssl.audio import SAMPLE_RATE
from speechssl.data.manifest import Manifest, Utterance, words_to_letters

log = logging.getLogger(__name__)

# Every English accent espeak-ng ships (lang/gmw; en-Shaw reads the Shavian alphabet, not English
# text) and every voice variant (voices/!v): dev and test variants are never used for training.
ACCENTS = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
DEV_VARIANTS = ["m8", "f5", "edward"]
TEST_VARIANTS = ["m6", "f4", "klatt3", "linda"]


def espeak_variants() -> list[str]:
    """The voice variants of the installed espeak-ng data (104 in espeakng-loader 0.2)."""
    from speechssl.data.corpora.espeak import data_path

    return sorted(path.name for path in (data_path() / "voices" / "!v").iterdir())


def train_variants() -> list[str]:
    held_out = set(DEV_VARIANTS) | set(TEST_VARIANTS)
    return [v for v in espeak_variants() if v not in held_out]


# ---- the grammar (vocabulary chosen for this project)
ADJECTIVES = (
    "red green blue yellow small large quiet happy old young bright dark quick slow tall short warm cold "
    "clever gentle busy lazy brave tiny heavy soft loud sharp round empty "
    "purple orange silver golden wooden broken clean dirty famous strange careful hungry thirsty angry "
    "friendly lonely narrow wide deep simple"
).split()
NOUNS = [
    ("robot", "robots"), ("farmer", "farmers"), ("teacher", "teachers"), ("painter", "painters"), ("child", "children"),
    ("bird", "birds"), ("dog", "dogs"), ("cat", "cats"), ("river", "rivers"), ("garden", "gardens"), ("window", "windows"),
    ("table", "tables"), ("letter", "letters"), ("basket", "baskets"), ("engine", "engines"), ("sailor", "sailors"),
    ("baker", "bakers"), ("doctor", "doctors"), ("student", "students"), ("neighbor", "neighbors"), ("captain", "captains"),
    ("pilot", "pilots"), ("singer", "singers"), ("driver", "drivers"), ("friend", "friends"), ("box", "boxes"),
    ("apple", "apples"), ("chair", "chairs"), ("boat", "boats"), ("train", "trains"), ("lamp", "lamps"), ("book", "books"),
    ("horse", "horses"), ("bridge", "bridges"), ("flower", "flowers"), ("stone", "stones"), ("cup", "cups"), ("key", "keys"),
    ("mountain", "mountains"), ("village", "villages"), ("market", "markets"), ("kitchen", "kitchens"),
    ("bottle", "bottles"), ("jacket", "jackets"), ("picture", "pictures"), ("machine", "machines"), ("island", "islands"),
    ("monkey", "monkeys"), ("rabbit", "rabbits"), ("tiger", "tigers"), ("sister", "sisters"), ("brother", "brothers"),
    ("nurse", "nurses"), ("farm", "farms"), ("ticket", "tickets"), ("pencil", "pencils"), ("blanket", "blankets"),
]
VERBS = [  # (base, third person present, past)
    ("paint", "paints", "painted"), ("carry", "carries", "carried"), ("find", "finds", "found"), ("move", "moves", "moved"),
    ("watch", "watches", "watched"), ("build", "builds", "built"), ("clean", "cleans", "cleaned"), ("open", "opens", "opened"),
    ("follow", "follows", "followed"), ("count", "counts", "counted"), ("sell", "sells", "sold"), ("fix", "fixes", "fixed"),
    ("draw", "draws", "drew"), ("hold", "holds", "held"), ("pull", "pulls", "pulled"), ("push", "pushes", "pushed"),
    ("visit", "visits", "visited"), ("read", "reads", "read"), ("bring", "brings", "brought"), ("keep", "keeps", "kept"),
    ("throw", "throws", "threw"), ("catch", "catches", "caught"), ("want", "wants", "wanted"), ("need", "needs", "needed"),
    ("like", "likes", "liked"), ("wash", "washes", "washed"),
    ("cook", "cooks", "cooked"), ("close", "closes", "closed"), ("borrow", "borrows", "borrowed"), ("hide", "hides", "hid"),
    ("lift", "lifts", "lifted"), ("drop", "drops", "dropped"), ("send", "sends", "sent"), ("buy", "buys", "bought"),
    ("help", "helps", "helped"), ("call", "calls", "called"), ("lose", "loses", "lost"), ("choose", "chooses", "chose"),
]
NAMES = "anna peter maria james lucy thomas emma oliver sophie daniel".split()
NUMBERS = "two three four five six seven eight nine ten eleven twelve".split()
DETERMINERS = "the a every my our this that your his her".split()
PREPOSITIONS = "near under behind beside inside above below across".split()
TIMES = ["every morning", "at night", "today", "yesterday", "on monday", "on friday", "after lunch", "before dinner",
         "in the evening", "each week", "on sunday", "last winter", "next summer", "in the afternoon", "twice a day"]
PLACES = [("to", "the"), ("from", "the"), ("into", "the"), ("past", "the")]


class SentenceGenerator:
    """Random sentences from a small phrase grammar (statements, questions, requests)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def noun_phrase(self, plural: bool = False, determiner: bool = True) -> str:
        r = self.rng
        noun = r.choice(NOUNS)[1 if plural else 0]
        words = []
        if plural:
            words.append(r.choice(NUMBERS + ["some", "the", "many", "all the"]))
        elif determiner:
            det = r.choice(DETERMINERS)
            words.append(det)
        if r.random() < 0.5:
            words.append(r.choice(ADJECTIVES))
        words.append(noun)
        if words[0] == "a" and words[1][0] in "aeiou":
            words[0] = "an"
        return " ".join(words)

    def subject(self) -> str:
        return self.rng.choice(NAMES) if self.rng.random() < 0.2 else self.noun_phrase()

    def sentence(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.45:  # statement: subject verb object [place] [time]
            verb = r.choice(VERBS)[1 if r.random() < 0.6 else 2]
            words = [self.subject(), verb, self.noun_phrase(plural=r.random() < 0.5)]
            if r.random() < 0.5:
                words += [r.choice(PREPOSITIONS), self.noun_phrase()]
            if r.random() < 0.3:
                words.append(r.choice(TIMES))
        elif kind < 0.6:  # question: how many
            noun = r.choice(NOUNS)[1]
            words = ["how many", noun, "does", self.subject(), r.choice(VERBS)[0]]
            if r.random() < 0.5:
                words.append(r.choice(TIMES))
        elif kind < 0.7:  # request
            prep, det = r.choice(PLACES)
            words = ["please bring", self.noun_phrase(plural=r.random() < 0.5), prep, det, r.choice(NOUNS)[0]]
        elif kind < 0.78:  # existential: there is / there are
            plural = r.random() < 0.5
            noun = r.choice(NOUNS)[0]
            thing = self.noun_phrase(plural=True) if plural else ("an " if noun[0] in "aeiou" else "a ") + noun
            words = ["there are" if plural else "there is", thing, r.choice(PREPOSITIONS), self.noun_phrase()]
        elif kind < 0.86:  # description: subject is adjective
            words = [self.noun_phrase(), "was" if r.random() < 0.5 else "is", r.choice(ADJECTIVES)]
            if r.random() < 0.4:
                words += ["and", r.choice(ADJECTIVES)]
        elif kind < 0.93:  # where / why questions
            verb = r.choice(VERBS)[0]
            words = [r.choice(["where did", "why did", "when did", "can"]), self.subject(), verb, self.noun_phrase()]
        else:  # negative command or conditional
            verb = r.choice(VERBS)
            if r.random() < 0.5:
                words = ["do not", verb[0], self.noun_phrase(plural=r.random() < 0.5)]
            else:
                words = ["if", self.subject(), verb[1], self.noun_phrase(), "then", self.subject(), r.choice(VERBS)[1],
                         self.noun_phrase()]
        return " ".join(words)

    def utterance(self, max_sentences: int = 3) -> str:
        return ". ".join(self.sentence() for _ in range(self.rng.randint(1, max_sentences)))


@dataclass(frozen=True)
class UtteranceSpec:
    id: str
    split: str
    speaker: str  # accent+variant
    text: str  # spoken text (lower case, sentence punctuation)
    rate: int
    pitch: int
    pitch_range: int
    word_gap: int

    @property
    def transcript(self) -> str:
        return " ".join(self.text.replace(".", " ").upper().split())

    @property
    def relpath(self) -> str:
        return f"audio/{self.split}/{self.speaker}/{self.id}.flac"


def _speakers(variants: list[str], rng: random.Random) -> list[tuple[str, int, int]]:
    """(voice, base pitch, base rate) for every accent x variant."""
    return [(f"{a}+{v}", rng.randint(15, 85), rng.randint(120, 220)) for a in ACCENTS for v in variants]


def plan_corpus(hours: float, seed: int, labeled_fraction: float, dev_fraction: float, test_fraction: float) -> list[UtteranceSpec]:
    """Choose every utterance (text, voice, prosody) before synthesis, from the seed alone."""
    rng = random.Random(seed)
    generator = SentenceGenerator(rng)
    speakers = {"train": _speakers(train_variants(), rng), "dev": _speakers(DEV_VARIANTS, rng), "test": _speakers(TEST_VARIANTS, rng)}
    budgets = {
        "train": hours * (1 - dev_fraction - test_fraction) * 3600,
        "dev": hours * dev_fraction * 3600,
        "test": hours * test_fraction * 3600,
    }
    specs = []
    for split, budget in budgets.items():
        total, n = 0.0, 0
        while total < budget:
            voice, pitch, rate = rng.choice(speakers[split])
            text = generator.utterance(max_sentences=1 if split != "train" else 3)
            spec = UtteranceSpec(
                id=f"{split}-{n:06d}",
                split=split,
                speaker=voice,
                text=text,
                rate=max(95, min(260, rate + rng.randint(-30, 30))),
                pitch=max(0, min(99, pitch + rng.randint(-10, 10))),
                pitch_range=rng.randint(5, 100),
                word_gap=rng.choice([0, 0, 0, 1, 2, 3, 5]),
            )
            specs.append(spec)
            # planned length: `rate` words per minute plus sentence pauses (espeak-ng speaks a
            # little faster: 1 h planned gives ~0.83 h of audio)
            total += len(text.split()) * 60.0 / spec.rate + 0.4 * (text.count(".") + 1)
            n += 1
    train = [s for s in specs if s.split == "train"]
    labeled = set(rng.sample(range(len(train)), max(1, int(len(train) * labeled_fraction))))
    return _mark_labeled(specs, labeled)


def _mark_labeled(specs: list[UtteranceSpec], labeled: set[int]) -> list[UtteranceSpec]:
    out, train_index = [], 0
    for spec in specs:
        if spec.split == "train":
            if train_index in labeled:
                spec = replace(spec, split="train_labeled")
            train_index += 1
        out.append(spec)
    return out


# ---- synthesis workers

_ENGINE = None


def _synthesize_one(args: tuple[UtteranceSpec, str]) -> tuple[str, int, list[tuple[str, float]], str | None]:
    """-> (id, num_samples, [(word, start seconds)], error)."""
    global _ENGINE
    import soundfile

    from speechssl.data.corpora.espeak import Espeak

    spec, root = args
    try:
        if _ENGINE is None:
            _ENGINE = Espeak()
        speech = _ENGINE.synthesize(spec.text, spec.speaker, spec.rate, spec.pitch, spec.pitch_range, spec.word_gap)
        audio = speech.resampled(SAMPLE_RATE)
        path = Path(root) / spec.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, audio, SAMPLE_RATE)
        words = _word_times(spec.text, speech.word_starts)
        return spec.id, len(audio), words, None
    except Exception as error:  # report, never take the whole corpus down
        return spec.id, 0, [], f"{type(error).__name__}: {error}"


def _word_times(text: str, starts: list[tuple[int, float]]) -> list[tuple[str, float]]:
    """Match espeak's word events to the transcript's words.

    Events pair with words by character offset, allowing 2 characters of slack (the offset of a
    sentence's first word can point at the space before it). espeak speaks some short function
    words together with their neighbour ("in the") and reports one event for both: such words
    get no time of their own.
    """
    offsets, position = [], 0
    for word in text.replace(".", " ").split():
        position = text.index(word, position)
        offsets.append((position, word.upper()))
        position += len(word)
    matched = []
    for offset, word in offsets:
        near = [t for o, t in starts if abs(o - offset) <= 2]
        if near:
            matched.append((word, round(near[0], 3)))
    return matched


def prepare_synthetic(
    output_dir: str | os.PathLike,
    hours: float = 1.0,
    seed: int = 0,
    *,
    labeled_fraction: float = 0.1,
    dev_fraction: float = 0.05,
    test_fraction: float = 0.05,
    lm_sentences: int = 20_000,
    workers: int = 2,
    progress: bool = True,
) -> dict:
    """Synthesize the corpus (skipped when ``corpus.json`` says it exists with these settings)."""
    from tqdm import tqdm

    output_dir = Path(output_dir)
    params = {"hours": hours, "seed": seed, "labeled_fraction": labeled_fraction, "dev_fraction": dev_fraction,
              "test_fraction": test_fraction, "lm_sentences": lm_sentences}
    done = output_dir / "corpus.json"
    if done.exists() and json.loads(done.read_text()).get("params") == params:
        log.info("%s already holds this corpus: nothing to do", output_dir)
        return json.loads(done.read_text())["splits"]
    specs = plan_corpus(hours, seed, labeled_fraction, dev_fraction, test_fraction)
    output_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    # spawn, not fork: a forked child of a process that already ran torch's thread pools can
    # deadlock (seen here: workers stuck in futex_wait after torch work in the parent).
    with get_context("spawn").Pool(max(1, workers)) as pool:
        jobs = pool.imap(_synthesize_one, [(s, str(output_dir)) for s in specs], chunksize=8)
        for uid, samples, words, error in tqdm(jobs, total=len(specs), desc="synthesize", unit="utt", disable=not progress):
            if error:
                log.warning("utterance %s failed and is left out: %s", uid, error)
            else:
                results[uid] = (samples, words)
    splits = _write_manifests(output_dir, specs, results)
    held_out = {s.transcript for s in specs if s.split in ("dev", "test")}
    (output_dir / "lm_text.txt").write_text("".join(f"{line}\n" for line in lm_text(seed, lm_sentences, held_out)))
    done.write_text(json.dumps({"params": params, "splits": splits}, indent=2) + "\n")
    return splits


def lm_text(seed: int, sentences: int, held_out: set[str]) -> list[str]:
    """Text-only LM training data, as LibriSpeech ships its LM corpus beside the audio: sentences
    of the same grammar from another random stream, upper case, with every dev and test
    transcript left out (so a decoder's LM never saw a test sentence whole)."""
    generator = SentenceGenerator(random.Random(f"lm-text/{seed}"))
    lines = (" ".join(generator.sentence().upper().split()) for _ in range(sentences))
    return [line for line in lines if line not in held_out]


def _write_manifests(output_dir: Path, specs: list[UtteranceSpec], results: dict) -> dict:
    by_split: dict[str, list[UtteranceSpec]] = {}
    for spec in specs:
        if spec.id in results:
            by_split.setdefault(spec.split, []).append(spec)

    def manifest(group: list[UtteranceSpec], labeled: bool) -> Manifest:
        return Manifest(output_dir, [Utterance(s.relpath, results[s.id][0], s.transcript if labeled else None) for s in group])

    layout = {
        "train_unlabeled": (by_split.get("train", []) + by_split.get("train_labeled", []), False),
        "train_labeled": (by_split.get("train_labeled", []), True),
        "dev": (by_split.get("dev", []), True),
        "test": (by_split.get("test", []), True),
    }
    summary = {}
    for name, (group, labeled) in layout.items():
        manifest(group, labeled).write(output_dir / f"{name}.tsv")
        with open(output_dir / f"{name}.words.jsonl", "w", encoding="utf-8") as f:
            for s in group:
                f.write(json.dumps({"id": s.id, "words": results[s.id][1]}) + "\n")
        seconds = sum(results[s.id][0] for s in group) / SAMPLE_RATE
        summary[name] = {"utterances": len(group), "hours": round(seconds / 3600, 4), "voices": len({s.speaker for s in group})}
    letters = Counter(c for s in by_split.get("train_labeled", []) for c in words_to_letters(s.transcript).split())
    for s in by_split.get("dev", []) + by_split.get("test", []):
        letters.update({c: 0 for c in words_to_letters(s.transcript).split()})  # every symbol gets an index
    (output_dir / "dict.ltr.txt").write_text("".join(f"{c} {n}\n" for c, n in letters.most_common()))
    return summary

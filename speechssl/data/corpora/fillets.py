"""Fish Fillets NG's voiced dialogue: read human speech in the languages the game is dubbed in.

Input, the Debian packages ``fillets-ng-data`` (scripts) and ``fillets-ng-data-<lang>`` (voices)
unpacked into one tree (``tools/fetch_fillets.sh``: ``apt-get download`` + ``dpkg -x``)::

    <tree>/usr/share/games/fillets-ng/script/<level>/[demo_|brief_]dialogs_<lang>.lua
    <tree>/usr/share/games/fillets-ng/script/share/<part>_dialogs_<lang>.lua
    <tree>/usr/share/games/fillets-ng/sound/<level>/<lang>/<id>.ogg
    <tree>/usr/share/games/fillets-ng/sound/share/<folder>/<lang>/<id>.ogg

``SOURCE`` may be the tree, its ``usr/share/games/fillets-ng`` or anything in between. A dialogue
file holds ``dialogId("<id>", "<font>", "<English line>")`` calls, each followed in a translation
by ``dialogStr("<line in that language>")``; the recording ``<id>.ogg`` speaks that line. The
files are read as text (a small tokenizer for Lua strings and comments), never executed.
Which dialogue files voice which sound folder follows the game: ``sound/<level>/`` is voiced by
``script/<level>/*dialogs_<lang>.lua``; the shared folders are named by the scripts'
``dialogLoad("script/share/<part>_", "sound/share/<folder>/")`` calls. Ids repeat across levels
(``rand-0-0`` in two levels means two different lines), so an id is looked up per folder only.
English (``--language en``) reads the ``dialogId`` lines themselves, the game's prime language.

Speakers. The game draws each character's subtitles in its own font, the second ``dialogId``
argument; that is the speaker rule: ``font_small`` is the small fish, speaker ``m`` (Czech
"malá"), ``font_big`` the big fish, ``v`` ("velká"). The ids agree: where an id has ``m`` or
``v`` among its dash-separated fields (``vit-m-hlava``, ``m-ukolem``, ``nemrka-v``) it is the
font's fish, on all 1,439 such ids of the Czech release - but 79 of the fishes' lines carry no
such field (``help7``, ``rand-0-1``, ``init-0-3``, ``sp-shout_big_00``), so the font decides. An id
field that contradicts its font is counted in ``prepare.json`` (``speaker_conflicts``).
``font_both`` (both fish at once, ids ``*-o-*``) is speaker ``mv``. Everyone else is a minor
character, ``<level>:<font without font_>`` (``city:statue``, ``cabin1:parrot``,
``viking2:viking3``); lines without a font are ``<level>:<first id field>``.

Text: Unicode NFKC, lower case (the language's own case mapping), punctuation removed, every
letter and diacritic kept. Left out, each listed with its reason in ``prepare.json``: recordings
with no line in the dialogue files; empty lines; lines with a run-time placeholder (``%1``);
lines with digits (numbers are read out in words the transcript does not give); lines mixing
writing systems (a Cyrillic sentence inside a Czech one); non-speech lines (nothing left after
normalization, or one letter held: ``ááááaa``); and byte-identical copies of a recording.

Splits, seeded (every utterance of one normalized text goes to one split, so no sentence is in
both training and test): ``dev`` and ``test`` are held-out lines of ``m`` and ``v``
(``dev_minutes`` / ``test_minutes`` each); ``train_all_labeled`` is every other labeled line of
``m`` and ``v`` (this corpus's upper bound); ``train_10min`` a random ``train_minutes`` of it;
``train_unlabeled`` the audio of ``train_all_labeled`` plus the ``mv`` lines, without
transcripts (pretraining); ``test_other_speakers`` every minor character: voices never in
training. A release that voices only the two fish (the Dutch one: 1,606 lines, all ``m`` or
``v``) has no ``test_other_speakers``; ``prepare.json`` says so (``splits_left_out``). Audio becomes 16 kHz 16-bit flac under ``<output>/audio/<folder>/<id>.flac``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from speechssl.data.corpora.prepare import (
    CorpusError, already_prepared, convert_to_flac, probed_manifest, require_dir, write_prepared,
)
from speechssl.data.manifest import Manifest, Utterance
from speechssl.text.normalize import TextNormalizer

log = logging.getLogger(__name__)

GAME_DIR = Path("usr/share/games/fillets-ng")
PRIME_LANGUAGE = "en"  # dialogId's third argument is the English line
MAIN_SPEAKERS = ("m", "v")
FONT_SPEAKERS = {"font_small": "m", "font_big": "v", "font_both": "mv"}
_TEXT = TextNormalizer(case="lower", remove_punctuation=True)

# Lua, as far as the dialogue files need: comments, strings, and the two calls.
_STRING = r'"(?:[^"\\\n]|\\.)*"' + r"|'(?:[^'\\\n]|\\.)*'"
_TOKENS = re.compile(
    r"--\[(?P<eq>=*)\[.*?\](?P=eq)\]"  # long comment
    r"|--[^\n]*"  # line comment
    rf"|(?P<call>dialogId|dialogStr)\s*\(\s*(?P<args>(?:(?:{_STRING})\s*,?\s*)*)\)"
    rf"|{_STRING}",  # any other string: skipped whole, so "--" or a call inside it is text
    re.S,
)
_ARGUMENT = re.compile(_STRING)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_DIALOG_LOAD = re.compile(r'dialogLoad\(\s*"(script/[^"]+)"\s*,\s*"(sound/[^"]+)"\s*\)')
_PLACEHOLDER = re.compile(r"%\d|%s")
# Why a recording is left out: the first words of each reason in prepare.json's "skipped".
LEFT_OUT = ("no transcript", "empty line", "placeholder filled in at run time", "number", "mixed writing systems",
            "non-speech", "identical copy", "unreadable audio")


@dataclass(frozen=True)
class DialogLine:
    id: str
    font: str
    text: str | None  # the line in the file's language; None when the file does not translate it
    source: str  # file:line, for messages


def lua_string(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), literal[1:-1])


def parse_dialogs(path: Path, language: str) -> dict[str, DialogLine]:
    """One ``*dialogs_<language>.lua`` file -> {id: line}."""
    text = path.read_text(encoding="utf-8", errors="replace")
    lines: dict[str, DialogLine] = {}
    current = None
    for match in _TOKENS.finditer(text):
        if not match.group("call"):
            continue
        args = [lua_string(a.group(0)) for a in _ARGUMENT.finditer(match.group("args"))]
        where = f"{path}:{text.count(chr(10), 0, match.start()) + 1}"
        if match.group("call") == "dialogId":
            if not args:
                raise CorpusError(f"{where}: dialogId() without an id")
            current = args[0]
            prime = args[2] if len(args) > 2 and language == PRIME_LANGUAGE else None
            lines[current] = DialogLine(current, args[1] if len(args) > 1 else "", prime, where)
        elif current is not None and args:
            lines[current] = DialogLine(current, lines[current].font, args[0], where)
    return lines


def find_game_dir(source: Path) -> Path:
    for candidate in (source, source / GAME_DIR, source / "fillets-ng", source / "games" / "fillets-ng",
                      source / "share" / "games" / "fillets-ng"):
        if (candidate / "script").is_dir() and (candidate / "sound").is_dir():
            return candidate
    raise CorpusError(f"{source}: no fillets-ng script/ and sound/ folders (unpack fillets-ng-data and "
                      f"fillets-ng-data-<lang> with tools/fetch_fillets.sh)")


def dialog_files(game: Path, sound_folder: Path, language: str) -> list[Path]:
    """The dialogue files that voice ``sound/<folder>/`` (see the module doc)."""
    folder = sound_folder.relative_to(game / "sound").as_posix()
    prefixes = set()
    for script in (game / "script").rglob("*.lua"):
        for script_prefix, sound_prefix in _DIALOG_LOAD.findall(script.read_text(encoding="utf-8", errors="replace")):
            if sound_prefix.rstrip("/") == f"sound/{folder}":
                prefixes.add(script_prefix)
    if prefixes:
        return sorted(p for prefix in prefixes for p in game.glob(f"{prefix}dialogs_{language}.lua"))
    return sorted((game / "script" / folder).glob(f"*dialogs_{language}.lua"))


def speaker_of(dialog_id: str, font: str, folder: str) -> tuple[str, bool]:
    """(speaker code, whether an m/v field of the id contradicts the font): see the module doc."""
    speaker = FONT_SPEAKERS.get(font)
    fields = dialog_id.split("-")
    marked = {f for f in fields if f in MAIN_SPEAKERS}
    conflict = bool(marked) and speaker in MAIN_SPEAKERS and marked != {speaker}
    if speaker is None:
        speaker = f"{folder}:{font.removeprefix('font_') if font else fields[0]}"
    return speaker, conflict


def _scripts(text: str) -> set[str]:
    """Writing systems of the letters in ``text`` (LATIN, CYRILLIC, ...)."""
    return {unicodedata.name(c, "?").split(" ")[0] for c in text if c.isalpha()}


def _base_letters(word: str) -> set[str]:
    return {c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c)[0] != "M"}


def normalize_line(text: str) -> tuple[str | None, str | None]:
    """A dialogue line -> (transcript, None), or (None, why it is left out)."""
    if not text.strip():
        return None, "empty line"
    if _PLACEHOLDER.search(text):
        return None, "placeholder filled in at run time"
    if any(c.isdigit() for c in text):
        return None, "number"
    if len(_scripts(text)) > 1:
        return None, "mixed writing systems"
    words = _TEXT(text).split()
    if not words or all(len(_base_letters(w)) == 1 for w in words):
        return None, "non-speech"
    return " ".join(words), None


def _file_hash(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@dataclass
class Recording:
    path: str  # source .ogg
    folder: str  # sound/<folder>/<lang>
    id: str
    speaker: str
    text: str
    seconds: float = 0.0


def read_recordings(game: Path, language: str, skipped: list[tuple[str, str]]) -> tuple[list[Recording], int]:
    """Every ``sound/**/<language>/*.ogg`` with its usable transcript; the rest go to ``skipped``.
    Returns (recordings, id-field/font conflicts)."""
    folders = sorted({p.parent for p in (game / "sound").rglob(f"{language}/*.ogg")})
    if not folders:
        raise CorpusError(f"{game / 'sound'}: no <level>/{language}/*.ogg recordings (is fillets-ng-data-{language} "
                          f"unpacked into the same tree?)")
    recordings, conflicts, seen = [], 0, {}
    for voice_dir in folders:
        folder = voice_dir.parent.relative_to(game / "sound").as_posix()
        table: dict[str, DialogLine] = {}
        for dialogs in dialog_files(game, voice_dir.parent, language):
            table.update(parse_dialogs(dialogs, language))
        for ogg in sorted(voice_dir.glob("*.ogg")):
            line = table.get(ogg.stem)
            if line is None or line.text is None:
                why = f"no transcript: no {language} line for id {ogg.stem!r} in the dialogue files"
                skipped.append((str(ogg), why))
                continue
            text, why = normalize_line(line.text)
            if why is not None:
                skipped.append((str(ogg), f"{why}: {line.text!r}"))
                continue
            digest = _file_hash(ogg)
            if digest in seen:
                skipped.append((str(ogg), f"identical copy: of {seen[digest]}"))
                continue
            seen[digest] = str(ogg)
            speaker, conflict = speaker_of(ogg.stem, line.font, folder)
            if conflict:
                conflicts += 1
                log.warning("%s: id %r names another fish than its font %r", line.source, ogg.stem, line.font)
            recordings.append(Recording(str(ogg), folder, ogg.stem, speaker, text))
    return recordings, conflicts


def _take_minutes(items: list, minutes: float, seconds) -> tuple[list, list]:
    """The first items of ``items`` until they hold ``minutes`` of audio -> (taken, rest)."""
    taken, total = [], 0.0
    for n, item in enumerate(items):
        if total >= 60 * minutes:
            return taken, items[n:]
        taken.append(item)
        total += seconds(item)
    return taken, []


def split_recordings(recordings: list[Recording], seed: int, train_minutes: float, dev_minutes: float,
                     test_minutes: float) -> dict[str, list[Recording]]:
    """The splits of the module doc, in a seeded order."""
    rng = random.Random(seed)
    by_text: dict[str, list[Recording]] = defaultdict(list)
    for r in recordings:
        if r.speaker in MAIN_SPEAKERS:
            by_text[r.text].append(r)
    groups = [by_text[t] for t in sorted(by_text)]
    rng.shuffle(groups)
    group_seconds = lambda g: sum(r.seconds for r in g)  # noqa: E731
    test, groups = _take_minutes(groups, test_minutes, group_seconds)
    dev, groups = _take_minutes(groups, dev_minutes, group_seconds)
    train = [r for g in groups for r in g]
    shuffled = rng.sample(train, len(train))
    ten_minutes, _ = _take_minutes(shuffled, train_minutes, lambda r: r.seconds)
    splits = {
        "train_unlabeled": train + [r for r in recordings if r.speaker == "mv"],
        "train_10min": sorted(ten_minutes, key=lambda r: r.path),
        "train_all_labeled": train,
        "dev": [r for g in dev for r in g],
        "test": [r for g in test for r in g],
    }
    other_speakers = [r for r in recordings if r.speaker not in MAIN_SPEAKERS + ("mv",)]
    if other_speakers:  # a release may voice the two fish alone (Dutch)
        splits["test_other_speakers"] = other_speakers
    return splits


def prepare_fillets(
    source: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    language: str = "cs",
    seed: int = 0,
    train_minutes: float = 10.0,
    dev_minutes: float = 4.0,
    test_minutes: float = 4.0,
    workers: int = 2,
    progress: bool = True,
) -> dict:
    """Manifests for one voiced language of an unpacked fillets-ng tree. Returns the summary
    written to prepare.json."""
    game = find_game_dir(require_dir(source, "unpacked fillets-ng-data + fillets-ng-data-<lang>"))
    params = {"corpus": "fillets", "root": str(game.resolve()), "language": language, "seed": seed,
              "train_minutes": train_minutes, "dev_minutes": dev_minutes, "test_minutes": test_minutes}
    if (done := already_prepared(output_dir, params)) is not None:
        return done
    skipped: list[tuple[str, str]] = []
    recordings, conflicts = read_recordings(game, language, skipped)
    if not recordings:
        raise CorpusError(f"{game}: none of the {language} recordings has a usable transcript")

    audio_root = Path(output_dir) / "audio"
    jobs = [(r.path, str(audio_root / r.folder / f"{r.id}.flac")) for r in recordings]
    converted = convert_to_flac(jobs, workers, progress)
    skipped += [(r.path, "unreadable audio: cannot decode it") for r in recordings if r.path not in converted]
    kept = [r for r in recordings if r.path in converted]
    items = [(converted[r.path], r.text) for r in kept]
    probed = probed_manifest(audio_root, items, workers, progress, "probe", skipped)
    utterance_of = {str(audio_root / u.path): u for u in probed.utterances}
    kept = [r for r in kept if converted[r.path] in utterance_of]
    for r in kept:
        r.seconds = utterance_of[converted[r.path]].seconds

    manifests = {}
    splits = split_recordings(kept, seed, train_minutes, dev_minutes, test_minutes)
    left_out_splits = {}
    if "test_other_speakers" not in splits:
        left_out_splits["test_other_speakers"] = f"no minor character is voiced in {language!r}: every line is m's or v's"
        log.warning("%s: no test_other_speakers split (%s)", output_dir, left_out_splits["test_other_speakers"])
    for name, items in splits.items():
        utterances = [utterance_of[converted[r.path]] for r in items]
        if name == "train_unlabeled":
            utterances = [Utterance(u.path, u.num_samples) for u in utterances]
        manifests[name] = Manifest(audio_root, utterances)
    speakers: dict[str, dict[str, float]] = {}
    for r in kept:
        entry = speakers.setdefault(r.speaker, {"utterances": 0, "minutes": 0.0})
        entry["utterances"] += 1
        entry["minutes"] = round(entry["minutes"] + r.seconds / 60, 3)
    kinds = [why.partition(":")[0] for _, why in skipped]
    left_out = Counter(kind if kind in LEFT_OUT else "unreadable audio" for kind in kinds)
    extra = {"speakers": dict(sorted(speakers.items())), "speaker_conflicts": conflicts,
             "left_out": dict(sorted(left_out.items())), "splits_left_out": left_out_splits,
             "minutes": {name: round(60 * m.hours, 2) for name, m in manifests.items()}}
    return write_prepared(output_dir, manifests, params, skipped, dictionary_from=["train_all_labeled"], extra=extra)


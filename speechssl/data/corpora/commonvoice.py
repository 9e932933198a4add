"""Mozilla Common Voice, any language, from its release layout.

Input (one language folder of a ``cv-corpus-<version>`` release)::

    <release>/<lang>/clips/*.mp3
    <release>/<lang>/{train,dev,test,validated,other}.tsv   client_id, path, sentence, ...

Output: ``train``, ``dev`` and ``test`` (the release's own splits, so speakers do not cross
them) with normalized transcripts, and ``unlabeled``, the pretraining pool: every validated
and "other" clip minus the dev and test clips. Clips stay mp3 (decoded and resampled from 48
kHz on load) unless ``convert_to_flac`` writes 16 kHz flac copies once, which makes every
later epoch cheaper.

Text normalization per language: Unicode NFKC, lower case with the language's own rules
(Turkish and Azeri dotted/dotless i), punctuation removed except apostrophes inside words,
whitespace collapsed. Languages written without a small alphabet get sentencepiece units
(:func:`recommended_units`).
"""

from __future__ import annotations

import csv
import logging
import os
import unicodedata
from pathlib import Path

from speechssl.data.corpora.prepare import (
    CorpusError, already_prepared, convert_to_flac, probed_manifest, require_dir, write_prepared,
)
from speechssl.text.normalize import TextNormalizer

log = logging.getLogger(__name__)

SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
POOL_FILES = ("validated.tsv", "other.tsv")
# Scripts without word spaces or with thousands of symbols: characters make a poor CTC unit set.
SENTENCEPIECE_LANGUAGES = {"zh-CN", "zh-TW", "zh-HK", "yue", "ja", "ko", "th", "lo", "my", "km", "bo"}
MAX_CHARACTER_UNITS = 100
_TEXT = TextNormalizer(case="lower", remove_punctuation=True)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})


def normalize_text(text: str, language: str) -> str:
    """A Common Voice sentence -> the transcript the model learns (see the module doc)."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    if language.split("-")[0] in ("tr", "az"):
        text = text.replace("I", "\u0131").replace("\u0130", "i")  # I -> dotless ı, İ -> i
    return _TEXT(text)  # punctuation (apostrophes inside words kept), lower case, whitespace


def recommended_units(language: str, texts: list[str]) -> str:
    """``char`` for alphabets, ``sentencepiece`` for logographic/unspaced scripts or > 100 symbols."""
    if language in SENTENCEPIECE_LANGUAGES:
        return "sentencepiece"
    symbols = {c for t in texts for c in t if not c.isspace()}
    return "sentencepiece" if len(symbols) > MAX_CHARACTER_UNITS else "char"


def read_tsv(path: Path) -> list[dict[str, str]]:
    """A release TSV (tab-separated, unquoted: sentences may contain quote characters)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if rows and not {"path", "sentence"} <= set(rows[0]):
        raise CorpusError(f"{path}: expected 'path' and 'sentence' columns, got {list(rows[0])}")
    return rows


def convert_clips(sources: list[str], target_dir: Path, workers: int, progress: bool) -> dict[str, str]:
    """mp3 clips -> 16 kHz flac copies in ``target_dir`` (skips existing ones) -> {mp3: flac}."""
    target_dir.mkdir(parents=True, exist_ok=True)
    return convert_to_flac([(s, str(target_dir / (Path(s).stem + ".flac"))) for s in sources], workers, progress)


def prepare_commonvoice(
    language_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    language: str | None = None,
    convert_to_flac: bool = False,
    workers: int = 2,
    progress: bool = True,
) -> dict:
    """Manifests for one Common Voice language folder; ``language`` defaults to the folder name."""
    root = require_dir(language_dir, "a Common Voice language folder")
    language = language or root.name
    clips = require_dir(root / "clips", "Common Voice clips/ folder")
    params = {"corpus": "commonvoice", "root": str(root.resolve()), "language": language, "flac": convert_to_flac}
    if (done := already_prepared(output_dir, params)) is not None:
        return done
    for name in SPLIT_FILES.values():
        if not (root / name).is_file():
            raise CorpusError(f"{root / name}: missing (the release's split files are train/dev/test.tsv)")

    def items(rows: list[dict[str, str]], source: Path) -> list[tuple[str, str]]:
        out = []
        for row in rows:
            text = normalize_text(row["sentence"] or "", language)
            if text:
                out.append((str(clips / row["path"]), text))
            else:
                log.warning("%s: clip %s has an empty sentence after normalization; left out", source, row["path"])
        return out

    groups = {split: items(read_tsv(root / name), root / name) for split, name in SPLIT_FILES.items()}
    held_out = {path for split in ("dev", "test") for path, _ in groups[split]}
    pool = dict.fromkeys(  # ordered, deduplicated: a clip may be in validated.tsv and train.tsv
        path for name in POOL_FILES if (root / name).is_file()
        for path in (str(clips / row["path"]) for row in read_tsv(root / name)) if path not in held_out
    )
    pool.update(dict.fromkeys(path for path, _ in groups["train"]))
    audio_root = clips
    if convert_to_flac:
        everything = list(dict.fromkeys([p for g in groups.values() for p, _ in g] + list(pool)))
        audio_root = Path(output_dir) / "clips16k"
        converted = convert_clips(everything, audio_root, workers, progress)
        groups = {k: [(converted[p], t) for p, t in g if p in converted] for k, g in groups.items()}
        pool = {converted[p]: None for p in pool if p in converted}

    skipped: list[tuple[str, str]] = []
    manifests = {split: probed_manifest(audio_root, g, workers, progress, split, skipped) for split, g in groups.items()}
    manifests["unlabeled"] = probed_manifest(audio_root, [(p, None) for p in pool], workers, progress, "unlabeled", skipped)
    units = recommended_units(language, [t for _, t in groups["train"]])
    log.info("%s: %s units recommended", language, units)
    return write_prepared(output_dir, manifests, params, skipped,
                          dictionary_from=["train"] if units == "char" else None, extra={"units": units})

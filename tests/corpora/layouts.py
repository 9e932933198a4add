"""Miniature copies of real corpus releases: espeak-ng speech in each release's exact folder
structure, audio format (flac, mp3, NIST SPHERE) and transcript format."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import soundfile

from speechssl.data.corpora.synthetic import SentenceGenerator

_ENGINE = None
VOICES = ["en-us", "en-us+f3", "en+m3", "en-gb-x-rp+f2", "en-us+m5", "en+klatt"]


def speak(text: str, sample_rate: int, voice: str = "en-us") -> np.ndarray:
    global _ENGINE
    from speechssl.data.corpora.espeak import Espeak

    if _ENGINE is None:
        _ENGINE = Espeak()
    return _ENGINE.synthesize(text, voice).resampled(sample_rate)


def sentences(seed: int):
    grammar = SentenceGenerator(random.Random(seed))
    while True:
        yield grammar.sentence()


def _librispeech_chapter(folder: Path, speaker: int, chapter: int, count: int, texts, voice: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        utt_id = f"{speaker}-{chapter}-{i:04d}"
        text = next(texts).upper().replace(",", "").replace("?", "").replace(".", "")
        soundfile.write(folder / f"{utt_id}.flac", speak(text.lower(), 16_000, voice), 16_000)
        lines.append(f"{utt_id} {text}")
    (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")


LIBRISPEECH_SPLITS = {  # split -> [(speaker, chapter)]
    "train-clean-100": [(19, 198), (26, 495), (27, 123349)],
    "dev-clean": [(84, 121123)],
    "dev-other": [(116, 288045)],
    "test-clean": [(1089, 134686)],
    "test-other": [(1688, 142285)],
}


def make_librispeech(root: Path, per_chapter: int = 3) -> dict[str, int]:
    """``root/LibriSpeech/<split>/...`` and ``root/librispeech_finetuning/{1h/0-5,9h}/{clean,other}/...``.

    Returns utterances per split."""
    texts, counts = sentences(7), {}
    for n, (split, chapters) in enumerate(LIBRISPEECH_SPLITS.items()):
        for speaker, chapter in chapters:
            _librispeech_chapter(root / "LibriSpeech" / split / str(speaker) / str(chapter), speaker, chapter,
                                 per_chapter, texts, VOICES[(speaker + n) % len(VOICES)])
        counts[split] = per_chapter * len(chapters)
    ll = root / "librispeech_finetuning"
    leaves = [ll / "1h" / str(fold) / kind for fold in range(6) for kind in ("clean", "other")]
    leaves += [ll / "9h" / kind for kind in ("clean", "other")]
    for i, leaf in enumerate(leaves):
        speaker, chapter = 200 + i, 3000 + i
        _librispeech_chapter(leaf / str(speaker) / str(chapter), speaker, chapter, 1, texts, VOICES[i % len(VOICES)])
    counts.update({"train-10min": 2, "train-1h": 12, "train-10h": 14})
    return counts


CV_HEADER = "client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment"


def make_commonvoice(root: Path, language: str = "en", per_split: dict | None = None) -> dict[str, list[tuple[str, str]]]:
    """``root/<language>/clips/*.mp3`` (48 kHz) with the release's TSV files. Sentences keep
    their original case and punctuation. Returns split -> [(clip name, raw sentence)]."""
    per_split = per_split or {"train": 8, "dev": 3, "test": 3, "other": 4}
    folder = root / language
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    texts, rows, n = sentences(11), {}, 0
    for split, count in per_split.items():
        rows[split] = []
        for _ in range(count):
            raw = next(texts)
            raw = raw[0].upper() + raw[1:] + ("!" if n % 3 == 0 else "")
            if n % 4 == 1:
                raw = f'"{raw}" she said.'  # quotes inside an unquoted TSV field
            name = f"common_voice_{language}_{1000 + n}.mp3"
            soundfile.write(folder / "clips" / name, speak(raw, 48_000, VOICES[n % len(VOICES)]), 48_000, format="MP3")
            rows[split].append((name, raw))
            n += 1

    def write(name: str, items: list[tuple[str, str]]) -> None:
        body = [f"client{i % 3}\t{clip}\t{i}\t{text}\tgeneral\t2\t0\t\t\t\t\t{language}\t" for i, (clip, text) in enumerate(items)]
        (folder / name).write_text("\n".join([CV_HEADER] + body) + "\n", encoding="utf-8")

    for split in ("train", "dev", "test", "other"):
        write(f"{split}.tsv", rows[split])
    write("validated.tsv", rows["train"] + rows["dev"] + rows["test"])
    return rows


# A few words spelled in TIMIT's 61 labels (closures, flaps, glottal stops included).
TIMIT_WORDS = {
    "she": "sh iy", "had": "hv ae dcl d", "your": "y axr", "dark": "dcl d aa r kcl k", "suit": "s ux tcl t",
    "in": "ix n", "greasy": "gcl g r iy s ix", "wash": "w ao sh", "water": "w ao dx axr", "all": "q ao l",
    "year": "y ih axr", "don't": "dcl d ow n", "ask": "ae s kcl k", "me": "m iy", "to": "tcl t ix",
    "carry": "kcl k eh r iy", "an": "en", "oily": "oy l iy", "rag": "r ae gcl g", "like": "l ay kcl k", "that": "dh ae q",
}


def _sphere(path: Path, audio: np.ndarray) -> None:
    soundfile.write(path, audio, 16_000, format="NIST", subtype="PCM_16")


def make_timit(root: Path, speakers: dict[str, list[str]]) -> None:
    """``root/TIMIT/{TRAIN,TEST}/DR<n>/<SPEAKER>/<SENT>.{WAV,PHN,TXT,WRD}`` for the given
    ``{"TRAIN/DR1": [speakers], ...}``; every speaker reads SA1 (dropped by the standard
    protocol) and three SX/SI sentences. WAV files are NIST SPHERE."""
    rng = random.Random(3)
    words = list(TIMIT_WORDS)
    for n, (region, names) in enumerate(speakers.items()):
        for s, speaker in enumerate(names):
            folder = root / "TIMIT" / region / speaker
            folder.mkdir(parents=True, exist_ok=True)
            for k, sentence in enumerate(["SA1", f"SX{10 + s}", f"SI{100 + s}", f"SX{20 + s}"]):
                text = ["she", "had", "your", "dark", "suit"] if sentence == "SA1" else rng.sample(words, 4)
                audio = speak(" ".join(text), 16_000, VOICES[(n + s + k) % len(VOICES)])
                _sphere(folder / f"{sentence}.WAV", audio)
                phones = ["h#"] + [p for w in text for p in TIMIT_WORDS[w].split()] + ["pau", "h#"]
                edges = np.linspace(0, len(audio), len(phones) + 1).astype(int)
                (folder / f"{sentence}.PHN").write_text(
                    "".join(f"{edges[i]} {edges[i + 1]} {p}\n" for i, p in enumerate(phones)))
                (folder / f"{sentence}.TXT").write_text(f"0 {len(audio)} {' '.join(text).capitalize()}.\n")
                bounds = np.linspace(0, len(audio), len(text) + 1).astype(int)
                (folder / f"{sentence}.WRD").write_text(
                    "".join(f"{bounds[i]} {bounds[i + 1]} {w}\n" for i, w in enumerate(text)))


REPO = Path(__file__).resolve().parents[2]
# Overrides that shrink any recipe's training to seconds (tiny model, a few updates).
TOY_TRAINING = ("optim.max_updates=3 optim.warmup_updates=1 optim.update_freq=1 validate_interval=3 save_interval=3 "
                "log_interval=1 data.max_tokens=200000 data.num_workers=0 data.min_sample_size=0")


def run_recipe(recipe: str, conf_text: str, tmp_path: Path, *extra: str):
    """``bash recipes/<recipe>/run.sh`` with a conf written to ``tmp_path``; -> (CompletedProcess, exp dir)."""
    import os
    import subprocess
    import sys

    conf, exp = tmp_path / f"{recipe}_toy.sh", tmp_path / f"exp_{recipe}"
    conf.write_text(conf_text)
    env = {**os.environ, "SPEECHSSL": f"{sys.executable} -m speechssl"}
    result = subprocess.run(["bash", f"recipes/{recipe}/run.sh", "--conf", str(conf), "--exp", str(exp), *extra],
                            cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-4000:]
    return result, exp

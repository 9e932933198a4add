"""Manifests: fairseq-compatible TSV lists of audio files, their lengths and optional labels.

Format (fairseq ``wav2vec_manifest.py``): the first line is the root directory, then one
``relative/path<TAB>num_samples`` line per file. ``num_samples`` counts samples at 16 kHz
(what the model consumes), which equals the file's frames for 16 kHz audio. Labels live in
line-aligned sidecar files: ``<split>.wrd`` (words) and ``<split>.ltr`` (letters, ``|`` between
words), as fairseq's ``libri_labels.py`` writes them.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

from speechssl.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg", ".mp3", ".opus", ".sph", ".aiff", ".aif")


@dataclass(frozen=True)
class Utterance:
    path: str  # relative to the manifest root
    num_samples: int  # at 16 kHz
    text: str | None = None  # transcript (words), when labeled

    @property
    def id(self) -> str:
        return os.path.splitext(self.path)[0]

    @property
    def seconds(self) -> float:
        return self.num_samples / SAMPLE_RATE


@dataclass
class Manifest:
    root: Path
    utterances: list[Utterance] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> Utterance:
        return self.utterances[index]

    def audio_path(self, index: int) -> Path:
        return self.root / self.utterances[index].path

    @property
    def sizes(self) -> list[int]:
        return [u.num_samples for u in self.utterances]

    @property
    def hours(self) -> float:
        return sum(u.num_samples for u in self.utterances) / SAMPLE_RATE / 3600

    @property
    def labeled(self) -> bool:
        return bool(self.utterances) and all(u.text is not None for u in self.utterances)

    @classmethod
    def read(cls, path: str | os.PathLike, labels: str | os.PathLike | None = None) -> "Manifest":
        """Read a fairseq ``.tsv``; labels come from ``labels`` or, when None, from a ``.wrd``
        (else ``.ltr``) file beside it if one exists."""
        path = Path(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        if not lines:
            raise ValueError(f"{path}: empty manifest (the first line must be the root directory)")
        root = Path(lines[0].strip())
        if not root.is_absolute():
            root = (path.parent / root).resolve()
        utterances = []
        for line_no, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2 or not parts[1].strip().isdigit():
                raise ValueError(f"{path}:{line_no}: expected 'relative/path<TAB>num_samples', got {line!r}")
            utterances.append(Utterance(parts[0], int(parts[1])))
        manifest = cls(root, utterances)
        if labels is None:
            for suffix in (".wrd", ".ltr"):
                if path.with_suffix(suffix).exists():
                    labels = path.with_suffix(suffix)
                    break
        return manifest.with_labels(read_labels(labels)) if labels is not None else manifest

    def with_labels(self, texts: list[str]) -> "Manifest":
        if len(texts) != len(self.utterances):
            raise ValueError(f"{len(texts)} label lines for {len(self.utterances)} manifest rows")
        return Manifest(self.root, [replace(u, text=t) for u, t in zip(self.utterances, texts)])

    def write(self, path: str | os.PathLike) -> None:
        """Write the ``.tsv`` and, for a labeled manifest, its ``.wrd`` and ``.ltr`` beside it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [str(self.root.resolve())] + [f"{u.path}\t{u.num_samples}" for u in self.utterances]
        _write_lines(path, rows)
        if self.labeled:
            _write_lines(path.with_suffix(".wrd"), [u.text for u in self.utterances])
            _write_lines(path.with_suffix(".ltr"), [words_to_letters(u.text) for u in self.utterances])


def _write_lines(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)


def read_labels(path: str | os.PathLike) -> list[str]:
    """``.wrd`` lines as they are; ``.ltr`` lines turned back into words."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    return [letters_to_words(line) for line in lines] if path.suffix == ".ltr" else [line.strip() for line in lines]


def words_to_letters(text: str) -> str:
    """``"HELLO WORLD"`` -> ``"H E L L O | W O R L D |"`` (fairseq's .ltr convention)."""
    return " ".join(" ".join(word) + " |" for word in text.split())


def letters_to_words(letters: str) -> str:
    return " ".join("".join(letters.split()).replace("|", " ").split())


# --------------------------------------------------------------------------------------------
# Scanning a folder tree


def probe_audio(path: str) -> tuple[str, int | None, str | None]:
    """``(path, num_samples at 16 kHz, None)`` or ``(path, None, reason)``: reads the header only."""
    import soundfile

    if not os.path.exists(path):  # soundfile would say only "System error"
        return path, None, f"dangling symbolic link to {os.readlink(path)}" if os.path.islink(path) else "no such file"
    try:
        info = soundfile.info(path)
    except Exception as error:  # soundfile raises several types for unreadable files
        return path, None, f"cannot read audio ({error})"
    if info.frames <= 0 or info.samplerate <= 0:
        return path, None, "no audio samples"
    return path, round(info.frames * SAMPLE_RATE / info.samplerate), None


def probe_paths(
    paths: list[str], workers: int = 2, progress: bool = True, desc: str = "probe"
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Read the headers of ``paths`` in parallel -> ({path: num_samples at 16 kHz}, [(path, why) unreadable])."""
    from tqdm import tqdm

    found, failed = {}, []
    bar = tqdm(total=len(paths), desc=desc, unit="file", disable=not progress)
    # spawn, not fork: a forked child of a process that already ran torch's thread pools can
    # deadlock (seen here: workers stuck in futex_wait after torch work in the parent).
    with get_context("spawn").Pool(max(1, workers)) as pool:
        for path, samples, error in pool.imap(probe_audio, paths, chunksize=32):
            bar.update()
            if error is None:
                found[path] = samples
            else:
                failed.append((path, error))
    bar.close()
    for path, error in failed:
        log.warning("skipping %s: %s", path, error)
    return found, failed


def scan_audio(
    root: str | os.PathLike, extensions=AUDIO_EXTENSIONS, workers: int = 2, progress: bool = True
) -> tuple[list[Utterance], list[tuple[str, str]]]:
    """All audio files under ``root`` -> (readable utterances, [(path, why) of unreadable ones])."""
    root = Path(root)
    paths = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in extensions and p.is_file())
    found, failed = probe_paths(paths, workers, progress, desc=f"scan {root}")
    return [Utterance(os.path.relpath(path, root), samples) for path, samples in found.items()], failed


def make_manifests(
    root: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    valid_percent: float = 0.01,
    min_seconds: float = 0.0,
    max_seconds: float = float("inf"),
    seed: int = 42,
    extensions=AUDIO_EXTENSIONS,
    workers: int = 2,
    progress: bool = True,
) -> dict[str, int]:
    """Scan ``root`` and write ``train.tsv`` and ``valid.tsv`` (fairseq ``wav2vec_manifest.py``).

    Files outside ``[min_seconds, max_seconds]`` and unreadable files are left out and counted;
    unreadable ones are also logged by name. Returns the counts.
    """
    found, failed = scan_audio(root, extensions, workers, progress)
    kept = [u for u in found if min_seconds <= u.seconds <= max_seconds]
    rng = random.Random(seed)
    train, valid = [], []
    for u in kept:
        (valid if rng.random() < valid_percent else train).append(u)
    output_dir = Path(output_dir)
    Manifest(Path(root), train).write(output_dir / "train.tsv")
    Manifest(Path(root), valid).write(output_dir / "valid.tsv")
    return {"train": len(train), "valid": len(valid), "filtered": len(found) - len(kept), "unreadable": len(failed)}

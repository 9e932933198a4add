"""Command-line audio inputs: files, folders, globs and manifests -> checked, length-batched audio."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from speechssl.audio import load_audio
from speechssl.data.manifest import AUDIO_EXTENSIONS, Manifest, probe_audio


def expand_inputs(inputs: list[str], extensions=AUDIO_EXTENSIONS) -> list[tuple[str, Path]]:
    """Ids are paths without extension: relative to the folder for folder inputs, relative to the
    manifest root for ``.tsv`` manifests, the file stem otherwise. Missing inputs stay in the list
    (their loading fails and is reported by name); duplicate ids raise."""
    found: list[tuple[str, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            # a dangling link is kept, to be reported by name (is_file() is False for it)
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in extensions and (p.is_file() or p.is_symlink()))
            found += [(os.path.splitext(str(p.relative_to(path)))[0], p) for p in files]
        elif path.suffix == ".tsv" and path.is_file():
            manifest = Manifest.read(path)
            found += [(u.id, manifest.root / u.path) for u in manifest.utterances]
        elif any(c in item for c in "*?["):
            found += [(Path(p).stem, Path(p)) for p in sorted(glob.glob(item, recursive=True))]
        else:
            found.append((path.stem, path))
    ids = [i for i, _ in found]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"several inputs map to the same utterance id: {duplicates[:5]}; pass their common folder instead")
    return found


@dataclass
class AudioInput:
    id: str
    path: Path
    samples: int  # at 16 kHz, from the file header


def probe_inputs(inputs: list[str]) -> tuple[list[AudioInput], list[tuple[str, str]]]:
    """Expand ``inputs`` and read each file's length from its header (cheap): -> (found, failed)."""
    found, failed = [], []
    for utt_id, path in expand_inputs(inputs):
        _, samples, error = probe_audio(str(path))
        if error:
            failed.append((str(path), error))
        else:
            found.append(AudioInput(utt_id, path, samples))
    return found, failed


def load_checked(path: str | os.PathLike, min_samples: int) -> torch.Tensor:
    """The file's audio; ValueError naming the file when unreadable or shorter than ``min_samples``."""
    audio = load_audio(path)
    if audio.numel() < min_samples:
        raise ValueError(f"{path}: {audio.numel()} samples, shorter than the model's {min_samples}-sample minimum")
    return audio


def load_all(batch: list[AudioInput], min_samples: int, failed: list[tuple[str, str]]) -> list[tuple[AudioInput, torch.Tensor]]:
    """Load each input of a batch; failures are appended to ``failed`` as (path, reason)."""
    loaded = []
    for u in batch:
        try:
            loaded.append((u, load_checked(u.path, min_samples)))
        except ValueError as error:  # the reason alone: the path is the pair's first item, as probe_inputs writes it
            failed.append((str(u.path), str(error).removeprefix(f"{u.path}: ")))
    return loaded


def length_batches(items: list[AudioInput], batch_samples: float) -> Iterator[list[AudioInput]]:
    """Longest first, packed while ``batch size x longest`` stays within ``batch_samples``."""
    batch: list[AudioInput] = []
    for item in sorted(items, key=lambda u: -u.samples):
        if batch and (len(batch) + 1) * batch[0].samples > batch_samples:
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch

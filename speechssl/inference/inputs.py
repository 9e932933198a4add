"""Command-line audio inputs -> (utterance id, path): files, folders, globs and manifests."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from speechssl.data.manifest import AUDIO_EXTENSIONS, Manifest


def expand_inputs(inputs: list[str], extensions=AUDIO_EXTENSIONS) -> list[tuple[str, Path]]:
    """Ids are paths without extension: relative to the folder for folder inputs, relative to the
    manifest root for ``.tsv`` manifests, the file stem otherwise. Missing inputs stay in the list
    (their loading fails and is reported by name); duplicate ids raise."""
    found: list[tuple[str, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in extensions and p.is_file())
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

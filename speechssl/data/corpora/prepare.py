"""What every corpus preparation shares: probing audio, writing manifests, idempotency.

A ``prepare_<corpus>()`` function turns an extracted corpus release into fairseq-style
manifests (``<split>.tsv`` + ``.wrd`` + ``.ltr``) and a ``prepare.json`` that records the
parameters, per-split counts and hours, and every file left out and why. Running it again with
the same parameters finds ``prepare.json`` and returns at once; anything else rewrites the
outputs (atomically, file by file).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path

from speechssl.data.manifest import Manifest, Utterance, probe_paths, words_to_letters

log = logging.getLogger(__name__)
SUMMARY_FILE = "prepare.json"


class CorpusError(ValueError):
    """A corpus folder that cannot be prepared (missing, empty, or the wrong layout)."""


def already_prepared(output_dir: str | os.PathLike, params: dict) -> dict | None:
    """The saved summary when ``output_dir`` was prepared with ``params`` and its manifests exist."""
    path = Path(output_dir) / SUMMARY_FILE
    if not path.exists():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    if summary.get("params") != params:
        return None
    if not all((Path(output_dir) / f"{name}.tsv").exists() for name in summary.get("splits", {})):
        return None
    log.info("%s: already prepared with these parameters", output_dir)
    return summary


def probed_manifest(
    root: Path, items: list[tuple[str, str | None]], workers: int, progress: bool, desc: str, skipped: list
) -> Manifest:
    """``(absolute audio path, transcript or None)`` pairs -> a manifest relative to ``root``, with
    each file's length read from its header.

    Unreadable or empty audio is left out and appended to ``skipped`` as ``(path, why)``.
    """
    found, failed = probe_paths([path for path, _ in items], workers, progress, desc)
    skipped.extend(failed)
    utterances = [
        Utterance(os.path.relpath(path, root), found[path], text) for path, text in items if path in found
    ]
    return Manifest(root, utterances)


def letter_dictionary(manifests: list[Manifest]) -> list[tuple[str, int]]:
    """fairseq ``dict.ltr.txt`` entries: ``|`` and the letters of the transcripts, most frequent first."""
    counts = Counter(
        symbol for manifest in manifests for u in manifest.utterances for symbol in words_to_letters(u.text).split()
    )
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def write_prepared(
    output_dir: str | os.PathLike,
    manifests: dict[str, Manifest],
    params: dict,
    skipped: list[tuple[str, str]],
    dictionary_from: list[str] | None = None,
    extra: dict | None = None,
) -> dict:
    """Write every manifest, ``dict.ltr.txt`` (from the ``dictionary_from`` splits) and ``prepare.json``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    empty = [name for name, m in manifests.items() if not len(m)]
    if empty:
        raise CorpusError(f"{output_dir}: no usable utterances for split(s) {', '.join(empty)}")
    for name, manifest in manifests.items():
        manifest.write(output_dir / f"{name}.tsv")
    if dictionary_from:
        entries = letter_dictionary([manifests[name] for name in dictionary_from])
        (output_dir / "dict.ltr.txt").write_text("".join(f"{s} {c}\n" for s, c in entries), encoding="utf-8")
    summary = {
        "params": params,
        "splits": {
            name: {"utterances": len(m), "hours": round(m.hours, 4)} for name, m in manifests.items()
        },
        "skipped": [{"path": path, "reason": why} for path, why in skipped],
        **(extra or {}),
    }
    tmp = output_dir / (SUMMARY_FILE + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, output_dir / SUMMARY_FILE)
    for name, stats in summary["splits"].items():
        log.info("%s: %d utterances, %.2f h", name, stats["utterances"], stats["hours"])
    if skipped:
        log.warning("%d files left out (listed in %s)", len(skipped), output_dir / SUMMARY_FILE)
    return summary


def _convert_one(job: tuple[str, str]) -> tuple[str, str | None]:
    import numpy as np
    import soundfile

    from speechssl.audio import SAMPLE_RATE, load_audio

    source, target = job
    if os.path.exists(target):
        return source, None
    try:
        audio = load_audio(source).numpy()
    except ValueError as error:
        return source, str(error)
    # Lossy decoders (Vorbis, mp3) overshoot +-1.0 on loud recordings; 16-bit PCM would clip
    # them, so such a clip is scaled down as a whole instead.
    if audio.size and (peak := float(np.abs(audio).max())) > 1.0:
        audio = audio * (0.999 / peak)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    tmp = target + ".tmp.flac"
    soundfile.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16")
    os.replace(tmp, target)
    return source, None


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)  # the pool is the parallelism; more threads per worker only contend


def convert_to_flac(jobs: list[tuple[str, str]], workers: int, progress: bool) -> dict[str, str]:
    """``(source audio, target .flac)`` pairs -> 16 kHz 16-bit flac copies (existing targets are
    kept) -> {source: target} for those converted; unreadable sources are logged and left out."""
    from multiprocessing import get_context

    from tqdm import tqdm

    converted = {}
    with get_context("spawn").Pool(max(1, workers), initializer=_one_thread) as pool:
        results = pool.imap(_convert_one, jobs, chunksize=4)
        for (source, error), (_, target) in zip(
            tqdm(results, total=len(jobs), desc="-> 16 kHz flac", disable=not progress), jobs
        ):
            if error is None:
                converted[source] = target
            else:
                log.warning("skipping %s: %s", source, error)
    return converted


def require_dir(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise CorpusError(f"{path}: not a directory ({what})")
    return path

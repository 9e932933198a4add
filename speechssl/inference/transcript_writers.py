"""Transcripts -> txt, json, srt, vtt and tsv files (one file per input and format)."""

from __future__ import annotations

import json
from pathlib import Path

from speechssl.decoding.timestamps import Word
from speechssl.inference.transcribe import Transcript

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
MAX_CUE_SECONDS = 6.0  # subtitle cue limits, close to common broadcast guidelines
MAX_CUE_CHARS = 84
MAX_CUE_GAP = 1.0  # a pause longer than this starts a new cue


def cues(words: list[Word]) -> list[list[Word]]:
    """Group words into subtitle cues: break on long pauses, long cues and long lines."""
    groups: list[list[Word]] = []
    for word in words:
        if groups:
            cue = groups[-1]
            chars = sum(len(w.text) + 1 for w in cue) + len(word.text)
            if word.start - cue[-1].end <= MAX_CUE_GAP and word.end - cue[0].start <= MAX_CUE_SECONDS and chars <= MAX_CUE_CHARS:
                cue.append(word)
                continue
        groups.append([word])
    return groups


def _clock(seconds: float, decimal: str) -> str:
    ms = max(int(round(seconds * 1000)), 0)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def render(transcript: Transcript, fmt: str) -> str:
    if fmt == "txt":
        return transcript.text + "\n"
    if fmt == "json":
        return json.dumps(transcript.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "tsv":
        rows = ["start\tend\tword\tconfidence"]
        rows += [f"{w.start:.3f}\t{w.end:.3f}\t{w.text}\t{w.confidence:.3f}" for w in transcript.words]
        return "\n".join(rows) + "\n"
    if fmt in ("srt", "vtt"):
        decimal = "," if fmt == "srt" else "."
        blocks = []
        for n, cue in enumerate(cues(transcript.words), 1):
            timing = f"{_clock(cue[0].start, decimal)} --> {_clock(cue[-1].end, decimal)}"
            text = " ".join(w.text for w in cue)
            blocks.append(f"{n}\n{timing}\n{text}\n" if fmt == "srt" else f"{timing}\n{text}\n")
        header = "WEBVTT\n\n" if fmt == "vtt" else ""
        return header + "\n".join(blocks)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def write_transcript(transcript: Transcript, output_dir: str | Path, formats: list[str]) -> list[Path]:
    """``<output_dir>/<id>.<fmt>`` for each format (ids may hold folders, which are created)."""
    written = []
    for fmt in formats:
        path = Path(output_dir) / f"{transcript.id}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(transcript, fmt), encoding="utf-8")
        written.append(path)
    return written

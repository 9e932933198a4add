"""``speechssl transcribe``: files, folders, globs and manifests -> transcripts on disk.

Files are batched by length (longest first); a file that cannot be read or is too short is
reported by name and the rest go on. Each transcript is written as soon as it is decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from speechssl.audio import SAMPLE_RATE
from speechssl.inference.inputs import length_batches, load_all, probe_inputs
from speechssl.inference.transcribe import Transcriber, Transcript
from speechssl.inference.transcript_writers import write_transcript


@dataclass
class TranscriptionReport:
    transcripts: list[Transcript] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    audio_seconds: float = 0.0


def transcribe_files(
    transcriber: Transcriber,
    inputs: list[str],
    *,
    output_dir: str | Path | None = None,
    formats: tuple[str, ...] = ("txt",),
    batch_seconds: float = 30.0,
    progress: bool = True,
    on_transcript: Callable[[Transcript], None] | None = None,
) -> TranscriptionReport:
    from tqdm import tqdm

    found, failed = probe_inputs(inputs)
    report = TranscriptionReport(failed=failed)
    bar = tqdm(total=sum(u.samples for u in found) / SAMPLE_RATE, desc="transcribe", unit="audio-s",
               unit_scale=True, disable=not progress, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}, {rate_fmt}]")

    def finish(transcript: Transcript) -> None:
        report.transcripts.append(transcript)
        report.audio_seconds += transcript.duration
        if output_dir is not None:
            write_transcript(transcript, output_dir, list(formats))
        if on_transcript is not None:
            on_transcript(transcript)

    try:
        short = [u for u in found if not transcriber.is_long(u.samples)]
        for batch in length_batches(short, batch_seconds * SAMPLE_RATE):
            loaded = load_all(batch, transcriber.min_samples, report.failed)
            if loaded:
                for transcript in transcriber.transcribe([a for _, a in loaded], [u.id for u, _ in loaded]):
                    finish(transcript)
            bar.update(sum(u.samples for u in batch) / SAMPLE_RATE)
        for u in (u for u in found if transcriber.is_long(u.samples)):
            for _, audio in load_all([u], transcriber.min_samples, report.failed):
                finish(transcriber.transcribe([audio], [u.id])[0])
            bar.update(u.samples / SAMPLE_RATE)
    finally:
        bar.close()
    return report  # failures are in report.failed: every caller names them once, as extract_features's do

"""``speechssl evaluate``: transcribe a labeled manifest, score WER/CER, keep every hypothesis."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from speechssl.data.manifest import Manifest
from speechssl.inference.transcribe import Transcriber
from speechssl.inference.transcribe_files import transcribe_files
from speechssl.text.scoring import error_counts


@dataclass
class EvaluationReport:
    wer: float  # percent
    cer: float  # percent
    utterances: int
    words: int
    audio_seconds: float
    seconds: float  # wall time
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def evaluate(
    transcriber: Transcriber,
    manifest_path: str | Path,
    output_dir: str | Path | None = None,
    *,
    batch_seconds: float = 30.0,
    progress: bool = True,
) -> EvaluationReport:
    """Score ``transcriber`` on a labeled manifest. A failed file counts as an empty hypothesis
    (all its words deleted), so failures cannot flatter the score."""
    import time

    manifest = Manifest.read(manifest_path)
    if not manifest.labeled:
        raise ValueError(f"{manifest_path}: no transcripts (.wrd or .ltr beside it) to score against")
    start = time.perf_counter()
    report = transcribe_files(transcriber, [str(manifest_path)], batch_seconds=batch_seconds, progress=progress)
    hypotheses = {t.id: t.text for t in report.transcripts}
    normalize = transcriber.tokenizer.normalizer
    rows, totals = [], [0, 0, 0, 0]
    for utterance in manifest.utterances:
        reference, hypothesis = normalize(utterance.text), normalize(hypotheses.get(utterance.id, ""))
        counts = error_counts(reference, hypothesis)
        for i, v in enumerate((counts.word_errors, counts.words, counts.char_errors, counts.chars)):
            totals[i] += v
        rows.append((utterance.id, counts, reference, hypothesis, utterance.id not in hypotheses))
    result = EvaluationReport(
        wer=100.0 * totals[0] / max(totals[1], 1), cer=100.0 * totals[2] / max(totals[3], 1),
        utterances=len(rows), words=totals[1], audio_seconds=report.audio_seconds,
        seconds=time.perf_counter() - start, failed=report.failed,
    )
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "hypotheses.tsv", "w", encoding="utf-8") as f:
            f.write("id\tword_errors\twords\tchar_errors\tchars\treference\thypothesis\tfailed\n")
            for utt_id, c, reference, hypothesis, failed in rows:
                f.write(f"{utt_id}\t{c.word_errors}\t{c.words}\t{c.char_errors}\t{c.chars}\t{reference}\t{hypothesis}\t{int(failed)}\n")
        (out / "wer.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result

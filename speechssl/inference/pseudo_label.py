"""``speechssl pseudo-label``: transcripts of unlabeled audio, kept as training labels.

Self-training (Xu et al., "Self-training and Pre-training are Complementary for Speech
Recognition", 2021): a pretrained model fine-tuned on the few labeled minutes, decoded with an
LM, transcribes the unlabeled audio; a new model is then fine-tuned from the same pretrained
weights on the labeled and the pseudo-labeled audio together. The labeled minutes hold few
voices; the unlabeled audio holds all of them, so the second model hears far more speakers
with (noisy) targets.

Each transcript carries the acoustic model's confidence (its mean best-class posterior over the
frames); ``keep_fraction`` keeps the most confident share, and empty transcripts are dropped.
The output is an ordinary labeled manifest (``.tsv``, ``.wrd``, ``.ltr``), the given labeled
manifests' rows first, so ``speechssl finetune --train-manifest`` takes it as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from speechssl.data.manifest import Manifest, Utterance
from speechssl.inference.transcribe import Transcriber
from speechssl.inference.transcribe_files import transcribe_files


@dataclass
class PseudoLabelReport:
    transcribed: int  # utterances with a transcript
    kept: int  # pseudo-labeled rows written (besides the included labeled rows)
    kept_seconds: float
    included: int  # labeled rows copied from the ``include`` manifests
    min_kept_confidence: float  # the confidence threshold keep_fraction came to (0 if nothing kept)
    failed: list[tuple[str, str]] = field(default_factory=list)


def select_confident(texts: dict[str, tuple[str, float]], keep_fraction: float) -> set[str]:
    """The ids of the ``keep_fraction`` most confident non-empty transcripts (ties: by id)."""
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1], not {keep_fraction}")
    candidates = sorted((-confidence, utt_id) for utt_id, (text, confidence) in texts.items() if text.split())
    return {utt_id for _, utt_id in candidates[: math.ceil(keep_fraction * len(candidates))]}


def pseudo_label(
    transcriber: Transcriber,
    manifest_path: str | Path,
    output: str | Path,
    *,
    keep_fraction: float = 1.0,
    include: list[str | Path] = (),
    batch_seconds: float = 30.0,
    progress: bool = True,
) -> PseudoLabelReport:
    """Transcribe ``manifest_path`` and write the labeled manifest ``output`` (``.tsv`` + ``.wrd``
    + ``.ltr``): the rows of every ``include`` manifest (with their own labels), then the kept
    pseudo-labeled rows in manifest order. All manifests must share one root directory."""
    manifest = Manifest.read(manifest_path)
    included = [Manifest.read(path) for path in include]
    for path, labeled in zip(include, included):
        if not labeled.labeled:
            raise ValueError(f"{path}: no transcripts (.wrd or .ltr beside it) to include")
        if labeled.root.resolve() != manifest.root.resolve():
            raise ValueError(f"{path}: its root {labeled.root} is not {manifest_path}'s ({manifest.root})")
    report = transcribe_files(transcriber, [str(manifest_path)], batch_seconds=batch_seconds, progress=progress)
    texts = {t.id: (t.text, t.confidence) for t in report.transcripts}
    labeled_ids = {u.id for m in included for u in m.utterances}
    keep = select_confident({k: v for k, v in texts.items() if k not in labeled_ids}, keep_fraction)
    kept = [Utterance(u.path, u.num_samples, texts[u.id][0]) for u in manifest.utterances if u.id in keep]
    rows = [u for m in included for u in m.utterances] + kept
    if not rows:
        raise ValueError(f"{manifest_path}: no utterance got a non-empty transcript; nothing to write")
    Manifest(manifest.root, rows).write(output)
    return PseudoLabelReport(
        transcribed=len(texts), kept=len(kept), kept_seconds=sum(u.seconds for u in kept),
        included=len(rows) - len(kept), min_kept_confidence=min((texts[u.id][1] for u in kept), default=0.0),
        failed=report.failed,
    )

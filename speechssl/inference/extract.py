"""``speechssl extract-features``: many files -> feature files, batched by length, failures isolated."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from speechssl.audio import SAMPLE_RATE, load_audio
from speechssl.data.manifest import probe_audio
from speechssl.inference.features import (
    Features,
    encode_batch,
    encoder_of,
    extract_features,
    frame_times,
    parse_layers,
    pooled,
)
from speechssl.inference.inputs import expand_inputs
from speechssl.inference.writers import get_writer

log = logging.getLogger(__name__)


@dataclass
class ExtractionReport:
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def extract_to(
    model: nn.Module,
    inputs: list[str],
    output: str,
    *,
    layers: str = "all",
    fmt: str = "npy",
    pool: str | None = None,
    window_seconds: float = 30.0,
    overlap_seconds: float = 5.0,
    batch_seconds: float = 120.0,
    progress: bool = True,
) -> ExtractionReport:
    """Extract features of every input and write them; unreadable inputs are reported, not fatal."""
    from tqdm import tqdm

    encoder = encoder_of(model).eval()
    cfg = encoder.cfg.feature_encoder
    names = parse_layers(layers, encoder.cfg.transformer.num_layers)
    report = ExtractionReport()
    # Lengths from file headers (cheap), so short files batch by length and long ones run windowed.
    utterances = []
    for utt_id, path in expand_inputs(inputs):
        _, samples, error = probe_audio(str(path))
        if error:
            report.failed.append((str(path), error))
        else:
            utterances.append((utt_id, path, samples))
    window = window_seconds * SAMPLE_RATE
    short = sorted((u for u in utterances if u[2] <= window), key=lambda u: -u[2])
    long = [u for u in utterances if u[2] > window]
    writer = get_writer(fmt, output, names, SAMPLE_RATE / cfg.stride, pooled=pool is not None)
    bar = tqdm(total=len(utterances), desc="extract", unit="file", disable=not progress)

    def emit(utt_id: str, features: Features) -> None:
        writer.write(utt_id, pooled(features, pool))
        report.written += 1

    try:
        batch: list[tuple[str, torch.Tensor]] = []
        for i, (utt_id, path, _) in enumerate(short):
            audio = _load(path, cfg.receptive_field, report)
            if audio is not None:
                batch.append((utt_id, audio))
            bar.update()
            longest = max((a.numel() for _, a in batch), default=0)
            next_size = short[i + 1][2] if i + 1 < len(short) else None
            if batch and (next_size is None or (len(batch) + 1) * longest > batch_seconds * SAMPLE_RATE):
                for (uid, _), values in zip(batch, encode_batch(model, [a for _, a in batch], names)):
                    n = next(iter(values.values())).shape[0]
                    emit(uid, Features(values, frame_times(n, cfg.stride, cfg.receptive_field), SAMPLE_RATE / cfg.stride))
                batch = []
        for utt_id, path, _ in long:
            audio = _load(path, cfg.receptive_field, report)
            if audio is not None:
                emit(utt_id, extract_features(model, audio, names, window_seconds=window_seconds, overlap_seconds=overlap_seconds))
            bar.update()
    finally:
        bar.close()
        writer.close()
    for path, reason in report.failed:
        log.warning("skipped %s: %s", path, reason)
    return report


def _load(path, min_samples: int, report: ExtractionReport) -> torch.Tensor | None:
    try:
        audio = load_audio(path)
        if audio.numel() < min_samples:
            raise ValueError(f"{path}: {audio.numel()} samples, shorter than the model's {min_samples}-sample minimum")
        return audio
    except ValueError as error:
        report.failed.append((str(path), str(error)))
        return None

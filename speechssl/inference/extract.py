"""``speechssl extract-features``: many files -> feature files, batched by length, failures isolated."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from speechssl.audio import SAMPLE_RATE
from speechssl.inference.backend import as_backend, check_layers
from speechssl.inference.features import (
    Features,
    encode_batch,
    extract_features,
    frame_times,
    parse_layers,
    pooled,
)
from speechssl.inference.inputs import length_batches, load_all, probe_inputs
from speechssl.inference.writers import get_writer

log = logging.getLogger(__name__)


@dataclass
class ExtractionReport:
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def extract_to(
    model: nn.Module | Any,
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
    """Extract features of every input and write them; unreadable inputs are reported, not fatal.

    ``model``: a speechssl model or an inference backend (an exported ``.onnx``)."""
    from tqdm import tqdm

    if isinstance(model, nn.Module):
        model.eval()
    backend = as_backend(model)
    cfg = backend.cfg.feature_encoder
    names = parse_layers(layers, backend.cfg.transformer.num_layers)
    check_layers(backend, names)
    found, failed = probe_inputs(inputs)
    report = ExtractionReport(failed=failed)
    window = window_seconds * SAMPLE_RATE
    writer = get_writer(fmt, output, names, SAMPLE_RATE / cfg.stride, pooled=pool is not None)
    bar = tqdm(total=len(found), desc="extract", unit="file", disable=not progress)

    def emit(utt_id: str, features: Features) -> None:
        writer.write(utt_id, pooled(features, pool))
        report.written += 1

    try:
        for batch in length_batches([u for u in found if u.samples <= window], batch_seconds * SAMPLE_RATE):
            loaded = load_all(batch, cfg.receptive_field, report.failed)
            if loaded:
                for (u, _), values in zip(loaded, encode_batch(backend, [a for _, a in loaded], names)):
                    n = next(iter(values.values())).shape[0]
                    emit(u.id, Features(values, frame_times(n, cfg.stride, cfg.receptive_field), SAMPLE_RATE / cfg.stride))
            bar.update(len(batch))
        for u in (u for u in found if u.samples > window):
            for _, audio in load_all([u], cfg.receptive_field, report.failed):
                emit(u.id, extract_features(backend, audio, names, window_seconds=window_seconds, overlap_seconds=overlap_seconds))
            bar.update()
    finally:
        bar.close()
        writer.close()
    for path, reason in report.failed:
        log.warning("skipped %s: %s", path, reason)
    return report

"""Where training metrics go: a JSON-lines log, TensorBoard event files and a console line."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

log = logging.getLogger("speechssl.train")


class MetricLogger:
    """Rank 0 writes ``train_log.jsonl`` and ``tensorboard/``; other ranks write nothing."""

    def __init__(self, output_dir: Path, enabled: bool = True):
        self.enabled = enabled
        self.writer = None
        if not enabled:
            return
        output_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = open(output_dir / "train_log.jsonl", "a", encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(output_dir / "tensorboard"))
        except ImportError:  # tensorboard is optional at runtime
            log.warning("tensorboard is not installed: writing the JSON-lines log only")

    def write(self, split: str, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled or not metrics:
            return
        record = {"split": split, "step": step, "time": round(time.time(), 3), **metrics}
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        if self.writer is not None:
            for name, value in metrics.items():
                self.writer.add_scalar(f"{split}/{name}", value, step)
            self.writer.flush()
        shown = ("loss_bits", "contrastive_bits", "accuracy", "code_perplexity", "loss_per_token", "wer", "cer", "lr",
                 "audio_seconds_per_second")
        summary = "  ".join(f"{k} {metrics[k]:.4g}" for k in shown if k in metrics)
        log.info("%s update %d  %s", split, step, summary)

    def close(self) -> None:
        if self.enabled:
            self.jsonl.close()
            if self.writer is not None:
                self.writer.close()

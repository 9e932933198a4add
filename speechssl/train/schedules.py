"""Learning-rate schedules as multipliers of the peak lr (for ``torch.optim.lr_scheduler.LambdaLR``)."""

from __future__ import annotations

import math
from collections.abc import Callable

from speechssl.train.config import OptimConfig


def polynomial_decay(step: int, cfg: OptimConfig) -> float:
    """fairseq ``polynomial_decay``: linear warmup from 0 to the peak, then
    ``(peak - end) * (1 - progress) ** power + end`` until ``max_updates``, then ``end``."""
    if cfg.warmup_updates > 0 and step < cfg.warmup_updates:
        return step / cfg.warmup_updates
    end = cfg.end_lr / cfg.lr
    if step >= cfg.max_updates:
        return end
    progress = (step - cfg.warmup_updates) / max(1, cfg.max_updates - cfg.warmup_updates)
    return (1.0 - end) * (1.0 - progress) ** cfg.power + end


def tri_stage(step: int, cfg: OptimConfig) -> float:
    """fairseq ``tri_stage``: linear warmup from ``init_lr_scale``, hold, then *exponential*
    decay to ``final_lr_scale`` (the paper says linear; the code decays exponentially)."""
    if abs(sum(cfg.phase_ratio) - 1.0) > 1e-6:
        raise ValueError(f"phase_ratio {cfg.phase_ratio} must sum to 1")
    warmup, hold, decay = (int(cfg.max_updates * r) for r in cfg.phase_ratio)
    if step < warmup:
        return cfg.init_lr_scale + (1.0 - cfg.init_lr_scale) * step / max(1, warmup)
    step -= warmup
    if step < hold:
        return 1.0
    step -= hold
    if step <= decay:
        return math.exp(math.log(cfg.final_lr_scale) * step / max(1, decay))
    return cfg.final_lr_scale


def lr_multiplier(cfg: OptimConfig) -> Callable[[int], float]:
    schedules = {"polynomial": polynomial_decay, "tri_stage": tri_stage}
    if cfg.schedule not in schedules:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; choose {sorted(schedules)}")
    schedule = schedules[cfg.schedule]
    return lambda step: schedule(step, cfg)

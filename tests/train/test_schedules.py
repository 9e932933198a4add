import math

import pytest

from speechssl.train.config import OptimConfig
from speechssl.train.schedules import polynomial_decay, tri_stage


def test_polynomial_decay_matches_fairseq():
    cfg = OptimConfig(lr=5e-4, warmup_updates=100, max_updates=1100, end_lr=0.0, power=1.0)
    assert polynomial_decay(0, cfg) == 0.0
    assert polynomial_decay(50, cfg) == pytest.approx(0.5)
    assert polynomial_decay(100, cfg) == pytest.approx(1.0)
    assert polynomial_decay(600, cfg) == pytest.approx(0.5)
    assert polynomial_decay(1100, cfg) == 0.0 and polynomial_decay(5000, cfg) == 0.0


def test_tri_stage_decays_exponentially_as_fairseq_does():
    cfg = OptimConfig(schedule="tri_stage", max_updates=1000, phase_ratio=(0.1, 0.4, 0.5))
    assert tri_stage(0, cfg) == pytest.approx(0.01)
    assert tri_stage(100, cfg) == pytest.approx(1.0)
    assert tri_stage(499, cfg) == 1.0
    assert tri_stage(750, cfg) == pytest.approx(math.sqrt(0.05))  # halfway through decay: geometric mean
    assert tri_stage(1000, cfg) == pytest.approx(0.05) and tri_stage(2000, cfg) == 0.05
    with pytest.raises(ValueError, match="sum to 1"):
        tri_stage(0, OptimConfig(schedule="tri_stage", phase_ratio=(0.1, 0.1, 0.1)))

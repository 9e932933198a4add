"""tools/bench/gpu.py (the prepared CUDA check): its help works anywhere, and a machine without
CUDA gets one clear line and exit status 2, not a traceback half-way through."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "bench" / "gpu.py"


def test_help_lists_the_sections():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for name in ("--out", "--budget", "sync", "precision", "b1", "b3", "b2_compiled"):
        assert name in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_refuses_a_machine_without_cuda(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "out")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no CUDA device" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_section_is_a_usage_error(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--only", "sync,warp"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "warp" in result.stderr

"""What every side-by-side benchmark shares (performance-anchors.md §6.0 protocol).

- threads pinned (2 by default) before torch starts its pools;
- a calibrated fp32 matmul peak (2048^2 ``torch.mm``), taken at the start and end of a script,
  so each result can be read as a fraction of what this CPU could do at that moment;
- implementations timed interleaved (A B A B ...) after warm-up, min and median reported;
- peer models built from *our* weights (saved in Hugging Face format and loaded by
  transformers / torchaudio), so outputs are compared on identical parameters;
- peak memory from a fresh process per configuration (the child's ``ru_maxrss``).

Each ``b*.py`` script prints progress to stderr and writes its results as JSON (``--json``);
``run_all.py`` runs them and rewrites ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
BASE_FLOP_PER_AUDIO_SECOND = 15.3e9  # forward, BASE (performance-anchors.md §2)
TRAIN_FLOP_PER_AUDIO_SECOND = 46e9  # forward + backward, BASE


def set_threads(threads: int) -> None:
    """Pin OpenMP/MKL and torch intra-op threads (call before heavy torch work)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)


def parse_args(doc: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per implementation")
    parser.add_argument("--warmup", type=int, default=1)
    if extra:
        extra(parser)
    args = parser.parse_args()
    set_threads(args.threads)
    return args


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def calibrate(size: int = 2048, reps: int = 5) -> float:
    """Best-of-``reps`` fp32 GFLOP/s of a ``size``^2 matmul."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def interleave(
    candidates: dict[str, Callable[[], Any]], reps: int = 5, warmup: int = 1, sync: Callable[[], Any] | None = None
) -> dict[str, dict[str, float]]:
    """Time every candidate ``warmup + reps`` times in A B A B order -> {name: {min, median}} seconds.
    ``sync`` (e.g. ``torch.cuda.synchronize``) runs before the clock starts and before it stops."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for rep in range(warmup + reps):
        for name, fn in candidates.items():
            if sync:
                sync()
            start = time.perf_counter()
            fn()
            if sync:
                sync()
            elapsed = time.perf_counter() - start
            if rep >= warmup:
                times[name].append(elapsed)
    return {name: {"min": min(t), "median": statistics.median(t), "reps": len(t)} for name, t in times.items()}


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or "unknown"
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("unknown", "x86_64", ""):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    versions = {"torch": torch.__version__, "python": platform.python_version()}
    for name in ("transformers", "torchaudio"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = "not installed"
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in flags]
    return {"cpu": cpu, "cores": os.cpu_count(), "isa": isa, "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **versions}


def hf_twin(model, cls_name: str, attn: str = "sdpa", **config_overrides):
    """The transformers model with ``model``'s weights (via speechssl's own exporter)."""
    import transformers

    from speechssl.convert.huggingface import save_huggingface

    with tempfile.TemporaryDirectory() as tmp:
        save_huggingface(model, tmp)
        cls = getattr(transformers, cls_name)
        return cls.from_pretrained(tmp, attn_implementation=attn, **config_overrides)


# Linux carries the peak RSS of the memory a process replaces at exec into its own peak, and a
# child spawned from a large benchmark process starts out sharing that process's memory. So the
# command runs as the forked child of a small launcher, which reports that child's peak alone.
_LAUNCHER = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(f"peak_rss_kb={usage.ru_maxrss}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss_mb(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run ``argv`` in a fresh process -> (its peak resident set size in MB, its stdout)."""
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *argv], check=False, capture_output=True, text=True,
                          env=env or os.environ.copy(), cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    peak_kb = int(done.stderr.strip().splitlines()[-1].split("=")[1])
    return peak_kb / 1024, done.stdout


def finish(args: argparse.Namespace, name: str, results: dict[str, Any], peak_start: float) -> None:
    peak_end = calibrate()
    payload = {"benchmark": name, "machine": machine(), "peak_gflops": {"start": peak_start, "end": peak_end},
               "results": results}
    text = json.dumps(payload, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)

"""Cost of multi-mask pretraining: one training step (forward, backward, AdamW) of the demo model
with M = 1, 2, 4 masked copies, in one process, interleaved, min over repeats.

    python tools/bench/multimask_cost.py [--batch 10] [--seconds 3] [--repeats 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import torch

from speechssl.model import Wav2Vec2ForPretraining

REPO = Path(__file__).resolve().parents[2]


def demo_model_config():
    spec = importlib.util.spec_from_file_location("synthetic_configs", REPO / "recipes/synthetic/configs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pretrain_tiny().model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(demo_model_config()).train()
    model.encoder.validate_inputs = False
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    waveform = torch.randn(args.batch, int(args.seconds * 16_000))
    keys = torch.arange(args.batch)

    def step(copies: int) -> float:
        start = time.perf_counter()
        out = model(waveform, None, num_updates=100, utterance_keys=keys, mask_copies=copies)
        optimizer.zero_grad()
        (out.loss / out.num_masked).backward()
        optimizer.step()
        return time.perf_counter() - start

    for copies in args.copies:  # warm-up
        step(copies)
    times = {copies: float("inf") for copies in args.copies}
    for _ in range(args.repeats):
        for copies in args.copies:
            times[copies] = min(times[copies], step(copies))
    audio = args.batch * args.seconds
    print("| mask copies | s / step | audio-s / s | time vs M=1 | masked predictions vs M=1 |")
    print("|---|---|---|---|---|")
    for copies, seconds in times.items():
        print(f"| {copies} | {seconds:.3f} | {audio / seconds:.1f} | {seconds / times[args.copies[0]]:.2f}x | {copies}x |")


if __name__ == "__main__":
    main()

"""A pretraining run's share of the calibrated fp32 ceiling, from its own log, and where the rest goes.

    python tools/bench/pretrain_utilization.py RUN_DIR [--json out.json] [--batches 6]

RUN_DIR is a finished (or running) ``speechssl pretrain`` output directory. Its ``config.json``
rebuilds the model, the task (mask copies included) and the training sampler, and the first
``--batches`` batches of its training manifest (real audio, real crops and padding) are used:

- FLOP per audio second: ``torch.utils.flop_counter`` over forward + backward of those batches
  (matmuls and convolutions, the usual model-FLOP convention), divided by their unpadded audio
  seconds, the quantity the trainer's ``audio_seconds_per_second`` counts.
- Utilization of the run: the median ``audio_seconds_per_second`` of its training log lines times
  that FLOP per audio second, over the calibrated matmul peak (``common.calibrate``).
- The bare step: the same batches timed as forward + backward + AdamW in this process, so the
  log's rate over the bare rate is the share of wall time spent outside the model step (loader,
  validation, checkpoints, logging).
- The profile of one bare step: self CPU time by operator, split into the operators the FLOP
  count covers and the rest (norms, activations, the quantizer, masking, negatives).

The run's own rate was measured on whatever else the machine did at the time: run this on a
log from an idle machine.
"""

import json
import statistics
import time
from pathlib import Path

import torch

from common import calibrate, finish, log, parse_args

# operators whose work flop_counter counts (forward and backward)
COUNTED = ("mm", "addmm", "bmm", "matmul", "linear", "convolution", "conv1d", "_scaled_dot_product", "baddbmm")


def extra(parser) -> None:
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--batches", type=int, default=6, help="training batches to count and time")


def first_batches(cfg, model_cfg, count: int) -> list[dict]:
    """The run's first training batches, as its trainer draws them (epoch 1, seeded sampler)."""
    from speechssl.train.trainer import sampler_and_dataset

    sampler, dataset = sampler_and_dataset(cfg, model_cfg, cfg.data.train_manifest, shuffle=True)
    batches = []
    for item in sampler:
        batches.append(dataset[item])
        if len(batches) == count:
            break
    return batches


def log_rate(run_dir: Path) -> tuple[float, int]:
    """Median training ``audio_seconds_per_second`` of the run's log (first line left out: start-up)."""
    rates = [r["audio_seconds_per_second"] for r in map(json.loads, (run_dir / "train_log.jsonl").read_text().splitlines())
             if r.get("split") == "train" and "audio_seconds_per_second" in r]
    if len(rates) < 2:
        raise SystemExit(f"{run_dir}: fewer than two training log lines with a rate")
    return statistics.median(rates[1:]), len(rates) - 1


def main() -> None:
    args = parse_args(__doc__, extra)
    from torch.utils.flop_counter import FlopCounterMode

    from speechssl.model.keyed_noise import combine_keys
    from speechssl.train.config import resolve_run_config
    from speechssl.train.pretrain import PretrainTask

    cfg = resolve_run_config(str(args.run_dir / "config.json"))
    peak = calibrate()
    task = PretrainTask(cfg)
    torch.manual_seed(cfg.seed)
    model = task.build_model(cfg).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    batches = first_batches(cfg, model.cfg, args.batches)
    valid_samples = sum(float(b["audio_lens"].sum()) for b in batches)
    audio_seconds = valid_samples / 16_000
    update = cfg.optim.max_updates // 2  # mid-run temperature; FLOPs do not depend on it
    keys = [combine_keys(cfg.seed, update, b["indices"]) for b in batches]  # the trainer's mask keys

    def forward_backward(batch, key) -> None:
        loss, _, _ = task.loss(model, batch, update, key)
        loss.backward()

    def step(batch, key) -> None:
        forward_backward(batch, key)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    counter = FlopCounterMode(display=False)
    with counter:
        for batch, key in zip(batches, keys):
            forward_backward(batch, key)
    model.zero_grad(set_to_none=True)
    flop_per_audio_second = counter.get_total_flops() / audio_seconds

    step(batches[0], keys[0])  # warm-up
    start = time.perf_counter()
    for batch, key in zip(batches, keys):
        step(batch, key)
    bare_seconds = time.perf_counter() - start
    bare_rate = audio_seconds / bare_seconds

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        step(batches[1 % len(batches)], keys[1 % len(keys)])
    ops = {e.key: e.self_cpu_time_total / 1e6 for e in profiler.key_averages() if e.self_cpu_time_total > 0}
    total = sum(ops.values())
    counted = sum(t for name, t in ops.items() if any(c in name for c in COUNTED))
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:15]

    run_rate, lines = log_rate(args.run_dir)
    ceiling = peak * 1e9 / flop_per_audio_second
    results = {
        "run_dir": str(args.run_dir), "mask_copies": cfg.pretrain.mask_copies,
        "batches": len(batches), "audio_seconds": audio_seconds,
        "padded_fraction": 1 - valid_samples / sum(b["audio"].numel() for b in batches),
        "gflop_per_audio_second": flop_per_audio_second / 1e9,
        "peak_gflops": peak, "ceiling_audio_seconds_per_second": ceiling,
        "run_audio_seconds_per_second": run_rate, "run_log_lines": lines,
        "run_utilization": run_rate / ceiling,
        "bare_step_audio_seconds_per_second": bare_rate, "bare_step_utilization": bare_rate / ceiling,
        "share_of_run_time_outside_the_step": 1 - run_rate / bare_rate,
        "profile": {"step_self_cpu_seconds": total, "counted_ops_share": counted / total,
                    "top_ops": [{"op": name, "seconds": round(t, 4), "share": round(t / total, 3)} for name, t in top]},
    }
    log(f"{flop_per_audio_second / 1e9:.3f} GFLOP per audio second; peak {peak:.0f} GFLOP/s -> ceiling {ceiling:.0f} audio-s/s; "
        f"run {run_rate:.1f} audio-s/s ({run_rate / ceiling:.1%}), bare step {bare_rate:.1f} ({bare_rate / ceiling:.1%}); "
        f"counted ops {counted / total:.0%} of the step's CPU time")
    finish(args, "pretrain_utilization", results, peak)


if __name__ == "__main__":
    main()

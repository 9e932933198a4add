"""B9: one pretraining update on the CPU, ``compile=true`` (inductor) vs eager, same weights and batches.

    python tools/bench/b9_compile.py [--json out.json] [--model tiny|base] [--reps 5] [--updates 5] [--mask-copies M]

tiny: the demo model (recipes/synthetic/configs.py:pretrain_tiny: no dropout) on 6 x 5 s = 30 s
of audio per update, its max_tokens (the demo pretrains with ``--mask-copies 2``); base: BASE on
1 x 15.6 s. The compiled update goes through speechssl.train.compile.TrainingCompiler exactly as
the trainer's does (batch padded to its bucket, batch dimension dynamic). Reported: compile
seconds (first update), update seconds (interleaved, median), and the losses of ``--updates``
consecutive updates from the same start, eager and compiled, with their largest relative
difference.
"""

import copy
import time

import torch

from common import calibrate, finish, interleave, log, parse_args

SHAPES = {"tiny": (6, 80_000), "base": (1, 250_000)}


def model_for(name: str):
    from speechssl import config
    from speechssl.model import Wav2Vec2ForPretraining
    from speechssl.train.config import resolve_run_config

    if name == "tiny":
        cfg = resolve_run_config("recipes/synthetic/configs.py:pretrain_tiny").model
    else:
        cfg = config.base()
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(cfg).train()
    model.encoder.validate_inputs = False
    return model


def main() -> None:
    args = parse_args(__doc__, lambda p: (p.add_argument("--model", choices=sorted(SHAPES), default="tiny"),
                                          p.add_argument("--updates", type=int, default=5),
                                          p.add_argument("--mask-copies", type=int, default=1)))
    from speechssl.model.keyed_noise import combine_keys
    from speechssl.runtime import keep_large_allocations_in_heap
    from speechssl.train.compile import TrainingCompiler, bucket_sizes

    keep_large_allocations_in_heap()  # as the trainer runs on the CPU
    peak = calibrate()
    batch_size, samples = SHAPES[args.model]
    eager = model_for(args.model)
    compiled = copy.deepcopy(eager)
    compiler = TrainingCompiler(bucket_sizes([samples], 1))
    g = torch.Generator().manual_seed(1)
    audio = torch.randn(batch_size, samples, generator=g) * 0.1
    lengths = torch.full((batch_size,), samples)

    def loss_fn(model, batch, num_updates, keys):
        return model(batch["audio"], batch["audio_lens"], num_updates=num_updates, utterance_keys=keys,
                     mask_copies=args.mask_copies)

    def stepper(model, use_compiler: bool):
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
        state = {"step": 0}

        def step() -> float:
            keys = combine_keys(1, state["step"], torch.arange(batch_size))
            model.encoder.transformer.layerdrop_generator = torch.Generator().manual_seed(state["step"])
            batch = {"audio": audio, "audio_lens": lengths}
            if use_compiler:
                out = compiler.run(loss_fn, model, batch, state["step"], keys)
            else:
                out = loss_fn(model, batch, state["step"], keys)
            out.loss.backward()
            for p in model.parameters():
                p.grad.div_(out.num_masked.float().clamp(min=1.0))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            state["step"] += 1
            return float(out.loss.detach() / out.num_masked)

        return step

    step_eager, step_compiled = stepper(eager, False), stepper(compiled, True)
    log(f"B9 {args.model}: compiling")
    start = time.perf_counter()
    losses = {"compiled": [step_compiled()]}
    compile_seconds = time.perf_counter() - start
    losses["eager"] = [step_eager()]
    for _ in range(args.updates - 1):
        losses["compiled"].append(step_compiled())
        losses["eager"].append(step_eager())
    log(f"B9 {args.model}: timing")
    timing = interleave({"eager": step_eager, "compiled": step_compiled}, reps=args.reps, warmup=args.warmup)
    audio_seconds = batch_size * samples / 16_000
    rel = max(abs(a - b) / abs(a) for a, b in zip(losses["eager"], losses["compiled"]))
    results = {
        "model": args.model, "mask_copies": args.mask_copies, "batch": f"{batch_size} x {samples / 16_000:.1f} s",
        "compile_seconds": compile_seconds,
        "compiled_graphs": compiler.graphs, "timing": timing,
        "audio_seconds_per_second": {k: audio_seconds / t["median"] for k, t in timing.items()},
        "speedup": timing["eager"]["median"] / timing["compiled"]["median"],
        "losses_per_masked_frame": losses, "max_rel_loss_diff": rel,
    }
    finish(args, "b9_compile", results, peak)


if __name__ == "__main__":
    main()

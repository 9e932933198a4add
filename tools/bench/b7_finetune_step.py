"""B7: one CTC fine-tuning update with the conv encoder frozen, BASE, speechssl vs transformers.

    python tools/bench/b7_finetune_step.py [--json out.json] [--reps 3]

Same weights (transformers' ``Wav2Vec2ForCTC`` from speechssl's export), fairseq's 10h BASE
fine-tuning regularization pinned on both: activation dropout 0.1, other dropouts 0, time
masks 0.65 x 10, channel masks 0.5 x 64, layerdrop 0; the conv encoder frozen
(``feature_grad_mult 0`` / ``freeze_feature_encoder()``). CTC loss on random 32-class
targets, AdamW. Batches 1 x 15.6 s and 4 x 4 s; audio seconds per wall second.
"""

import torch

from common import calibrate, finish, hf_twin, interleave, log, parse_args

BATCHES = {"1x15.6s": (1, 250_000), "4x4s": (4, 64_000)}


def main() -> None:
    args = parse_args(__doc__)
    from speechssl import config
    from speechssl.model import Wav2Vec2ForCTC
    from speechssl.runtime import keep_large_allocations_in_heap
    from speechssl.train.finetune import split_config

    keep_large_allocations_in_heap()
    peak = calibrate()
    cfg = config.override(split_config("10h").model, {"vocab_size": 32, "transformer.layerdrop": 0.0})
    torch.manual_seed(0)
    ours = Wav2Vec2ForCTC(cfg).train()
    theirs = hf_twin(ours, "Wav2Vec2ForCTC").train()
    theirs.freeze_feature_encoder()
    for p in ours.encoder.feature_encoder.parameters():
        p.requires_grad_(False)  # what the trainer does for feature_grad_mult 0
    opt_ours = torch.optim.AdamW([p for p in ours.parameters() if p.requires_grad], lr=1e-5)
    opt_theirs = torch.optim.AdamW([p for p in theirs.parameters() if p.requires_grad], lr=1e-5)
    results = {}
    for name, (batch, samples) in BATCHES.items():
        g = torch.Generator().manual_seed(2)
        waveform = torch.randn(batch, samples, generator=g) * 0.1
        frames = ours.encoder.num_frames(samples)
        target_len = frames // 4
        targets = torch.randint(1, 32, (batch, target_len), generator=g)
        input_lengths = torch.full((batch,), frames)
        target_lengths = torch.full((batch,), target_len)

        def ctc(logits):
            log_probs = logits.float().log_softmax(-1).transpose(0, 1)
            return torch.nn.functional.ctc_loss(log_probs, targets, input_lengths, target_lengths, zero_infinity=True)

        def step_ours():
            ctc(ours(waveform).logits).backward()
            opt_ours.step()
            opt_ours.zero_grad(set_to_none=True)

        def step_theirs():
            ctc(theirs(waveform).logits).backward()
            opt_theirs.step()
            opt_theirs.zero_grad(set_to_none=True)

        log(f"B7 {name}")
        timing = interleave({"speechssl": step_ours, "transformers": step_theirs}, reps=args.reps, warmup=args.warmup)
        audio = batch * samples / 16_000
        rate = {k: audio / t["median"] for k, t in timing.items()}
        results[name] = {"timing": timing, "audio_seconds_per_second": rate, "speedup": rate["speechssl"] / rate["transformers"]}
    finish(args, "b7_finetune_step", results, peak)


if __name__ == "__main__":
    main()

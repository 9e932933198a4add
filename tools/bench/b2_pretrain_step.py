"""B2: one pretraining update (forward + backward + AdamW), BASE, fp32, speechssl vs transformers.

    python tools/bench/b2_pretrain_step.py [--json out.json] [--reps 3]

Identical weights: transformers' ``Wav2Vec2ForPreTraining`` is loaded from speechssl's export
of the same model (SDPA attention), with the config pinned explicitly: 12 layers, d 768, mask
0.65 / 10 with 2 minimum spans, K = 100, layerdrop 0, dropouts at fairseq's BASE values (0.1)
and at 0. transformers draws its masks and negatives with its own numpy functions inside the
timed step, as its training script does; speechssl draws them on the device in the forward.
Batches: 1 x 15.6 s and 4 x 4 s. Throughput is audio seconds per wall second; the ceiling is
the higher of the two calibrated matmul peaks / 46 GFLOP per audio second (forward + backward, BASE). A separate
untimed-by-the-comparison step breaks speechssl's update into mask, forward, backward and
optimizer.
"""

import time

import torch

from common import TRAIN_FLOP_PER_AUDIO_SECOND, calibrate, finish, hf_twin, interleave, log, parse_args

BATCHES = {"1x15.6s": (1, 250_000), "4x4s": (4, 64_000)}
ZERO = {"transformer.dropout": 0.0, "transformer.attention_dropout": 0.0, "transformer.activation_dropout": 0.0,
        "dropout_input": 0.0, "dropout_features": 0.0}


def build(dropout: str):
    from speechssl import config
    from speechssl.model import Wav2Vec2ForPretraining

    overrides = {"transformer.layerdrop": 0.0, **(ZERO if dropout == "0" else {})}
    torch.manual_seed(0)
    ours = Wav2Vec2ForPretraining(config.override(config.base(), overrides)).train()
    theirs = hf_twin(ours, "Wav2Vec2ForPreTraining").train()
    theirs.set_gumbel_temperature(ours.cfg.quantizer.temperature(0))
    return ours, theirs


def main() -> None:
    args = parse_args(__doc__)
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    from speechssl.model.masking import compute_span_mask, sample_negatives
    from speechssl.runtime import keep_large_allocations_in_heap

    keep_large_allocations_in_heap()  # process-wide: the transformers steps get it too
    peak = calibrate()
    results = {}
    for dropout in ("0.1", "0"):
        ours, theirs = build(dropout)
        m = ours.cfg.masking
        opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-5)
        opt_theirs = torch.optim.AdamW(theirs.parameters(), lr=1e-5)
        for name, (batch, samples) in BATCHES.items():
            waveform = torch.randn(batch, samples, generator=torch.Generator().manual_seed(1)) * 0.1
            lengths = torch.full((batch,), samples)
            frames = ours.encoder.num_frames(samples)

            def step_ours():
                ours(waveform, lengths).loss.backward()
                opt_ours.step()
                opt_ours.zero_grad(set_to_none=True)

            def step_theirs():
                mask = _compute_mask_indices((batch, frames), m.time_prob, m.time_length, min_masks=m.time_min_masks)
                negatives = _sample_negative_indices((batch, frames), ours.cfg.num_negatives, mask_time_indices=mask)
                out = theirs(waveform, mask_time_indices=torch.from_numpy(mask),
                             sampled_negative_indices=torch.from_numpy(negatives))
                out.loss.backward()
                opt_theirs.step()
                opt_theirs.zero_grad(set_to_none=True)

            log(f"B2 {name} dropout {dropout}")
            timing = interleave({"speechssl": step_ours, "transformers": step_theirs}, reps=args.reps, warmup=args.warmup)
            audio = batch * samples / 16_000
            rate = {k: audio / t["median"] for k, t in timing.items()}
            # speechssl's update, phase by phase
            phases, start = {}, time.perf_counter()
            mask = compute_span_mask((batch, frames), ours.encoder.frame_lengths(lengths), m.time_prob, m.time_length,
                                     m.time_min_masks)
            negatives = sample_negatives(mask, ours.cfg.num_negatives)
            phases["mask+negatives"] = time.perf_counter() - start
            start = time.perf_counter()
            out = ours(waveform, lengths, time_mask=mask, negatives=negatives)
            phases["forward"] = time.perf_counter() - start
            start = time.perf_counter()
            out.loss.backward()
            phases["backward"] = time.perf_counter() - start
            start = time.perf_counter()
            opt_ours.step()
            opt_ours.zero_grad(set_to_none=True)
            phases["optimizer"] = time.perf_counter() - start
            results[f"{name}_dropout{dropout}"] = {
                "batch": name, "dropout": dropout, "timing": timing, "audio_seconds_per_second": rate,
                "speedup": rate["speechssl"] / rate["transformers"], "speechssl_phases_seconds": phases,
            }
    peak_end = calibrate()
    ceiling = max(peak, peak_end) * 1e9 / TRAIN_FLOP_PER_AUDIO_SECOND  # the best the CPU did during the run
    for entry in results.values():
        entry["ceiling_audio_seconds_per_second"] = ceiling
        entry["fraction_of_ceiling"] = {k: v / ceiling for k, v in entry["audio_seconds_per_second"].items()}
    finish(args, "b2_pretrain_step", results, peak)


if __name__ == "__main__":
    main()

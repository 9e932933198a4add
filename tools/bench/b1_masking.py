"""B1: span masks + contrastive negatives per batch, speechssl vs transformers (same process).

    python tools/bench/b1_masking.py [--json out.json]

Batches of 6 / 64 / 256 utterances x 781 frames (15.6 s), mask_prob 0.65, span 10, min 2 spans,
K = 100 negatives; "padded" batches have valid lengths drawn from 50-100 % of the frames.
transformers: ``_compute_mask_indices`` + ``_sample_negative_indices`` (numpy, a Python loop per
utterance) and the torch tensors its training script makes of them. speechssl:
``compute_span_mask`` + ``sample_negatives`` (vectorized torch). Also checked: masked
fraction and that no negative is its own positive.
"""

import torch

from common import calibrate, finish, interleave, log, parse_args

FRAMES, PROB, SPAN, MIN_MASKS, K = 781, 0.65, 10, 2, 100


def main() -> None:
    args = parse_args(__doc__)
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    from speechssl.model.masking import compute_span_mask, sample_negatives
    from speechssl.runtime import keep_large_allocations_in_heap

    keep_large_allocations_in_heap()  # as speechssl's trainer runs; process-wide, so numpy gets it too
    peak = calibrate()
    results = {}
    for batch in (6, 64, 256):
        for padded in (False, True):
            g = torch.Generator().manual_seed(batch)
            lengths = torch.full((batch,), FRAMES)
            if padded:
                lengths = (FRAMES * (0.5 + 0.5 * torch.rand(batch, generator=g))).long().clamp(max=FRAMES)
            attention = (torch.arange(FRAMES)[None, :] < lengths[:, None]).long() if padded else None

            def ours():
                mask = compute_span_mask((batch, FRAMES), lengths, PROB, SPAN, MIN_MASKS)
                return mask, sample_negatives(mask, K)

            def theirs():
                mask = _compute_mask_indices((batch, FRAMES), PROB, SPAN, attention_mask=attention, min_masks=MIN_MASKS)
                negatives = _sample_negative_indices((batch, FRAMES), K, mask_time_indices=mask)
                return torch.from_numpy(mask), torch.from_numpy(negatives)

            log(f"B1 batch {batch} {'padded' if padded else 'unpadded'}")
            masks_only = interleave(
                {"speechssl": lambda: compute_span_mask((batch, FRAMES), lengths, PROB, SPAN, MIN_MASKS),
                 "transformers": lambda: _compute_mask_indices((batch, FRAMES), PROB, SPAN, attention_mask=attention,
                                                               min_masks=MIN_MASKS)},
                reps=max(args.reps, 5), warmup=max(args.warmup, 3))
            timing = interleave({"speechssl": ours, "transformers": theirs}, reps=max(args.reps, 5), warmup=max(args.warmup, 3))
            mask, negatives = ours()
            frames = torch.arange(FRAMES)[None, :, None]
            hf_mask, _ = theirs()
            per_utt = {name: 1e6 * t["median"] / batch for name, t in timing.items()}
            results[f"{batch}{'_padded' if padded else ''}"] = {
                "batch": batch, "padded": padded, "timing": timing, "us_per_utterance": per_utt,
                "speedup": timing["transformers"]["median"] / timing["speechssl"]["median"],
                "masks_only_us_per_utterance": {name: 1e6 * t["median"] / batch for name, t in masks_only.items()},
                "masks_only_speedup": masks_only["transformers"]["median"] / masks_only["speechssl"]["median"],
                "masked_fraction": {"speechssl": float(mask.sum() / lengths.sum()),
                                    "transformers": float(hf_mask.sum() / lengths.sum())},
                "negative_equals_positive": int(((negatives == frames) & mask[..., None]).sum()),
            }
    finish(args, "b1_masking", results, peak)


if __name__ == "__main__":
    main()

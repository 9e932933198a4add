"""B6: padding efficiency of batching, speechssl's sampler vs the peers' batching.

    python tools/bench/b6_padding.py [--json out.json]

Length mixes: the protocol's 64 lengths drawn uniformly from 2-16 s, and a corpus-sized list
(28,539 utterances, the size of LibriSpeech train-clean-100, same distribution). Batching:
speechssl's ``LengthBucketSampler`` (1.4M-sample budget, fairseq's max_tokens); transformers'
example script (shuffled batches of 8 padded to the longest); fairseq's pretraining collater
(length-sorted batches cropped to the shortest: no padding, but audio is thrown away).
Reported: padded fraction of the batch tensors and the fraction of the audio that is used.
"""

import numpy as np

from common import finish, parse_args

MAX_TOKENS, HF_BATCH = 1_400_000, 8


def hf_batches(n: int, rng: np.random.Generator) -> list[list[int]]:
    order = rng.permutation(n)
    return [order[i:i + HF_BATCH].tolist() for i in range(0, n, HF_BATCH)]


def main() -> None:
    args = parse_args(__doc__)
    from speechssl.data.sampler import LengthBucketSampler, padded_fraction

    results = {}
    for name, count in (("64 utterances", 64), ("28,539 utterances", 28_539)):
        rng = np.random.default_rng(0)
        sizes = (rng.uniform(2, 16, count) * 16_000).astype(np.int64)
        ours = LengthBucketSampler(sizes, MAX_TOKENS, seed=0).global_batches(0)
        theirs = hf_batches(count, rng)
        cropped = sum(len(b) * min(sizes[i] for i in b) for b in ours)  # fairseq: same grouping, crop to min
        results[name] = {
            "padded_fraction": {"speechssl": padded_fraction(ours, sizes), "transformers": padded_fraction(theirs, sizes),
                                "fairseq_crop": 0.0},
            "audio_used": {"speechssl": 1.0, "transformers": 1.0, "fairseq_crop": cropped / int(sizes.sum())},
            "batches": {"speechssl": len(ours), "transformers": len(theirs)},
        }
    finish(args, "b6_padding", results, 0.0)


if __name__ == "__main__":
    main()

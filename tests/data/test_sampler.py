import numpy as np
import pytest

from speechssl.data.sampler import LengthBucketSampler, padded_fraction


def realistic_sizes(n=3000, seed=0):
    """Utterance lengths like a read-speech corpus: log-normal around 12 s, 1-35 s, at 16 kHz."""
    rng = np.random.default_rng(seed)
    seconds = np.clip(rng.lognormal(np.log(12), 0.5, n), 1.0, 35.0)
    return (seconds * 16000).astype(int).tolist()


def test_full_coverage_no_duplicates_and_budget():
    sizes = realistic_sizes()
    sampler = LengthBucketSampler(sizes, max_tokens=1_400_000, max_sample_size=250_000, min_sample_size=32_000, seed=3)
    batches = sampler.rank_batches(0)
    seen = [i for b in batches for i in b]
    expected = [i for i, s in enumerate(sizes) if s >= 32_000]
    assert sorted(seen) == expected and len(seen) == len(set(seen))
    assert set(sampler.skipped) == set(range(len(sizes))) - set(expected)
    assert all(len(b) * max(sampler.sizes[b]) <= 1_400_000 for b in batches)
    assert padded_fraction(batches, sampler.sizes) < 0.05


def test_padded_fraction_is_small_without_cropping():
    sizes = realistic_sizes(seed=1)
    sampler = LengthBucketSampler(sizes, max_tokens=3_200_000, seed=0)
    assert padded_fraction(sampler.rank_batches(0), sampler.sizes) < 0.10


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_ranks_are_disjoint_cover_everything_and_have_equal_counts(world_size):
    sizes = realistic_sizes(1001)
    samplers = [LengthBucketSampler(sizes, 1_000_000, max_sample_size=250_000, seed=5, rank=r, world_size=world_size)
                for r in range(world_size)]
    per_rank = [s.rank_batches(2) for s in samplers]
    assert len({len(b) for b in per_rank}) == 1
    flat = [i for batches in per_rank for b in batches for i in b]
    assert sorted(flat) == list(range(len(sizes))) and len(flat) == len(set(flat))
    assert all(len(b) * max(samplers[0].sizes[b]) <= 1_000_000 for batches in per_rank for b in batches)


def test_epochs_reshuffle_and_are_reproducible():
    sizes = realistic_sizes(500)
    a = LengthBucketSampler(sizes, 800_000, max_sample_size=250_000, seed=1)
    b = LengthBucketSampler(sizes, 800_000, max_sample_size=250_000, seed=1)
    assert a.rank_batches(0) == b.rank_batches(0)
    assert a.rank_batches(0) != a.rank_batches(1)


def test_mid_epoch_resume_is_exact():
    sizes = realistic_sizes(400)
    sampler = LengthBucketSampler(sizes, 800_000, max_sample_size=250_000, seed=9)
    sampler.set_epoch(4)
    full = list(sampler)
    state = {"epoch": 4, "batches_done": 7, "seed": 9}
    resumed = LengthBucketSampler(sizes, 800_000, max_sample_size=250_000, seed=9)
    resumed.load_state_dict(state)
    assert list(resumed) == full[7:]
    assert resumed.state_dict() == state
    with pytest.raises(ValueError, match="seed"):
        LengthBucketSampler(sizes, 800_000, seed=1).load_state_dict(state)


def test_sorted_epochs_run_shortest_first_then_shuffle():
    sizes = realistic_sizes(600)
    sampler = LengthBucketSampler(sizes, 800_000, max_sample_size=250_000, sorted_epochs=2, seed=4)
    shuffled = LengthBucketSampler(sizes, 800_000, max_sample_size=250_000, seed=4)
    for epoch in (0, 1):
        longest = [max(sampler.sizes[b]) for b in sampler.rank_batches(epoch)]
        assert longest == sorted(longest)
        # the same batches as a shuffled epoch, only in another order
        assert sorted(map(sorted, sampler.rank_batches(epoch))) == sorted(map(sorted, shuffled.rank_batches(epoch)))
    longest = [max(sampler.sizes[b]) for b in sampler.rank_batches(2)]
    assert longest != sorted(longest)
    assert sampler.rank_batches(2) == shuffled.rank_batches(2)

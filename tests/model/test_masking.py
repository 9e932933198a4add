import pytest
import torch

from speechssl.model.masking import compute_span_mask, sample_negatives, span_starts, spans_to_mask


def test_masked_fraction_matches_fairseq_statistics():
    # fairseq/paper: ~49% of frames masked at p=0.65, M=10 (T=781 is a 15.6 s crop).
    torch.manual_seed(0)
    mask = compute_span_mask((4000, 781), None, 0.65, 10, 2)
    assert mask.float().mean().item() == pytest.approx(0.49, abs=0.02)


def test_span_count_follows_probabilistic_rounding_with_minimum():
    torch.manual_seed(0)
    lengths = torch.randint(5, 781, (3000,))
    starts = span_starts((3000, 781), lengths, 0.65, 10, 2)
    counts = starts.sum(1)
    expected = (0.065 * lengths).clamp(min=2)
    assert (counts >= 2).all()
    # each count is floor or ceil of p*L/M, or min_masks when that is larger
    rounded = (counts - 0.065 * lengths).abs() < 1
    assert (rounded | (counts == 2)).all()
    assert counts.float().mean().item() == pytest.approx(expected.float().mean().item(), rel=0.03)
    # starts come from [0, L - M) (widened to n + 1 candidates for short rows)
    positions = torch.arange(781)[None, :]
    limit = torch.maximum(lengths - 10, counts + 1)[:, None]
    assert not (starts & (positions >= limit)).any()


def test_padding_never_masked_and_every_row_masked():
    torch.manual_seed(1)
    lengths = torch.tensor([781, 400, 50, 12, 3])
    for _ in range(50):
        mask = compute_span_mask((5, 781), lengths, 0.65, 10, 2)
        assert not (mask & (torch.arange(781)[None, :] >= lengths[:, None])).any()
        assert (mask.sum(1) >= 2).all()


def test_spans_are_contiguous_runs_of_span_length():
    starts = torch.zeros(1, 30, dtype=torch.bool)
    starts[0, [2, 4, 20, 25]] = True
    mask = spans_to_mask(starts, 4, torch.tensor([27]))
    expected = torch.zeros(30, dtype=torch.bool)
    expected[2:8] = True  # overlapping spans merge
    expected[20:24] = True
    expected[25:27] = True  # clipped at the length
    assert torch.equal(mask[0], expected)


def test_channel_mask_without_lengths():
    torch.manual_seed(0)
    mask = compute_span_mask((2000, 768), None, 0.5, 64, 0)
    # ~6 spans of 64 channels on average (spec §2), overlap allowed
    assert 0.25 < mask.float().mean().item() < 0.45
    assert compute_span_mask((3, 768), None, 0.0, 64, 0).sum() == 0


def test_negatives_come_from_other_masked_frames_of_the_same_utterance():
    torch.manual_seed(0)
    lengths = torch.tensor([781, 300, 40])
    mask = compute_span_mask((3, 781), lengths, 0.65, 10, 2)
    negatives = sample_negatives(mask, 100)
    assert negatives.shape == (3, 781, 100)
    for b in range(3):
        rows = mask[b].nonzero().squeeze(1)
        neg = negatives[b, rows]  # (M, K) for masked targets
        assert mask[b][neg].all(), "a negative is not a masked frame"
        assert (neg != rows[:, None]).all(), "a negative is its own target"
        assert (neg < lengths[b]).all()


def test_negatives_are_uniform_over_the_other_masked_frames():
    torch.manual_seed(0)
    mask = torch.zeros(1, 50, dtype=torch.bool)
    mask[0, [3, 7, 8, 20, 40]] = True
    negatives = sample_negatives(mask, 20000)[0, 7]  # target frame 7
    counts = torch.bincount(negatives, minlength=50)
    assert counts[7] == 0 and counts[~mask[0]].sum() == 0
    assert torch.allclose(counts[[3, 8, 20, 40]].float() / 20000, torch.full((4,), 0.25), atol=0.02)


def test_fewer_than_two_masked_frames_draws_only_the_target():
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0, 4] = True
    negatives = sample_negatives(mask, 5)
    assert (negatives[0, 4] == 4).all()  # the loss masks such a negative as identical to the target


def test_generator_makes_draws_reproducible():
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a = compute_span_mask((4, 200), torch.tensor([200, 150, 100, 50]), 0.65, 10, 2, generator=g1)
    b = compute_span_mask((4, 200), torch.tensor([200, 150, 100, 50]), 0.65, 10, 2, generator=g2)
    assert torch.equal(a, b)
    assert torch.equal(sample_negatives(a, 10, generator=g1), sample_negatives(b, 10, generator=g2))


def test_keyed_noise_is_uniform_and_depends_only_on_the_key():
    from speechssl.model.keyed_noise import combine_keys, keyed_uniform

    keys = combine_keys(42, 7, torch.arange(4000))
    u = keyed_uniform(keys, (100,), stream=1)
    assert u.shape == (4000, 100) and u.min() >= 0 and u.max() < 1
    assert u.mean().item() == pytest.approx(0.5, abs=0.005)
    hist = torch.histc(u, bins=10, min=0, max=1) / u.numel()
    assert torch.allclose(hist, torch.full((10,), 0.1), atol=0.003)
    # a row's noise does not depend on the rest of the batch; streams are independent
    torch.testing.assert_close(keyed_uniform(keys[5:6], (100,), 1)[0], u[5])
    assert abs(torch.corrcoef(torch.stack([u.flatten(), keyed_uniform(keys, (100,), 2).flatten()]))[0, 1]) < 0.01


def test_keyed_masks_and_negatives_do_not_depend_on_the_batch():
    keys = torch.tensor([11, 22, 33])
    lengths = torch.tensor([300, 200, 120])
    mask = compute_span_mask((3, 300), lengths, 0.65, 10, 2, row_keys=keys)
    negatives = sample_negatives(mask, 30, row_keys=keys)
    for b in range(3):
        L = lengths[b]
        alone = compute_span_mask((1, L), lengths[b : b + 1], 0.65, 10, 2, row_keys=keys[b : b + 1])
        assert torch.equal(alone[0], mask[b, :L])
        assert torch.equal(sample_negatives(alone, 30, row_keys=keys[b : b + 1])[0], negatives[b, :L])
    assert mask.float()[0].mean() == pytest.approx(0.49, abs=0.1)


def test_span_starts_are_the_n_smallest_keys_among_the_candidates():
    """The partial sort picks exactly what a full sort of the same keys picks."""
    from speechssl.model.masking import span_starts

    for B, T, prob, span, min_masks in [(16, 781, 0.65, 10, 2), (6, 40, 0.9, 10, 2), (4, 768, 0.5, 64, 0)]:
        lengths = torch.randint(1, T + 1, (B,), generator=torch.Generator().manual_seed(T))
        starts = span_starts((B, T), lengths, prob, span, min_masks, generator=torch.Generator().manual_seed(1))
        g = torch.Generator().manual_seed(1)
        rounding, keys = torch.rand((B,), generator=g), torch.rand((B, T), generator=g)
        n = torch.floor(prob * lengths / span + rounding).long().clamp(min=min_masks)
        candidates = torch.maximum(lengths - span, n + 1)
        for b in range(B):
            ranked = keys[b, : candidates[b]].argsort()[: n[b]]
            expected = torch.zeros(T, dtype=torch.bool)
            expected[ranked] = True
            assert torch.equal(starts[b], expected), (B, T, b)

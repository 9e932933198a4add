"""Multi-mask pretraining: M masked copies through the transformer, the conv front end once."""

import pytest
import torch

from speechssl import config
from speechssl.model import Wav2Vec2ForPretraining
from speechssl.model.wav2vec2 import mask_copy_keys
from speechssl.testing import random_batch

NO_DROPOUT = {"transformer.dropout": 0.0, "transformer.attention_dropout": 0.0, "dropout_input": 0.0,
              "dropout_features": 0.0}
TERMS = ("loss", "contrastive_loss", "diversity_loss", "feature_penalty", "num_masked", "num_correct", "num_frames",
         "neg_is_pos")


@pytest.mark.parametrize("norm", ["group", "layer"])
def test_m_copies_equal_m_single_mask_passes_with_the_same_masks(norm):
    cfg = config.override(config.tiny(), {**NO_DROPOUT, "feature_encoder.norm": norm})
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(cfg).train()
    lengths = [16000, 9000, 12000]
    waveform, lens = random_batch(lengths)
    keys = torch.tensor([11, 22, 33])
    M, B = 3, len(lengths)
    multi = model(waveform, lens, num_updates=5, utterance_keys=keys, mask_copies=M)
    masks = multi.time_mask.view(M, B, -1)
    assert masks.any(-1).all()  # every copy of every utterance is masked...
    assert not torch.equal(masks[0], masks[1]) and not torch.equal(masks[1], masks[2])  # ...differently

    # The same masks and negatives, one copy per call; the Gumbel noise stays the utterance's.
    negatives = torch.randint(0, 10, (M * B, masks.shape[-1], cfg.num_negatives))
    multi = model(waveform, lens, num_updates=5, utterance_keys=keys, mask_copies=M, time_mask=multi.time_mask,
                  negatives=negatives)
    singles = [
        model(waveform, lens, num_updates=5, utterance_keys=keys, time_mask=masks[m], negatives=negatives.view(M, B, -1,
              cfg.num_negatives)[m])
        for m in range(M)
    ]
    for name in TERMS:
        torch.testing.assert_close(getattr(multi, name), sum(getattr(s, name) for s in singles), rtol=1e-5, atol=1e-4,
                                   msg=name)
    torch.testing.assert_close(multi.prob_perplexity, sum(s.prob_perplexity for s in singles) / M)

    # and the gradients of the summed loss are those of the M passes
    grads_multi = torch.autograd.grad(multi.loss, list(model.parameters()), allow_unused=True)
    grads_single = torch.autograd.grad(sum(s.loss for s in singles), list(model.parameters()), allow_unused=True)
    for (name, _), a, b in zip(model.named_parameters(), grads_multi, grads_single):
        if a is None or b is None:
            assert a is None and b is None, name
            continue
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_one_copy_is_the_single_mask_model_and_copies_are_keyed_per_utterance():
    cfg = config.override(config.tiny(), NO_DROPOUT)
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(cfg).train()
    waveform, lens = random_batch([16000, 12000])
    keys = torch.tensor([5, 6])
    plain = model(waveform, lens, utterance_keys=keys)
    one = model(waveform, lens, utterance_keys=keys, mask_copies=1)
    assert torch.equal(plain.time_mask, one.time_mask) and torch.equal(plain.loss, one.loss)

    two = model(waveform, lens, utterance_keys=keys, mask_copies=2)
    assert torch.equal(two.time_mask[:2], plain.time_mask)  # copy 0 is the utterance's own mask
    # An utterance's copies depend on its key alone, not on the batch it is in.
    alone = model(waveform[1:, :12000], lens[1:], utterance_keys=keys[1:], mask_copies=2)
    frames = alone.time_mask.shape[1]
    assert torch.equal(alone.time_mask[1], two.time_mask[3, :frames])
    assert mask_copy_keys(keys, 3).unique().numel() == 6

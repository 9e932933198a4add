import pytest
import torch

from speechssl import config
from speechssl.model import Wav2Vec2Encoder, Wav2Vec2ForCTC, Wav2Vec2ForPretraining
from speechssl.model.feature_encoder import conv_output_length, conv_output_lengths
from speechssl.model.masking import compute_span_mask, sample_negatives
from speechssl.testing import random_batch

STYLES = {
    "group": {"feature_encoder.norm": "group"},
    "layer": {"feature_encoder.norm": "layer", "feature_encoder.conv_bias": True, "transformer.layer_norm_first": True},
}


def tiny(style: str, **extra):
    return config.override(config.tiny(), {**STYLES[style], **extra})


def test_frame_lengths_follow_the_conv_formula():
    conv = config.base().feature_encoder.conv_layers
    for samples, frames in [(400, 1), (16000, 49), (32000, 99), (250000, 781), (320000, 999)]:
        assert conv_output_length(samples, conv) == frames
    assert conv_output_lengths(torch.tensor([16000, 399, 0]), conv).tolist() == [49, 0, 0]


@pytest.mark.parametrize("style", ["group", "layer"])
def test_batch_equals_single(style):
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(tiny(style, vocab_size=10)).eval()
    lengths = [16000, 11000, 5000]
    waveform, lens = random_batch(lengths)
    with torch.no_grad():
        batched = model(waveform, lens, output_hidden_states=True)
        for b, n in enumerate(lengths):
            single = model(waveform[b : b + 1, :n], output_hidden_states=True)
            frames = single.logits.shape[1]
            assert batched.lengths[b] == frames
            torch.testing.assert_close(batched.logits[b, :frames], single.logits[0], atol=1e-4, rtol=0)
            for h_batch, h_single in zip(batched.hidden_states, single.hidden_states):
                torch.testing.assert_close(h_batch[b, :frames], h_single[0], atol=1e-4, rtol=0)
    # padded frames emit blank with certainty
    pad = batched.lengths[2]
    assert (batched.logits[2, pad:].argmax(-1) == 0).all()


@pytest.mark.parametrize("style", ["group", "layer"])
def test_padded_frames_are_never_in_the_pretraining_loss(style):
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(tiny(style)).eval()
    lengths = [16000, 9000]
    waveform, lens = random_batch(lengths)
    T = model.encoder.num_frames(16000)
    frame_lens = model.encoder.frame_lengths(lens)
    torch.manual_seed(1)
    mask = compute_span_mask((2, T), frame_lens, 0.65, 10, 2)
    negatives = sample_negatives(mask, model.cfg.num_negatives)
    with torch.no_grad():
        batched = model(waveform, lens, time_mask=mask, negatives=negatives)
        # padding content must not matter either
        noisy = waveform.clone()
        noisy[1, lengths[1] :] = 5.0
        batched_noisy = model(noisy, lens, time_mask=mask, negatives=negatives)
        singles = [
            model(waveform[b : b + 1, :n], time_mask=mask[b : b + 1, : frame_lens[b]], negatives=negatives[b : b + 1, : frame_lens[b]])
            for b, n in enumerate(lengths)
        ]
    for name in ("contrastive_loss", "num_masked", "num_correct", "neg_is_pos"):
        total = sum(getattr(s, name) for s in singles)
        torch.testing.assert_close(getattr(batched, name).double(), total.double(), rtol=1e-5, atol=1e-3)
        torch.testing.assert_close(getattr(batched_noisy, name), getattr(batched, name))
    assert batched.num_frames == frame_lens.sum()


def test_a_callers_mask_over_padding_is_ignored():
    model = Wav2Vec2ForPretraining(config.tiny()).eval()
    waveform, lens = random_batch([16000, 8000])
    T = model.encoder.num_frames(16000)
    mask = torch.ones(2, T, dtype=torch.bool)
    out = model(waveform, lens, time_mask=mask)
    assert out.num_masked == model.encoder.frame_lengths(lens).sum()
    assert not out.time_mask[1, model.encoder.frame_lengths(lens)[1] :].any()


def test_pretraining_outputs_and_gradients():
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(config.tiny()).train()
    waveform, lens = random_batch([16000, 12000])
    out = model(waveform, lens, num_updates=10)
    T = model.encoder.num_frames(16000)
    assert out.logits.shape == (2, T, 1 + model.cfg.num_negatives)
    assert 0 < out.num_masked <= out.num_frames
    num_vars = model.cfg.quantizer.num_groups * model.cfg.quantizer.num_vars
    assert 0 < out.code_perplexity <= num_vars and 0 < out.prob_perplexity <= num_vars
    expected = out.contrastive_loss + 0.1 * out.diversity_loss + 10.0 * out.feature_penalty
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    # straight-through Gumbel: the quantizer's logits and codebook learn; so do the conv layers
    for name in ("quantizer.weight_proj.weight", "quantizer.codevectors", "encoder.feature_encoder.conv_layers.0.conv.weight",
                 "encoder.mask_embedding", "final_proj.weight", "project_q.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_feature_grad_mult_scales_and_zero_freezes_the_conv_stack():
    waveform, lens = random_batch([8000])
    grads = {}
    for mult in (1.0, 0.1, 0.0):
        torch.manual_seed(0)
        model = Wav2Vec2ForCTC(config.override(config.tiny(), {"vocab_size": 5, "feature_encoder.feature_grad_mult": mult,
                                                               "masking.time_prob": 0.0})).eval()
        model(waveform, lens).logits.sum().backward()
        grads[mult] = model.encoder.feature_encoder.conv_layers[0].conv.weight.grad
    torch.testing.assert_close(grads[0.1], grads[1.0] * 0.1)
    assert grads[0.0] is None


def test_layerdrop_is_shared_through_the_generator_and_keeps_every_parameter_in_the_graph():
    cfg = config.override(config.tiny(), {"transformer.layerdrop": 0.5, "transformer.num_layers": 6, "vocab_size": 5})
    model = Wav2Vec2ForCTC(cfg).train()
    decisions = []
    for _ in range(2):
        model.encoder.transformer.layerdrop_generator = torch.Generator().manual_seed(3)
        decisions.append(model.encoder.transformer.layers_to_run())
    assert decisions[0] == decisions[1] and not all(decisions[0])
    waveform, lens = random_batch([8000])
    model(waveform, lens).logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_quantizer_eval_codes_are_argmax():
    model = Wav2Vec2ForPretraining(config.tiny()).eval()
    x = torch.randn(2, 7, model.cfg.feature_encoder.output_dim)
    out = model.quantizer(x, torch.ones(2, 7, dtype=torch.bool), 2.0)
    logits = model.quantizer.weight_proj(x).view(2, 7, 2, -1)
    assert torch.equal(out.codes, logits.argmax(-1))
    entries = model.quantizer.codevectors.view(2, model.cfg.quantizer.num_vars, -1)
    expected = torch.cat([entries[0][out.codes[..., 0]], entries[1][out.codes[..., 1]]], dim=-1)
    torch.testing.assert_close(out.quantized, expected)


def test_bad_input_raises_value_error_naming_the_problem():
    model = Wav2Vec2Encoder(config.tiny()).eval()
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(1, 1, 16000))
    with pytest.raises(ValueError, match="shorter than the receptive field"):
        model(torch.zeros(1, 399))
    for bad in (float("nan"), float("inf")):
        x = torch.zeros(1, 16000)
        x[0, 100] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            model(x)
    with pytest.raises(ValueError, match="lengths"):
        model(torch.zeros(2, 16000), torch.tensor([16000, 200]))
    with pytest.raises(ValueError, match="floating point"):
        model(torch.zeros(1, 16000, dtype=torch.long))
    assert model(torch.zeros(400)).context.shape[:2] == (1, 1)  # exactly the receptive field works


def test_masking_negatives_and_loss_compile_fullgraph():
    """No host sync and no data-dependent shape: the whole loss path traces as one graph."""
    from speechssl.model.wav2vec2 import contrastive_logits, contrastive_loss_terms

    def step(frame_lengths, context, targets, codes):
        mask = compute_span_mask((3, 120), frame_lengths, 0.65, 10, 2)
        negatives = sample_negatives(mask, 20)
        logits, neg_is_pos = contrastive_logits(context, targets, negatives, codes, 0.1)
        loss, correct = contrastive_loss_terms(logits, mask)
        return loss, correct, mask, negatives, neg_is_pos.sum()

    frame_lengths = torch.tensor([120, 90, 33])
    context, targets = torch.randn(3, 120, 16), torch.randn(3, 120, 16)
    codes = torch.randint(0, 4, (3, 120, 2))
    compiled = torch.compile(step, fullgraph=True, backend="eager")
    torch.manual_seed(5)
    eager = step(frame_lengths, context, targets, codes)
    torch.manual_seed(5)
    traced = compiled(frame_lengths, context, targets, codes)
    for a, b in zip(eager, traced):
        torch.testing.assert_close(a, b)


def test_straight_through_gumbel_samples_the_softmax_and_passes_its_gradient():
    from speechssl.model.quantizer import straight_through_gumbel

    torch.manual_seed(0)
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0]).repeat(20000, 1).requires_grad_()
    sample = straight_through_gumbel(logits, 0.5, None)
    assert torch.equal(sample.detach().sum(-1), torch.ones(20000))
    freq = sample.detach().mean(0)
    torch.testing.assert_close(freq, torch.softmax(logits[0].detach(), -1), atol=0.015, rtol=0)
    (sample * torch.arange(4.0)).sum().backward()
    assert logits.grad.abs().sum() > 0


def test_keyed_pretraining_loss_of_a_batch_is_the_sum_of_its_utterances():
    cfg = config.override(config.tiny(), {"transformer.dropout": 0.0, "transformer.attention_dropout": 0.0,
                                          "dropout_input": 0.0, "dropout_features": 0.0})
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(cfg).train()
    lengths = [16000, 10000]
    waveform, lens = random_batch(lengths)
    keys = torch.tensor([101, 202])
    with torch.no_grad():
        batched = model(waveform, lens, utterance_keys=keys)
        singles = [model(waveform[b : b + 1, :n], utterance_keys=keys[b : b + 1]) for b, n in enumerate(lengths)]
    for name in ("contrastive_loss", "feature_penalty", "num_masked", "num_correct"):
        torch.testing.assert_close(getattr(batched, name), sum(getattr(s, name) for s in singles), rtol=1e-5, atol=1e-4)


def test_the_model_learns_a_batch(synthetic_corpus):
    """Contrastive learning works end to end: real speech, 40 updates, far below chance."""
    import math

    from speechssl.audio import load_audio
    from speechssl.data.manifest import Manifest

    manifest = Manifest.read(synthetic_corpus / "train_unlabeled.tsv")
    clips = [load_audio(manifest.audio_path(i))[:48000] for i in range(4)]
    n = min(c.numel() for c in clips)
    waveform = torch.stack([c[:n] for c in clips])
    cfg = config.override(config.tiny(), {"transformer.dropout": 0.0, "transformer.attention_dropout": 0.0,
                                          "dropout_input": 0.0, "dropout_features": 0.0})
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(cfg).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-6)
    keys = torch.arange(4)  # the same masks each step: memorizing them is the test
    for step in range(40):
        out = model(waveform, num_updates=step, utterance_keys=keys)
        optimizer.zero_grad()
        (out.loss / out.num_masked).backward()
        optimizer.step()
    bits = (out.contrastive_loss / out.num_masked).item() / math.log(2)
    assert bits < 0.7 * math.log2(101), bits
    assert out.code_perplexity > 10  # and the codebook did not collapse

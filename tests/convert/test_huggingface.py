"""Parity with transformers (the oracle) and torchaudio, through speechssl's own converters."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from speechssl import config  # noqa: E402
from speechssl.convert.huggingface import load_huggingface, save_huggingface  # noqa: E402
from speechssl.model import Wav2Vec2Encoder, Wav2Vec2ForCTC, Wav2Vec2ForPretraining  # noqa: E402
from speechssl.model.masking import compute_span_mask, sample_negatives  # noqa: E402
from speechssl.testing import base_style, large_style, random_batch  # noqa: E402

HF_V4 = int(transformers.__version__.split(".")[0]) < 5
STYLES = {"base": base_style, "large": large_style}
LENGTHS = [24000, 17000, 9000]


def hf_config_of(cfg):
    from speechssl.convert.huggingface import config_to_hf

    return transformers.Wav2Vec2Config(**config_to_hf(cfg, "pretraining"))


def numel(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_equal_transformers():
    with torch.device("meta"):
        for cfg, ours, theirs, expected in [
            (config.base(), Wav2Vec2ForPretraining, transformers.Wav2Vec2ForPreTraining, 95.04e6),
            (config.base(), Wav2Vec2Encoder, transformers.Wav2Vec2Model, 94.37e6),
            (config.large(), Wav2Vec2Encoder, transformers.Wav2Vec2Model, 315.44e6),
        ]:
            n = numel(ours(cfg))
            assert n == numel(theirs(hf_config_of(cfg))), (cfg, ours)
            assert n == pytest.approx(expected, rel=1e-3)


def _export(model, tmp_path, name):
    directory = tmp_path / name
    save_huggingface(model, directory)
    return directory


def expected_hidden_states(ours_hidden, ours_final):
    """Our numbering -> transformers' ``hidden_states`` (peers.md §2.6): the same list, except
    that 4.x replaces the last entry by the final output (LayerNorm'd for pre-LN models)."""
    return ours_hidden[:-1] + [ours_final] if HF_V4 else list(ours_hidden)


@pytest.mark.parametrize("style", ["base", "large"])
def test_ctc_logits_and_hidden_states_match_transformers(style, tmp_path):
    torch.manual_seed(0)
    cfg = STYLES[style](vocab_size=32)
    ours = Wav2Vec2ForCTC(cfg).eval()
    theirs = transformers.Wav2Vec2ForCTC.from_pretrained(_export(ours, tmp_path, style), attn_implementation="sdpa").eval()
    waveform, lengths = random_batch(LENGTHS)
    with torch.no_grad():
        batched = ours(waveform, lengths, output_hidden_states=True)
        batched_context = ours.encoder(waveform, lengths).context
        for b, n in enumerate(LENGTHS):
            # transformers is the oracle run unpadded: its group-norm models depend on padding.
            ref = theirs(waveform[b : b + 1, :n], output_hidden_states=True)
            frames = ref.logits.shape[1]
            assert batched.lengths[b] == frames
            torch.testing.assert_close(batched.logits[b, :frames], ref.logits[0], atol=1e-4, rtol=0)
            expected = expected_hidden_states(
                [h[b : b + 1, :frames] for h in batched.hidden_states], batched_context[b : b + 1, :frames]
            )
            assert len(ref.hidden_states) == len(expected) == cfg.transformer.num_layers + 1
            for mine, h_ref in zip(expected, ref.hidden_states):
                torch.testing.assert_close(mine, h_ref, atol=1e-4, rtol=0)
        if style == "large":  # layer-norm models are padding-safe in transformers too, given the mask
            mask = (torch.arange(waveform.shape[1])[None, :] < lengths[:, None]).long()
            ref = theirs(waveform, attention_mask=mask)
            for b in range(len(LENGTHS)):
                f = batched.lengths[b]
                torch.testing.assert_close(batched.logits[b, :f], ref.logits[b, :f], atol=1e-4, rtol=0)


@pytest.mark.parametrize("style", ["base", "large"])
def test_round_trip_is_exact(style, tmp_path):
    torch.manual_seed(0)
    for model in (Wav2Vec2ForPretraining(STYLES[style]()), Wav2Vec2ForCTC(STYLES[style](vocab_size=12))):
        directory = _export(model, tmp_path, f"{style}-{type(model).__name__}")
        back = load_huggingface(directory)
        assert type(back) is type(model) and back.cfg.transformer == model.cfg.transformer
        assert back.cfg.feature_encoder.conv_layers == model.cfg.feature_encoder.conv_layers
        a, b = model.state_dict(), back.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        # and transformers loads every tensor (nothing missing, nothing unexpected)
        cls = transformers.Wav2Vec2ForCTC if isinstance(model, Wav2Vec2ForCTC) else transformers.Wav2Vec2ForPreTraining
        _, info = cls.from_pretrained(directory, output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"], info


def test_import_reads_parametrized_weight_norm_names_and_bin_files(tmp_path):
    torch.manual_seed(0)
    hf_model = transformers.Wav2Vec2ForCTC(transformers.Wav2Vec2Config(**{
        **json.loads(json.dumps(hf_config_of(base_style()).to_dict())), "vocab_size": 9, "architectures": ["Wav2Vec2ForCTC"]}))
    hf_model.save_pretrained(tmp_path / "st")  # transformers' own writer (parametrizations.* names)
    hf_model.save_pretrained(tmp_path / "bin", safe_serialization=False)
    waveform, _ = random_batch([12000])
    with torch.no_grad():
        ref = hf_model.eval()(waveform).logits
        for sub in ("st", "bin"):
            ours = load_huggingface(tmp_path / sub)
            assert isinstance(ours, Wav2Vec2ForCTC)
            torch.testing.assert_close(ours(waveform).logits, ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("style", ["base", "large"])
def test_pretraining_losses_match_transformers_given_mask_and_negatives(style, tmp_path):
    torch.manual_seed(0)
    zero = {"transformer.dropout": 0.0, "transformer.attention_dropout": 0.0, "transformer.layerdrop": 0.0,
            "dropout_input": 0.0, "dropout_features": 0.0, "masking.channel_prob": 0.0}
    ours = Wav2Vec2ForPretraining(STYLES[style](**zero)).eval()
    theirs = transformers.Wav2Vec2ForPreTraining.from_pretrained(_export(ours, tmp_path, style), attn_implementation="sdpa")
    lengths = [24000, 24000] if style == "base" else LENGTHS  # transformers pads group-norm models wrongly
    waveform, lens = random_batch(lengths)
    B, T = len(lengths), ours.encoder.num_frames(waveform.shape[1])
    mask = compute_span_mask((B, T), ours.encoder.frame_lengths(lens), 0.65, 10, 2)
    negatives = sample_negatives(mask, ours.cfg.num_negatives)
    hf_negatives = negatives + (torch.arange(B) * T)[:, None, None]  # transformers indexes the flat B*T pool
    attention = (torch.arange(waveform.shape[1])[None, :] < lens[:, None]).long() if style == "large" else None
    kwargs = dict(attention_mask=attention, mask_time_indices=mask, sampled_negative_indices=hf_negatives)
    with torch.no_grad():
        mine = ours(waveform, lens, time_mask=mask, negatives=negatives)
        ref = theirs.eval()(waveform, **kwargs)
        torch.testing.assert_close(mine.contrastive_loss, ref.contrastive_loss, rtol=1e-5, atol=1e-3)
        torch.testing.assert_close(mine.code_perplexity, ref.codevector_perplexity, rtol=1e-5, atol=1e-4)
        # In training mode transformers' diversity term uses the softmax (prob) perplexity, as fairseq.
        mine_train = ours.train()(waveform, lens, time_mask=mask, negatives=negatives)
        ref_train = theirs.train()(waveform, **kwargs)
        torch.testing.assert_close(mine_train.diversity_loss, ref_train.diversity_loss, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(mine_train.prob_perplexity, ref_train.codevector_perplexity, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("style", ["base", "large"])
def test_encoder_matches_torchaudio(style, tmp_path):
    from torchaudio.models.wav2vec2.utils import import_huggingface_model

    torch.manual_seed(0)
    ours = Wav2Vec2Encoder(STYLES[style]()).eval()
    hf = transformers.Wav2Vec2Model.from_pretrained(_export(ours, tmp_path, style)).eval()
    ta = import_huggingface_model(hf).eval()
    waveform, lengths = random_batch(LENGTHS)
    with torch.no_grad():
        batched = ours(waveform, lengths, output_hidden_states=True)
        for b, n in enumerate(LENGTHS):
            features, _ = ta.extract_features(waveform[b : b + 1, :n])  # raw output of each layer
            final, _ = ta(waveform[b : b + 1, :n])
            f = features[0].shape[1]
            for layer, h in enumerate(features, start=1):
                torch.testing.assert_close(batched.hidden_states[layer][b, :f], h[0], atol=1e-4, rtol=0)
            torch.testing.assert_close(batched.context[b, :f], final[0], atol=1e-4, rtol=0)

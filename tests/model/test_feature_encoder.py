"""Conv 0's normalization statistics: per-row statistics and chunked utterance statistics."""

import torch

from speechssl.model.feature_encoder import FeatureEncoder, NormStats, conv_output_lengths, masked_norm_stats
from speechssl.testing import base_style, random_batch


def test_per_row_stats_equal_each_rows_own():
    """(B, C) statistics normalize each row with its own (the ONNX graph's path); (C,) ones every row alike."""
    torch.manual_seed(0)
    encoder = FeatureEncoder(base_style().feature_encoder).eval()
    waveform, lengths = random_batch([16_000, 9_000, 12_345], seed=1)
    block = encoder.conv_layers[0]
    conv0 = block.conv(waveform[:, None]).float()  # (B, C, T0)
    frames = conv_output_lengths(lengths, block.spec)
    valid = (torch.arange(conv0.shape[-1])[None, :] < frames[:, None]).float()[:, None, :]
    mean, var = masked_norm_stats(conv0, valid)  # (B, C, 1)
    with torch.no_grad():
        own, out_lengths = encoder(waveform, lengths)
        per_row, _ = encoder(waveform, lengths, NormStats(mean[..., 0], var[..., 0]))
        shared, _ = encoder(waveform, lengths, NormStats(mean[0, :, 0], var[0, :, 0]))
    for i, n in enumerate(out_lengths.tolist()):
        torch.testing.assert_close(per_row[i, :n], own[i, :n], rtol=1e-5, atol=1e-5)
    assert torch.allclose(shared[0, : out_lengths[0]], own[0, : out_lengths[0]], atol=1e-5)
    assert not torch.allclose(shared[1, : out_lengths[1]], own[1, : out_lengths[1]], atol=1e-3)


def test_chunked_utterance_stats_equal_one_pass():
    torch.manual_seed(0)
    encoder = FeatureEncoder(base_style().feature_encoder).eval()
    audio = random_batch([50_003], seed=2)[0][0]
    with torch.no_grad():
        chunked = encoder.utterance_norm_stats(audio, chunk_frames=1_000)  # 10 chunks, the last one short
        conv0 = encoder.conv_layers[0].conv(audio[None, None]).float()
        mean, var = masked_norm_stats(conv0, torch.ones(1, 1, conv0.shape[-1]))
    torch.testing.assert_close(chunked.mean, mean[0, :, 0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunked.var, var[0, :, 0], rtol=1e-4, atol=1e-6)

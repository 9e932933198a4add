import dataclasses

import pytest

from speechssl import config
from speechssl.config import Wav2Vec2Config


def test_base_matches_fairseq_base_recipe():
    cfg = config.base()
    fe, tr, q = cfg.feature_encoder, cfg.transformer, cfg.quantizer
    assert fe.conv_layers == ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2
    assert (fe.norm, fe.conv_bias, fe.feature_grad_mult) == ("group", False, 0.1)
    assert (fe.stride, fe.receptive_field) == (320, 400)
    assert (tr.embed_dim, tr.num_layers, tr.num_heads, tr.ffn_dim) == (768, 12, 12, 3072)
    assert (tr.layer_norm_first, tr.pos_conv_kernel, tr.pos_conv_groups) == (False, 128, 16)
    assert (tr.dropout, tr.attention_dropout, tr.activation_dropout, tr.layerdrop) == (0.1, 0.1, 0.0, 0.05)
    assert (q.num_groups, q.num_vars, cfg.quantizer_dim) == (2, 320, 256)
    assert (q.temp_start, q.temp_end, q.temp_decay) == (2.0, 0.5, 0.999995)
    assert (cfg.final_dim, cfg.logit_temp, cfg.num_negatives) == (256, 0.1, 100)
    assert (cfg.diversity_weight, cfg.feature_penalty_weight) == (0.1, 10.0)
    assert (cfg.dropout_input, cfg.dropout_features, cfg.normalize_waveform) == (0.1, 0.1, False)
    m = cfg.masking
    assert (m.time_prob, m.time_length, m.time_min_masks) == (0.65, 10, 2)


def test_large_matches_fairseq_large_lv60k_recipe():
    cfg = config.large()
    fe, tr = cfg.feature_encoder, cfg.transformer
    assert (fe.norm, fe.conv_bias, fe.feature_grad_mult) == ("layer", True, 1.0)
    assert (tr.embed_dim, tr.num_layers, tr.num_heads, tr.ffn_dim, tr.layer_norm_first) == (1024, 24, 16, 4096, True)
    assert (tr.dropout, tr.attention_dropout, tr.layerdrop) == (0.0, 0.0, 0.0)
    assert (cfg.final_dim, cfg.quantizer.temp_end, cfg.feature_penalty_weight) == (768, 0.1, 0.0)
    assert cfg.normalize_waveform and cfg.quantizer_dim == 768


def test_temperature_schedule():
    q = config.base().quantizer
    assert q.temperature(0) == 2.0
    assert q.temperature(1000) == pytest.approx(2.0 * 0.999995**1000)
    assert q.temperature(400_000) == 0.5  # floor reached at ~277k updates


@pytest.mark.parametrize("name", ["tiny", "base", "large"])
def test_dict_round_trip(name):
    cfg = config.preset(name)
    data = cfg.to_dict()
    assert Wav2Vec2Config.from_dict(data) == cfg
    import json

    assert Wav2Vec2Config.from_dict(json.loads(json.dumps(data))) == cfg  # lists become tuples again


def test_override_and_errors():
    cfg = config.override(config.base(), {"transformer.num_layers": 3, "masking.time_prob": 0.5})
    assert cfg.transformer.num_layers == 3 and cfg.masking.time_prob == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.final_dim = 3
    with pytest.raises(ValueError, match="unknown config key"):
        config.override(cfg, {"transformer.nope": 1})
    with pytest.raises(ValueError, match="unknown Wav2Vec2Config"):
        Wav2Vec2Config.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="divisible"):
        config.override(cfg, {"transformer.num_heads": 7})
    with pytest.raises(ValueError, match="unknown preset"):
        config.preset("huge")

"""fairseq checkpoints, written the way fairseq writes them, imported without fairseq/omegaconf."""

import argparse
import subprocess
import sys
import textwrap

import pytest
import torch

transformers = pytest.importorskip("transformers")
omegaconf = pytest.importorskip("omegaconf")

from speechssl.convert.fairseq import load_fairseq, parse_conv_layers, read_dictionary  # noqa: E402
from speechssl.convert.huggingface import config_to_hf  # noqa: E402
from speechssl.models import load_model  # noqa: E402
from speechssl.testing import base_style, large_style, random_batch  # noqa: E402

# transformers' fairseq converter MAPPING, read backwards (peers.md §2.3): HF name -> fairseq name.
HF_TO_FAIRSEQ = [
    ("feature_projection.layer_norm.", "layer_norm."),
    ("feature_projection.projection.", "post_extract_proj."),
    ("masked_spec_embed", "mask_emb"),
    ("encoder.pos_conv_embed.conv.parametrizations.weight.original0", "encoder.pos_conv.0.weight_g"),
    ("encoder.pos_conv_embed.conv.parametrizations.weight.original1", "encoder.pos_conv.0.weight_v"),
    ("encoder.pos_conv_embed.conv.bias", "encoder.pos_conv.0.bias"),
    (".attention.", ".self_attn."),
    (".layer_norm.", ".self_attn_layer_norm."),  # only inside encoder.layers (guarded below)
    (".feed_forward.intermediate_dense.", ".fc1."),
    (".feed_forward.output_dense.", ".fc2."),
    ("quantizer.codevectors", "quantizer.vars"),
    ("project_hid.", "final_proj."),
]


def to_fairseq_key(key: str, layer_norm_conv: bool) -> str:
    key = key.removeprefix("wav2vec2.")
    if key.startswith("feature_extractor.conv_layers."):
        i, kind, param = key.split(".")[2:5]
        sub = "0" if kind == "conv" else ("2.1" if layer_norm_conv else "2")
        return f"feature_extractor.conv_layers.{i}.{sub}.{param}"
    for old, new in HF_TO_FAIRSEQ:
        if old == ".layer_norm." and not key.startswith("encoder.layers."):
            continue
        key = key.replace(old, new)
    return key


def fairseq_model_cfg(cfg) -> dict:
    tr, fe = cfg.transformer, cfg.feature_encoder
    return {
        "_name": "wav2vec2",
        "extractor_mode": "layer_norm" if fe.norm == "layer" else "default",
        "conv_feature_layers": "[" + ", ".join(map(str, fe.conv_layers[:1])) + "] + [" + str(fe.conv_layers[1]) + "] * 4 + ["
        + str(fe.conv_layers[5]) + "] * 2",
        "conv_bias": fe.conv_bias,
        "encoder_layers": tr.num_layers,
        "encoder_embed_dim": tr.embed_dim,
        "encoder_ffn_embed_dim": tr.ffn_dim,
        "encoder_attention_heads": tr.num_heads,
        "activation_fn": "gelu",
        "layer_norm_first": tr.layer_norm_first,
        "conv_pos": tr.pos_conv_kernel,
        "conv_pos_groups": tr.pos_conv_groups,
        "latent_vars": cfg.quantizer.num_vars,
        "latent_groups": cfg.quantizer.num_groups,
        "latent_dim": 0,
        "final_dim": cfg.final_dim,
        "latent_temp": [2.0, 0.5, 0.999995],
        "quantize_targets": True,
        "feature_grad_mult": fe.feature_grad_mult,
        "dropout": 0.1,
        "encoder_layerdrop": 0.05,
    }


def run_without_fairseq_or_omegaconf(code: str, tmp_path) -> None:
    """Import in a fresh interpreter where importing omegaconf or fairseq fails."""
    script = "import sys\nsys.modules['omegaconf'] = None\nsys.modules['fairseq'] = None\n" + textwrap.dedent(code)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_pretraining_checkpoint_with_omegaconf_cfg(tmp_path):
    torch.manual_seed(0)
    cfg = base_style()
    hf = transformers.Wav2Vec2ForPreTraining(transformers.Wav2Vec2Config(**config_to_hf(cfg, "pretraining"))).eval()
    state = {to_fairseq_key(k, False): v for k, v in hf.state_dict().items()}
    fairseq_cfg = omegaconf.OmegaConf.create(
        {"model": fairseq_model_cfg(cfg), "task": {"_name": "audio_pretraining", "normalize": False},
         "criterion": {"_name": "wav2vec", "loss_weights": [0.1, 10]}}
    )
    torch.save({"args": None, "cfg": fairseq_cfg, "model": state, "optimizer_history": [], "extra_state": {}},
               tmp_path / "checkpoint_best.pt")
    run_without_fairseq_or_omegaconf(
        """
        from speechssl.convert.fairseq import load_fairseq
        from speechssl.serialization import save_model
        save_model(load_fairseq("checkpoint_best.pt").model, "imported")
        """,
        tmp_path,
    )
    ours = load_model(tmp_path / "imported")
    assert type(ours).__name__ == "Wav2Vec2ForPretraining"
    assert ours.cfg.transformer == cfg.transformer and ours.cfg.feature_encoder == cfg.feature_encoder
    assert (ours.cfg.diversity_weight, ours.cfg.feature_penalty_weight) == (0.1, 10.0)
    waveform, _ = random_batch([20000, 20000])
    with torch.no_grad():
        mine = ours.encoder(waveform, output_hidden_states=True)
        ref = hf.wav2vec2(waveform, output_hidden_states=True)
    torch.testing.assert_close(mine.context, ref.last_hidden_state, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours.quantizer.codevectors, hf.quantizer.codevectors)
    torch.testing.assert_close(ours.final_proj.weight, hf.project_hid.weight)


def test_finetuned_ctc_checkpoint_with_legacy_args_and_dictionary(tmp_path):
    torch.manual_seed(0)
    symbols = "| E T A O N I H S R D L U M W C F G Y P B V K ' X J Q Z".split()
    (tmp_path / "dict.ltr.txt").write_text("".join(f"{s} {1000 - i}\n" for i, s in enumerate(symbols)))
    cfg = large_style(vocab_size=4 + len(symbols))
    hf = transformers.Wav2Vec2ForCTC(transformers.Wav2Vec2Config(**config_to_hf(cfg, "ctc"))).eval()
    state = {"w2v_encoder.w2v_model." + to_fairseq_key(k, True): v for k, v in hf.state_dict().items()
             if not k.startswith("lm_head.")}
    state["w2v_encoder.proj.weight"], state["w2v_encoder.proj.bias"] = hf.lm_head.weight, hf.lm_head.bias
    pretrain_args = argparse.Namespace(**fairseq_model_cfg(cfg), normalize=True, loss_weights="[0.1, 0]")
    args = argparse.Namespace(w2v_args=pretrain_args, dropout=0.0, layerdrop=0.1, mask_prob=0.5, mask_channel_prob=0.25,
                              mask_channel_length=64, feature_grad_mult=0.0, final_dropout=0.0, normalize=True)
    torch.save({"args": args, "model": state}, tmp_path / "finetuned.pt")
    run_without_fairseq_or_omegaconf(
        """
        import json
        from speechssl.convert.fairseq import load_fairseq
        from speechssl.serialization import save_model
        imported = load_fairseq("finetuned.pt", "dict.ltr.txt")
        save_model(imported.model, "imported")
        """,
        tmp_path,
    )
    ours = load_model(tmp_path / "imported")
    assert type(ours).__name__ == "Wav2Vec2ForCTC"
    assert ours.cfg.normalize_waveform and ours.cfg.vocab_size == 32
    assert ours.cfg.masking.channel_length == 64 and ours.cfg.feature_encoder.feature_grad_mult == 0.0
    vocab = ours.tokenizer.tokens
    assert vocab[:5] == ["<s>", "<pad>", "</s>", "<unk>", "|"] and vocab[5] == "E"  # blank stays index 0
    waveform, lengths = random_batch([20000, 13000])
    with torch.no_grad():
        mine = ours(waveform, lengths)
        mask = (torch.arange(waveform.shape[1])[None, :] < lengths[:, None]).long()
        ref = hf(waveform, attention_mask=mask).logits
    for b in range(2):
        f = mine.lengths[b]
        torch.testing.assert_close(mine.logits[b, :f], ref[b, :f], atol=1e-4, rtol=0)


def test_restricted_unpickler_never_calls_what_the_file_names(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    torch.save({"model": {}, "args": argparse.Namespace(x=Exploit())}, tmp_path / "evil.pt")
    with pytest.raises(ValueError):
        load_fairseq(tmp_path / "evil.pt")  # an empty model does not fit, but nothing ran
    assert not (tmp_path / "pwned").exists()


def test_conv_layer_spec_and_dictionary_parsing(tmp_path):
    spec = "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"
    assert parse_conv_layers(spec) == ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2
    with pytest.raises(ValueError, match="unsupported"):
        parse_conv_layers("__import__('os').system('true')")
    (tmp_path / "dict.txt").write_text("| 10\nE 5\n' 1\n")
    assert read_dictionary(tmp_path / "dict.txt") == ["<s>", "<pad>", "</s>", "<unk>", "|", "E", "'"]

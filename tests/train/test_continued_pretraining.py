"""Continued pretraining (`pretrain --init`): weights, heads and losses carried over exactly."""

import dataclasses
import json
import math
import subprocess
import sys

import pytest
import torch

transformers = pytest.importorskip("transformers")

from speechssl.audio import load_audio  # noqa: E402
from speechssl.config import override, tiny  # noqa: E402
from speechssl.convert.huggingface import save_huggingface  # noqa: E402
from speechssl.data.manifest import Manifest  # noqa: E402
from speechssl.model import Wav2Vec2Encoder, Wav2Vec2ForCTC, Wav2Vec2ForPretraining  # noqa: E402
from speechssl.model.masking import sample_negatives  # noqa: E402
from speechssl.model.quantizer import straight_through_gumbel  # noqa: E402
from speechssl.models import ModelError, load_model  # noqa: E402
from speechssl.serialization import save_model  # noqa: E402
from speechssl.testing import tiny_run_config  # noqa: E402
from speechssl.train.continued import continue_from  # noqa: E402
from speechssl.train.pretrain import pretrain  # noqa: E402

NO_DROPOUT = {"model.transformer.dropout": 0.0, "model.transformer.attention_dropout": 0.0,
              "model.transformer.activation_dropout": 0.0, "model.transformer.layerdrop": 0.0,
              "model.dropout_input": 0.0, "model.dropout_features": 0.0}


def records(run, split):
    lines = (run / "train_log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def hf_pretraining_dir(directory):
    """A transformers-made Wav2Vec2ForPreTraining (layer-norm extractor, so padding is masked)."""
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        conv_dim=(32,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_bias=True,
        feat_extract_norm="layer", do_stable_layer_norm=True, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        num_codevector_groups=2, num_codevectors_per_group=16, codevector_dim=32, proj_codevector_dim=32,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
        feat_quantizer_dropout=0.0, layerdrop=0.0, mask_time_prob=0.65,
    )
    transformers.Wav2Vec2ForPreTraining(config).save_pretrained(directory)
    return directory


def test_first_update_losses_equal_transformers(synthetic_corpus, tmp_path, monkeypatch):
    hf_dir = hf_pretraining_dir(tmp_path / "hf")
    seen = []
    forward = Wav2Vec2ForPretraining.forward

    def spy(self, waveform, lengths=None, **kwargs):
        out = forward(self, waveform, lengths, **kwargs)
        if self.training and not seen:
            seen.append((waveform.clone(), lengths.clone(), kwargs["utterance_keys"].clone(), out))
        return out

    monkeypatch.setattr(Wav2Vec2ForPretraining, "forward", spy)
    cfg = tiny_run_config(synthetic_corpus, **NO_DROPOUT, **{"optim.max_updates": 1, "data.valid_manifest": "",
                                                             "data.max_tokens": 600_000})
    pretrain(cfg, tmp_path / "run", init=hf_dir, progress=False)
    monkeypatch.undo()
    waveform, lengths, keys, ours = seen[0]
    assert waveform.shape[0] > 1, "want a batch of several utterances"

    theirs = transformers.Wav2Vec2ForPreTraining.from_pretrained(hf_dir).train()
    B, T = ours.time_mask.shape
    G, V = theirs.config.num_codevector_groups, theirs.config.num_codevectors_per_group

    def same_gumbel_noise(logits, tau=1.0, hard=False, **_):  # transformers views logits as (B*T*G, V)
        return straight_through_gumbel(logits.view(B, T, G, V), tau, keys).view(B * T * G, V)

    monkeypatch.setattr(torch.nn.functional, "gumbel_softmax", same_gumbel_noise)
    negatives = sample_negatives(ours.time_mask, cfg.model.num_negatives, row_keys=keys)  # as the model drew them
    attention = (torch.arange(waveform.shape[1])[None, :] < lengths[:, None]).long()
    with torch.no_grad():
        ref = theirs(waveform, attention_mask=attention, mask_time_indices=ours.time_mask,
                     sampled_negative_indices=negatives + (torch.arange(B) * T)[:, None, None])
    n = ours.num_masked.item()
    assert ours.contrastive_loss.item() / n == pytest.approx(ref.contrastive_loss.item() / n, abs=1e-4)
    assert ours.diversity_loss.item() / n == pytest.approx(ref.diversity_loss.item() / n, abs=1e-4)  # both x masked
    # and the run logged exactly these as its first update
    first = records(tmp_path / "run", "train")[0]
    assert first["step"] == 1
    assert first["contrastive_bits"] * math.log(2) == pytest.approx(ref.contrastive_loss.item() / n, abs=1e-4)


def memorized_model(corpus, path):
    """A tiny model that learned a batch (fixed masks) far from chance, as test_the_model_learns_a_batch;
    on other masks its loss is far from chance too (above it), which is what a wrong start would lose."""
    manifest = Manifest.read(corpus / "train_unlabeled.tsv")
    clips = [load_audio(manifest.audio_path(i))[:48000] for i in range(4)]
    waveform = torch.stack([c[: min(c.numel() for c in clips)] for c in clips])
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(override(tiny(), {k.removeprefix("model."): v for k, v in NO_DROPOUT.items()})).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-6)
    for step in range(40):
        out = model(waveform, num_updates=step, utterance_keys=torch.arange(4))
        optimizer.zero_grad()
        (out.loss / out.num_masked).backward()
        optimizer.step()
    save_model(model, path)
    return manifest


def test_continuing_an_exported_speechssl_model_starts_at_its_last_validation_loss(synthetic_corpus, tmp_path):
    manifest = memorized_model(synthetic_corpus, tmp_path / "memorized")
    four = tmp_path / "four.tsv"  # the clips it learned, for training and validation
    four.write_text("\n".join((synthetic_corpus / "train_unlabeled.tsv").read_text().splitlines()[:5]) + "\n")
    assert len(Manifest.read(four).utterances) == 4 and manifest.root == Manifest.read(four).root
    data = {"data.train_manifest": str(four), "data.valid_manifest": str(four)}
    cfg = tiny_run_config(synthetic_corpus, **data, **{"optim.max_updates": 2, "optim.lr": 1e-5, "validate_interval": 2})
    pretrain(cfg, tmp_path / "first", init=tmp_path / "memorized", progress=False)
    last = records(tmp_path / "first", "valid")[-1]
    assert last["step"] == 2
    chance = math.log2(cfg.model.num_negatives + 1)
    assert abs(last["contrastive_bits"] - chance) > 0.5, "the first run sits at chance: nothing to tell a start from"
    assert convert(tmp_path / "first", tmp_path / "exported").returncode == 0

    # another recipe (lr, regularization) on the exported architecture; the same masking, so the same validation masks
    again = tiny_run_config(synthetic_corpus, **data, **{"optim.max_updates": 1, "optim.lr": 1e-4,
                                                         "model.transformer.layerdrop": 0.05})
    pretrain(again, tmp_path / "continued", init=tmp_path / "exported", progress=False)
    start = records(tmp_path / "continued", "valid")[0]
    assert start["step"] == 0
    assert start["contrastive_bits"] == pytest.approx(last["contrastive_bits"], abs=0.05)
    saved = json.loads((tmp_path / "continued" / "config.json").read_text())["model"]
    assert saved["transformer"]["layerdrop"] == 0.05  # the recipe from the run
    assert saved["quantizer"]["temp_start"] == saved["quantizer"]["temp_end"] == cfg.model.quantizer.temp_end


def convert(source, destination):
    return subprocess.run([sys.executable, "-m", "speechssl", "convert", str(source), str(destination), "--to",
                           "huggingface"], capture_output=True, text=True)


def test_recipe_from_the_run_architecture_and_every_head_from_the_checkpoint(tmp_path):
    torch.manual_seed(1)
    source = Wav2Vec2ForPretraining(tiny())
    save_model(source, tmp_path / "native")
    run = tiny_run_config(tmp_path, **{"model.transformer.embed_dim": 128, "model.transformer.dropout": 0.2,
                                       "model.quantizer.temp_end": 0.3, "model.num_negatives": 50})
    cfg, state = continue_from(tmp_path / "native", run)
    assert cfg.model.transformer.embed_dim == 96 and cfg.model.transformer.dropout == 0.2
    assert cfg.model.num_negatives == 50
    assert cfg.model.quantizer.temperature(0) == 0.3  # held at the run's floor
    restarted, _ = continue_from(tmp_path / "native", run, restart_temperature=True)
    assert restarted.model.quantizer.temperature(0) == run.model.quantizer.temp_start
    for name in ("quantizer.codevectors", "quantizer.weight_proj.weight", "project_q.weight", "final_proj.weight"):
        assert torch.equal(state[name], source.state_dict()[name]), name


def test_ctc_and_encoder_only_checkpoints_are_refused_with_the_reason(synthetic_corpus, tmp_path):
    save_model(Wav2Vec2ForCTC(dataclasses.replace(tiny(), vocab_size=8)), tmp_path / "ctc")
    save_huggingface(Wav2Vec2Encoder(tiny()), tmp_path / "encoder")
    run = tiny_run_config(synthetic_corpus)
    with pytest.raises(ModelError, match="fine-tuned CTC model"):
        continue_from(tmp_path / "ctc", run)
    with pytest.raises(ModelError, match="encoder without the pretraining heads"):
        continue_from(tmp_path / "encoder", run)
    result = subprocess.run(
        [sys.executable, "-m", "speechssl", "pretrain", "--init", str(tmp_path / "ctc"), "--output-dir",
         str(tmp_path / "run"), "--train-manifest", run.data.train_manifest, "--no-progress"],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'ctc'}: a fine-tuned CTC model")
    assert "Traceback" not in result.stderr

import json
import math

import pytest
import safetensors.torch
import torch

from speechssl import config
from speechssl.data.dataset import AudioDataset
from speechssl.data.manifest import Manifest
from speechssl.models import load_model
from speechssl.serialization import save_model
from speechssl.testing import tiny_finetune_config, tiny_run_config
from speechssl.text.tokenizer import CharTokenizer
from speechssl.train.finetune import CTCTask, finetune, finetuning_model_config
from speechssl.train.pretrain import pretrain


def weights(run, step):
    return safetensors.torch.load_file(str(run / "checkpoints" / f"step_{step:08d}" / "model.safetensors"))


@pytest.fixture(scope="module")
def pretrained_run(synthetic_corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("pretrained") / "run"
    pretrain(tiny_run_config(synthetic_corpus, **{"optim.max_updates": 2, "save_interval": 2, "validate_interval": 2}), run,
             progress=False)
    return run


def test_freezing_schedule_and_pretrained_init(synthetic_corpus, pretrained_run, tmp_path):
    cfg = tiny_finetune_config(synthetic_corpus, **{"finetune.init_model": str(pretrained_run)})
    finetune(cfg, tmp_path / "ft", progress=False)
    pretrained = load_model(pretrained_run).encoder.state_dict()
    at2, at4 = weights(tmp_path / "ft", 2), weights(tmp_path / "ft", 4)
    for name, value in pretrained.items():
        assert torch.equal(at2["encoder." + name], value), f"{name} moved while the encoder was frozen"
        if name.startswith("feature_encoder."):
            assert torch.equal(at4["encoder." + name], value), f"{name}: the conv encoder must stay frozen"
    assert not torch.equal(at2["ctc_head.weight"], at4["ctc_head.weight"])
    moved = [n for n in pretrained if n.startswith("transformer.") and not torch.equal(at4["encoder." + n], pretrained[n])]
    assert moved, "the transformer never trained after the freeze"
    records = [json.loads(line) for line in (tmp_path / "ft" / "train_log.jsonl").read_text().splitlines()]
    valid = [r for r in records if r["split"] == "valid"]
    assert [r["step"] for r in valid] == [2, 4] and all(math.isfinite(r["wer"]) and r["wer"] >= 0 for r in valid)
    best = load_model(tmp_path / "ft" / "checkpoints" / "best")
    assert best.tokenizer.tokens == load_model(tmp_path / "ft" / "checkpoints" / "step_00000004").tokenizer.tokens
    # speechssl evaluate reproduces the validation WER/CER of the kept checkpoint
    from speechssl.inference.evaluate import evaluate
    from speechssl.inference.transcribe import Transcriber

    best_valid = min(valid, key=lambda r: (r["wer"], r["cer"], r["loss"]))  # the kept one: ties broken by CER, loss
    report = evaluate(Transcriber(best, timestamps="none"), cfg.data.valid_manifest, progress=False)
    assert report.wer == pytest.approx(best_valid["wer"], abs=1e-6)
    assert report.cer == pytest.approx(best_valid["cer"], abs=1e-6)


def test_resume_equals_uninterrupted(synthetic_corpus, tmp_path):
    cfg = tiny_finetune_config(synthetic_corpus, **{"model.transformer.dropout": 0.1, "finetune.freeze_encoder_updates": 1})
    finetune(cfg, tmp_path / "straight", progress=False)
    finetune(cfg, tmp_path / "sliced", progress=False, stop_after=2)
    finetune(cfg, tmp_path / "sliced", progress=False, resume=True)
    a, b = weights(tmp_path / "straight", 4), weights(tmp_path / "sliced", 4)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_feature_encoder_lr_scale_moves_the_conv_stack_by_its_own_lr(synthetic_corpus, pretrained_run, tmp_path):
    trained_conv = {"finetune.init_model": str(pretrained_run), "model.feature_encoder.feature_grad_mult": 1.0,
                    "finetune.freeze_encoder_updates": 0}
    # scale 0: the conv stack gets gradients but never moves, the rest trains
    finetune(tiny_finetune_config(synthetic_corpus, **trained_conv, **{"optim.feature_encoder_lr_scale": 0.0}),
             tmp_path / "still", progress=False)
    pretrained = load_model(pretrained_run).encoder.state_dict()
    at4 = weights(tmp_path / "still", 4)
    conv = [n for n in pretrained if n.startswith("feature_encoder.")]
    assert conv and all(torch.equal(at4["encoder." + n], pretrained[n]) for n in conv)
    assert not torch.equal(at4["encoder.transformer.layers.0.fc1.weight"],
                           pretrained["transformer.layers.0.fc1.weight"])
    # a scale between: two optimizer groups whose lr ratio the schedule keeps, and exact resume
    cfg = tiny_finetune_config(synthetic_corpus, **trained_conv, **{"optim.feature_encoder_lr_scale": 0.25})
    finetune(cfg, tmp_path / "straight", progress=False)
    finetune(cfg, tmp_path / "sliced", progress=False, stop_after=2)
    finetune(cfg, tmp_path / "sliced", progress=False, resume=True)
    a, b = weights(tmp_path / "straight", 4), weights(tmp_path / "sliced", 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["encoder.feature_encoder.conv_layers.0.conv.weight"],
                           pretrained["feature_encoder.conv_layers.0.conv.weight"])
    from speechssl.train.schedules import lr_multiplier
    from speechssl.train.trainer import parameter_groups

    model = load_model(tmp_path / "straight" / "checkpoints" / "step_00000004")
    groups = parameter_groups(model, cfg.optim)
    optimizer = torch.optim.AdamW(groups, lr=cfg.optim.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(cfg.optim))
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    for _ in range(cfg.optim.max_updates):
        main, conv_lr = schedule.get_last_lr()
        assert conv_lr == pytest.approx(0.25 * main)
        optimizer.step()
        schedule.step()


def test_conv_stack_thaws_after_its_own_freeze(synthetic_corpus, pretrained_run, tmp_path):
    cfg = tiny_finetune_config(synthetic_corpus, **{
        "finetune.init_model": str(pretrained_run), "model.feature_encoder.feature_grad_mult": 1.0,
        "finetune.freeze_encoder_updates": 0, "finetune.freeze_feature_encoder_updates": 2})
    finetune(cfg, tmp_path / "ft", progress=False)
    pretrained = load_model(pretrained_run).encoder.state_dict()
    at2, at4 = weights(tmp_path / "ft", 2), weights(tmp_path / "ft", 4)
    conv = [n for n in pretrained if n.startswith("feature_encoder.")]
    assert all(torch.equal(at2["encoder." + n], pretrained[n]) for n in conv), "conv moved while frozen"
    assert not all(torch.equal(at4["encoder." + n], pretrained[n]) for n in conv), "conv never thawed"
    assert not torch.equal(at2["encoder.transformer.layers.0.fc1.weight"], pretrained["transformer.layers.0.fc1.weight"])


def test_padded_batch_loss_equals_the_sum_of_single_losses(synthetic_corpus):
    manifest = Manifest.read(synthetic_corpus / "dev.tsv")
    tokenizer = CharTokenizer.build(u.text for u in manifest.utterances)
    cfg = tiny_finetune_config(synthetic_corpus)
    cfg = config.override(cfg, {"model.vocab_size": len(tokenizer)})
    task = CTCTask(cfg, tokenizer)
    torch.manual_seed(0)
    model = task.build_model(cfg).eval()
    dataset = AudioDataset(manifest)
    indices = list(range(len(manifest)))
    batch = dataset[(0, indices)]
    assert (batch["audio_lens"] < batch["audio"].shape[1]).any()  # there is padding
    keys = torch.zeros(len(indices), dtype=torch.long)
    with torch.no_grad():
        loss, size, stats = task.loss(model, batch, 0, keys)
        singles = [task.loss(model, dataset[(0, [i])], 0, keys[:1]) for i in indices]
    assert size == len(indices)
    torch.testing.assert_close(loss, sum(s[0] for s in singles), rtol=1e-4, atol=1e-3)
    for name in ("word_errors", "words", "char_errors", "chars"):
        assert stats[name] == sum(s[2][name] for s in singles)


def test_ctc_finetuning_learns_to_transcribe(synthetic_corpus, tmp_path):
    """From scratch, no masking, one utterance: the greedy transcript becomes the reference."""
    cfg = tiny_finetune_config(synthetic_corpus, **{
        "data.train_manifest": str(synthetic_corpus / "train_labeled.tsv"),
        "data.valid_manifest": str(synthetic_corpus / "train_labeled.tsv"),
        "model.masking.time_prob": 0.0, "model.masking.channel_prob": 0.0,
        "model.feature_encoder.feature_grad_mult": 1.0, "finetune.freeze_encoder_updates": 0,
        "optim.lr": 3e-3, "optim.max_updates": 300, "validate_interval": 300, "save_interval": 300, "log_interval": 50,
    })
    finetune(cfg, tmp_path / "ft", progress=False)
    records = [json.loads(line) for line in (tmp_path / "ft" / "train_log.jsonl").read_text().splitlines()]
    train = [r["loss_per_token"] for r in records if r["split"] == "train"]
    assert train[-1] < 0.25 * train[0]
    valid = [r for r in records if r["split"] == "valid"][-1]
    assert valid["cer"] < 20.0


def test_sentencepiece_finetuning_saves_a_model_that_transcribes(synthetic_corpus, tmp_path):
    import speechssl

    cfg = tiny_finetune_config(synthetic_corpus, **{"finetune.tokenizer": "sentencepiece", "finetune.sentencepiece_vocab_size": 30,
                                                     "optim.max_updates": 2})
    finetune(cfg, tmp_path / "ft", progress=False)
    model = load_model(tmp_path / "ft" / "checkpoints" / "best")
    assert model.tokenizer.kind == "sentencepiece" and model.cfg.vocab_size == len(model.tokenizer)
    manifest = Manifest.read(synthetic_corpus / "test.tsv")
    result = speechssl.transcribe(model, str(manifest.audio_path(0)))
    assert isinstance(result.text, str)


def test_init_from_hugging_face_and_model_directories(tmp_path):
    from speechssl.convert.huggingface import save_huggingface
    from speechssl.model import Wav2Vec2ForPretraining

    pretrained = Wav2Vec2ForPretraining(config.tiny())
    save_huggingface(pretrained, tmp_path / "hf")
    save_model(pretrained, tmp_path / "native")
    for path in (tmp_path / "hf", tmp_path / "native"):
        loaded = load_model(path)
        run = tiny_finetune_config(tmp_path)
        cfg = finetuning_model_config(loaded.cfg, run.model, vocab_size=9)
        assert cfg.masking == run.model.masking and cfg.feature_encoder.feature_grad_mult == 0.0
        assert cfg.transformer.embed_dim == pretrained.cfg.transformer.embed_dim
        tokenizer = CharTokenizer(["<s>", "<pad>", "</s>", "<unk>", "|", "A", "B", "C", "D"])
        run = config.override(run, {"model": cfg})
        model = CTCTask(run, tokenizer, loaded.encoder.state_dict()).build_model(run)
        for name, value in pretrained.encoder.state_dict().items():
            assert torch.equal(model.encoder.state_dict()[name], value), name

"""`speechssl convert RUN OUT --to huggingface`: what transformers.pipeline needs, plus a model card."""

import dataclasses
import json
import subprocess
import sys

import pytest
import soundfile
import torch

transformers = pytest.importorskip("transformers")

from speechssl.config import tiny  # noqa: E402
from speechssl.data.manifest import Manifest  # noqa: E402
from speechssl.model import Wav2Vec2ForCTC  # noqa: E402
from speechssl.serialization import save_model  # noqa: E402
from speechssl.testing import tiny_finetune_config  # noqa: E402
from speechssl.text.tokenizer import CharTokenizer, build_tokenizer  # noqa: E402
from speechssl.train import checkpoint  # noqa: E402


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "speechssl", *args], capture_output=True, text=True)


def demo_sized_run(corpus, run):
    """A fine-tuning run directory as speechssl writes one, holding the demo's tiny CTC model."""
    texts = [u.text for u in Manifest.read(corpus / "dev.tsv").utterances]
    tokenizer = CharTokenizer.build(texts)
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(dataclasses.replace(tiny(), vocab_size=len(tokenizer))).eval()
    with torch.no_grad():  # as a trained model: fairseq's special symbols (1-3) are never emitted
        model.ctc_head.bias[1:4] = -1e4
    model.tokenizer = tokenizer
    checkpoint.save_checkpoint(run / "checkpoints", "best", model, {})
    cfg = tiny_finetune_config(corpus)
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    log = [{"split": "train", "step": 2, "audio_seconds": 36.0}, {"split": "valid", "step": 2, "wer": 97.5, "cer": 81.25},
           {"split": "train", "step": 4, "audio_seconds": 36.0}, {"split": "valid", "step": 4, "wer": 92.0, "cer": 70.5}]
    (run / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    return model


def test_exported_run_transcribes_through_the_transformers_pipeline_exactly_as_speechssl(synthetic_corpus, tmp_path):
    demo_sized_run(synthetic_corpus, tmp_path / "run")
    result = run_cli("convert", str(tmp_path / "run"), str(tmp_path / "hf"), "--to", "huggingface")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr

    folder = synthetic_corpus / "audio" / "test"
    result = run_cli("transcribe", str(tmp_path / "run"), str(folder), "--no-progress")
    assert result.returncode == 0, result.stderr
    ours = dict(line.split("\t", 1) for line in result.stdout.splitlines())
    asr = transformers.pipeline("automatic-speech-recognition", model=str(tmp_path / "hf"))
    theirs = {}
    for path in sorted(folder.rglob("*.flac")):
        audio, rate = soundfile.read(path, dtype="float32")
        theirs[str(path.relative_to(folder).with_suffix(""))] = asr({"raw": audio, "sampling_rate": rate})["text"]
    assert len(theirs) >= 3 and all(len(text) > 5 for text in theirs.values())
    assert ours == theirs

    card = (tmp_path / "hf" / "README.md").read_text()
    for expected in ("pipeline_tag: automatic-speech-recognition", "| transformer | 2 layers, width 96, 4 heads",
                     "| 4 | 92.00 | 70.50 |", "updates: 4", "dev.tsv` (", 'pipeline("automatic-speech-recognition"',
                     "speechssl transcribe hf audio.wav"):
        assert expected in card, expected


def test_a_sentencepiece_model_gets_its_weights_and_a_clear_refusal_for_the_tokenizer(synthetic_corpus, tmp_path):
    texts = [u.text for u in Manifest.read(synthetic_corpus / "dev.tsv").utterances]
    tokenizer = build_tokenizer("sentencepiece", texts, vocab_size=30)
    model = Wav2Vec2ForCTC(dataclasses.replace(tiny(), vocab_size=len(tokenizer))).eval()
    model.tokenizer = tokenizer
    save_model(model, tmp_path / "model")
    result = run_cli("convert", str(tmp_path / "model"), str(tmp_path / "hf"), "--to", "huggingface")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "sentencepiece" in warnings[0] and "tokenizer not exported" in warnings[0]
    written = {p.name for p in (tmp_path / "hf").iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= written
    assert not written & {"vocab.json", "tokenizer_config.json"}
    theirs = transformers.Wav2Vec2ForCTC.from_pretrained(tmp_path / "hf").eval()
    waveform = torch.randn(1, 16000)
    with torch.no_grad():
        torch.testing.assert_close(theirs(waveform).logits, model(waveform).logits, atol=1e-4, rtol=0)

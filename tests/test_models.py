"""The model resolver: every kind of reference loads through one code path, anything else is one line."""

import argparse
import json
import os
import shutil
import subprocess
import sys

import pytest
import soundfile
import torch

transformers = pytest.importorskip("transformers")

from speechssl.models import ModelError, load_model, resolve  # noqa: E402
from speechssl.serialization import save_model  # noqa: E402
from speechssl.testing import large_style  # noqa: E402
from speechssl.train import checkpoint  # noqa: E402
from tests.convert.test_fairseq import fairseq_model_cfg, to_fairseq_key  # noqa: E402
from tests.hub_server import FakeHub  # noqa: E402
from tests.inference.test_transcribe import LETTERS, corpus_files, save_hf_ctc  # noqa: E402

# facebook/wav2vec2-base-960h's layout: <pad> (the blank) at 0, fairseq's specials, then letters
VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: i + 5 for i, c in enumerate(LETTERS)}}


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "speechssl", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def one_line_error(result, code=2):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def references(synthetic_corpus, tmp_path_factory):
    """The same CTC model as a Hugging Face dir, speechssl model dir, run dir and fairseq .pt,
    with transformers' own greedy transcripts of a few files."""
    root = tmp_path_factory.mktemp("models")
    model, tokenizer, extractor = save_hf_ctc(root / "hf", VOCAB)
    with torch.no_grad():  # as a trained model, never <s> </s> <unk> (whose names differ between fairseq and transformers)
        model.lm_head.bias[1:4] = -1e4
    model.save_pretrained(root / "hf")
    files = corpus_files(synthetic_corpus, 3)
    expected = {}
    for path in files:
        audio, _ = soundfile.read(path, dtype="float32")
        with torch.no_grad():
            ids = model(extractor(audio, sampling_rate=16000, return_tensors="pt").input_values).logits.argmax(-1)
        expected[path.stem] = tokenizer.batch_decode(ids)[0]

    ours = load_model(root / "hf")
    save_model(ours, root / "native")
    # a run: "best" is the model, the newer step checkpoint another one (best wins)
    checkpoint.save_checkpoint(root / "run" / "checkpoints", "best", ours, {})
    other = load_model(root / "hf")
    torch.nn.init.normal_(other.ctc_head.weight)
    checkpoint.save_checkpoint(root / "run" / "checkpoints", "step_00000004", other, {})
    checkpoint.mark_latest(root / "run" / "checkpoints", "step_00000004")
    # fairseq: the same weights under fairseq's names; blank <s> at 0 and dict.ltr.txt beside the .pt
    cfg = large_style(vocab_size=len(VOCAB))
    state = {"w2v_encoder.w2v_model." + to_fairseq_key(k, True): v for k, v in model.state_dict().items()
             if not k.startswith("lm_head.")}
    state["w2v_encoder.proj.weight"], state["w2v_encoder.proj.bias"] = model.lm_head.weight, model.lm_head.bias
    args = argparse.Namespace(w2v_args=argparse.Namespace(**fairseq_model_cfg(cfg), normalize=True), normalize=True)
    (root / "fairseq").mkdir()
    torch.save({"args": args, "model": state}, root / "fairseq" / "checkpoint_best.pt")
    (root / "fairseq" / "dict.ltr.txt").write_text("".join(f"{s} 1\n" for s in ["|", *LETTERS]))
    return root, files, expected


@pytest.mark.parametrize("kind", ["hf", "native", "run", "fairseq"])
def test_transcribe_takes_every_local_kind(references, kind):
    root, files, expected = references
    reference = {"hf": root / "hf", "native": root / "native", "run": root / "run",
                 "fairseq": root / "fairseq" / "checkpoint_best.pt"}[kind]
    result = run_cli("transcribe", str(reference), *map(str, files), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert dict(line.split("\t", 1) for line in result.stdout.splitlines()) == expected
    if kind == "run":
        assert "training run: loading its best checkpoint" in result.stderr


def test_a_run_without_best_loads_its_latest_checkpoint(references, tmp_path):
    root, _, _ = references
    run = tmp_path / "run"
    model = load_model(root / "native")
    for step in (2, 4):
        checkpoint.save_checkpoint(run / "checkpoints", f"step_{step:08d}", model, {"step": step})
    checkpoint.mark_latest(run / "checkpoints", "step_00000004")
    found = resolve(run)
    assert found.path == run / "checkpoints" / "step_00000004" and found.run_dir == run
    (run / "checkpoints" / "latest").unlink()
    for name in ("step_00000002", "step_00000004"):
        (run / "checkpoints" / name / checkpoint.TRAINER_FILE).unlink()
    with pytest.raises(ModelError, match="no finished checkpoint"):
        resolve(run)


def test_hub_id_downloads_once_then_works_offline(references, tmp_path):
    root, files, expected = references
    repo = tmp_path / "repo"
    shutil.copytree(root / "hf", repo)
    (repo / "pytorch_model.bin").write_bytes(b"a second copy of the weights, not needed")
    (repo / "optimizer.pt").write_bytes(b"training state, not needed")
    hub = FakeHub({"acme/w2v-ctc": repo})
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    try:
        result = run_cli("transcribe", "acme/w2v-ctc", *map(str, files), "--no-progress", env=env)
        assert result.returncode == 0, result.stderr
        assert dict(line.split("\t", 1) for line in result.stdout.splitlines()) == expected
        fetched = {r.rsplit("/", 1)[1] for r in hub.requests if r.startswith("GET /acme/w2v-ctc/resolve/")}
        assert fetched == set(os.listdir(repo)) - {"pytorch_model.bin", "optimizer.pt"}  # only what the model needs
        assert {"config.json", "model.safetensors", "vocab.json", "preprocessor_config.json"} <= fetched
        unknown = one_line_error(run_cli("transcribe", "acme/nothing-here", str(files[0]), env=env))
        assert "no model acme/nothing-here on the hub" in unknown
    finally:
        hub.close()
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    result = run_cli("transcribe", "acme/w2v-ctc", *map(str, files), "--no-progress", env=offline)
    assert result.returncode == 0, result.stderr
    assert dict(line.split("\t", 1) for line in result.stdout.splitlines()) == expected
    result = run_cli("extract-features", "acme/w2v-ctc", str(files[0]), "--output", str(tmp_path / "feats"),
                     "--layers", "final", "--no-progress", env=offline)
    assert result.returncode == 0, result.stderr
    miss = one_line_error(run_cli("transcribe", "acme/never-fetched", str(files[0]), env=offline))
    assert "not in the Hugging Face cache" in miss and "HF_HUB_OFFLINE" in miss


def test_references_that_are_no_model_get_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(json.dumps({"model_type": "wav2vec2"}))
    (tmp_path / "broken.pt").write_bytes(b"not a pickle")
    os.symlink(tmp_path / "gone", tmp_path / "link")
    cases = {
        "empty": "a directory with no model in it (found nothing)",
        "notes": "found readme.txt",
        "hf": "config.json without weights",
        "broken.pt": "cannot load it as a fairseq model",
        "link": "dangling symbolic link",
        "missing/model": "no such local path",  # shaped like a hub id: both readings are named
        "./missing": "no such file or directory",
    }
    for name, message in cases.items():
        reference = str(tmp_path / name) if not name.startswith(("missing", "./")) else name
        with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
            load_model(reference, local_files_only=True)
        assert "\n" not in str(caught.value)

"""Bad inputs on the command line: each named on stderr in one line, the good files still written."""

import dataclasses
import os
import subprocess
import sys

import pytest
import torch

from speechssl.config import tiny
from speechssl.data.manifest import Manifest
from speechssl.model import Wav2Vec2ForCTC
from speechssl.serialization import save_model
from speechssl.text.tokenizer import CharTokenizer


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "speechssl", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def layout(synthetic_corpus, tmp_path_factory):
    """A CTC model, and a folder of two good files and a dangling link; plus a path that does not exist."""
    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(dataclasses.replace(tiny(), vocab_size=9)).eval()
    model.tokenizer = CharTokenizer(["<s>", "<pad>", "</s>", "<unk>", "|", "A", "B", "C", "D"])
    save_model(model, root / "model")
    manifest = Manifest.read(synthetic_corpus / "test.tsv")
    folder = root / "audio"
    folder.mkdir()
    good = []
    for i, u in enumerate(manifest.utterances[:2]):
        os.symlink(manifest.root / u.path, folder / f"clip{i}.flac")
        good.append(f"clip{i}")
    os.symlink(root / "deleted.wav", folder / "ghost.wav")
    return root, folder, good


def failures(stderr):
    return {line.split(": ", 1)[0].removeprefix("FAILED "): line.split(": ", 1)[1]
            for line in stderr.splitlines() if line.startswith("FAILED ")}


@pytest.mark.parametrize("command", ["transcribe", "extract-features"])
def test_dangling_links_and_missing_files_are_named_and_the_rest_written(layout, tmp_path, command):
    root, folder, good = layout
    missing = tmp_path / "nope.wav"
    out = tmp_path / "out"
    output = ["--output-dir", str(out)] if command == "transcribe" else ["--output", str(out), "--layers", "final"]
    result = run_cli(command, str(root / "model"), str(folder), str(missing), *output, "--no-progress")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    failed = failures(result.stderr)
    assert failed == {str(folder / "ghost.wav"): f"dangling symbolic link to {root / 'deleted.wav'}",
                      str(missing): "no such file"}
    written = sorted(p.stem for p in out.iterdir() if p.suffix in (".txt", ".npy"))
    assert written == sorted(good)


def test_a_directory_without_a_model_is_named_with_exit_code_2(layout, tmp_path):
    _, folder, _ = layout
    (tmp_path / "not_a_model").mkdir()
    (tmp_path / "not_a_model" / "notes.txt").write_text("x")
    for command in (["transcribe"], ["extract-features", "--output", str(tmp_path / "f")], ["evaluate"]):
        inputs = [str(folder)] if command[0] != "evaluate" else [str(tmp_path / "x.tsv")]
        result = run_cli(command[0], str(tmp_path / "not_a_model"), *inputs, *command[1:])
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (f"error: {tmp_path / 'not_a_model'}: a directory with no model in it "
                                         "(found notes.txt); a model is a speechssl model or run directory, a Hugging "
                                         "Face directory (config.json + weights), a fairseq .pt file, or a hub id "
                                         "org/name[@revision]")

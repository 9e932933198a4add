import json
import subprocess
import sys

import torch

from speechssl import config
from speechssl.model import Wav2Vec2ForCTC
from speechssl.models import load_model
from speechssl.serialization import save_model


def run_cli(*args, cwd=None):
    result = subprocess.run([sys.executable, "-m", "speechssl", *args], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_smoke_job_trains_saves_and_reloads(tmp_path):
    out = run_cli("smoke", "--output-dir", str(tmp_path / "smoke"), "--steps", "6")
    assert "reloaded weights identical: True" in out
    assert (tmp_path / "smoke" / "model" / "model.safetensors").exists()
    assert json.loads((tmp_path / "smoke" / "huggingface" / "config.json").read_text())["model_type"] == "wav2vec2"


def test_convert_round_trip_through_the_cli(tmp_path):
    model = Wav2Vec2ForCTC(config.override(config.tiny(), {"vocab_size": 7})).eval()
    save_model(model, tmp_path / "native")
    run_cli("convert", str(tmp_path / "native"), str(tmp_path / "hf"), "--to", "huggingface")
    run_cli("convert", str(tmp_path / "hf"), str(tmp_path / "back"))
    back = load_model(tmp_path / "back")
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in model.state_dict().items())


def test_demo_passes_its_options_to_the_recipe(tmp_path):
    """`speechssl demo` runs recipes/synthetic/run.sh; stage 7 is past the last, so nothing runs."""
    result = subprocess.run([sys.executable, "-m", "speechssl", "demo", "--exp", str(tmp_path / "exp"), "--stage", "7"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "exp").is_dir() and not list((tmp_path / "exp").iterdir())

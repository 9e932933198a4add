"""The synthetic recipe end to end at toy size, so CI catches a broken stage."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOY = """
HOURS=0.03
LABELED_FRACTION=0.3
DEV_FRACTION=0.15
TEST_FRACTION=0.15
SEED=0
PRETRAIN_CONFIG=recipes/synthetic/configs.py:pretrain_tiny
FINETUNE_CONFIG=recipes/synthetic/configs.py:finetune_tiny
SCRATCH_CONFIG=recipes/synthetic/configs.py:scratch_tiny
PRETRAIN_SET="optim.max_updates=3 optim.warmup_updates=1 validate_interval=3 save_interval=3 log_interval=1 data.max_tokens=200000 data.num_workers=0"
FINETUNE_SET="optim.max_updates=3 validate_interval=3 save_interval=3 log_interval=1 data.max_tokens=200000 data.num_workers=0"
LM_ORDER=2
BEAM_SIZE=10
LM_WEIGHT=1.0
WORD_SCORE=0.0
"""


def run_recipe(conf, exp, *extra):
    env = {**os.environ, "SPEECHSSL": f"{sys.executable} -m speechssl", "PYTHON": sys.executable}
    return subprocess.run(["bash", "recipes/synthetic/run.sh", "--conf", str(conf), "--exp", str(exp), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True)


def test_recipe_runs_every_stage_and_skips_finished_ones_on_rerun(tmp_path):
    conf, exp = tmp_path / "toy.sh", tmp_path / "exp"
    conf.write_text(TOY)
    first = run_recipe(conf, exp)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    for stage in ("synthesize", "pretrain", "finetune_ssl", "finetune_scratch", "lm", "evaluate"):
        assert (exp / f".done.{stage}").exists(), stage
    results = json.loads((exp / "results.json").read_text())
    assert set(results["systems"]) == {"ssl", "scratch", "ssl_lm"}
    for system in results["systems"].values():
        assert 0 <= system["wer"] and system["utterances"] > 0
    assert results["pretraining"]["step"] == 3
    table = (exp / "results.md").read_text()
    assert "(a) pretrained + fine-tuned" in table and "| total |" in table and table in first.stdout
    assert (exp / "eval" / "ssl" / "hypotheses.tsv").exists()
    # the text-only LM corpus holds no dev or test sentence
    lm_text = set((exp / "corpus" / "lm_text.txt").read_text().splitlines())
    held_out = (exp / "corpus" / "test.wrd").read_text().splitlines() + (exp / "corpus" / "dev.wrd").read_text().splitlines()
    assert len(lm_text) > 100 and not lm_text & set(held_out)
    if shutil.which("flite"):  # the engine-shift set is made and scored when Debian's flite is there
        assert set(results["engine_shift"]) == {"ssl", "scratch", "ssl_lm"}
        assert "flite" in table
    else:
        assert not results["engine_shift"] and "no engine-shift test set" in first.stdout
    # the pretrained encoder really is the fine-tuned model's starting point
    ssl_cfg = json.loads((exp / "finetune_ssl" / "config.json").read_text())
    assert ssl_cfg["finetune"]["init_model"] == str(exp / "pretrain")

    again = run_recipe(conf, exp)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("done before, skipping") == 6
    assert "[synthetic] stage 1 (pretrain): start" not in again.stdout

"""TIMIT: phone folding and speaker lists against their published definitions, preparation
from the LDC layout (NIST SPHERE), and the phone-recognition recipe end to end."""

import json

import pytest

from speechssl.data.corpora.timit import CORE_TEST_SPEAKERS, DEV_SPEAKERS, FOLD_61_TO_39, fold_phones, prepare_timit
from speechssl.data.manifest import Manifest
from speechssl.text.tokenizer import build_tokenizer
from tests.corpora.layouts import TOY_TRAINING, make_timit, run_recipe

# Lee & Hon (1989), "Speaker-independent phone recognition using hidden Markov models", Table I:
# the groups of the 61 TIMIT labels that are scored as one class; the glottal stop q is deleted.
LEE_HON_GROUPS = [
    {"aa", "ao"}, {"ah", "ax", "ax-h"}, {"er", "axr"}, {"hh", "hv"}, {"ih", "ix"}, {"l", "el"}, {"m", "em"},
    {"n", "en", "nx"}, {"ng", "eng"}, {"sh", "zh"}, {"uw", "ux"},
    {"pcl", "tcl", "kcl", "bcl", "dcl", "gcl", "h#", "pau", "epi"},
]
# Garofolo et al., TIMIT documentation (timit/doc/testset.doc): the core test set, 2 male and
# 1 female speaker per dialect region DR1..DR8.
CORE_TEST = {
    "DR1": ["MDAB0", "MWBT0", "FELC0"], "DR2": ["MTAS1", "MWEW0", "FPAS0"], "DR3": ["MJMP0", "MLNT0", "FPKT0"],
    "DR4": ["MLLL0", "MTLS0", "FJLM0"], "DR5": ["MBPM0", "MKLT0", "FNLP0"], "DR6": ["MCMJ0", "MJDH0", "FMGD0"],
    "DR7": ["MGRT0", "MNJM0", "FDHC0"], "DR8": ["MJLN0", "MPAM0", "FMLD0"],
}


def test_folding_is_lee_and_hon_61_to_39():
    assert len(FOLD_61_TO_39) == 61
    assert FOLD_61_TO_39["q"] is None
    classes = {v for v in FOLD_61_TO_39.values() if v is not None}
    assert len(classes) == 39
    for group in LEE_HON_GROUPS:  # every group folds to one class ...
        assert len({FOLD_61_TO_39[p] for p in group}) == 1, group
    grouped = set().union(*LEE_HON_GROUPS) | {"q"}
    for phone in set(FOLD_61_TO_39) - grouped:  # ... and every other label stays itself
        assert FOLD_61_TO_39[phone] == phone
    assert FOLD_61_TO_39["h#"] == "sil" and FOLD_61_TO_39["ax-h"] == "ah"
    assert fold_phones(["h#", "q", "ix", "n", "pcl", "p", "h#"]) == ["sil", "ih", "n", "sil", "p", "sil"]


def test_speaker_lists_are_the_published_ones():
    assert CORE_TEST_SPEAKERS == [s for region in CORE_TEST.values() for s in region]
    assert len(DEV_SPEAKERS) == len(set(DEV_SPEAKERS)) == 50
    assert not set(DEV_SPEAKERS) & set(CORE_TEST_SPEAKERS)


SPEAKERS = {"TRAIN/DR1": ["FCJF0", "MDPK0"], "TRAIN/DR2": ["FAEM0"], "TEST/DR1": ["MDAB0", "FAKS0", "MREB0"],
            "TEST/DR2": ["FPAS0", "MKLS0"]}  # MKLS0: a TEST speaker in neither the dev nor the core set


@pytest.fixture(scope="module")
def timit(tmp_path_factory):
    root = tmp_path_factory.mktemp("timit_release")
    make_timit(root, SPEAKERS)
    return root


def test_prepare_splits_speakers_drops_sa_and_folds_phones(timit, tmp_path):
    summary = prepare_timit(timit, tmp_path, progress=False)
    assert {k: v["utterances"] for k, v in summary["splits"].items()} == {"train": 9, "dev": 6, "test": 6}
    test = Manifest.read(tmp_path / "test.tsv")
    assert {u.path.split("/")[2] for u in test.utterances} == {"MDAB0", "FPAS0"}
    dev = Manifest.read(tmp_path / "dev.tsv")
    assert {u.path.split("/")[2] for u in dev.utterances} == {"FAKS0", "MREB0"}
    every = [u for m in (test, dev, Manifest.read(tmp_path / "train.tsv")) for u in m.utterances]
    assert not any("SA1" in u.path for u in every)
    phones = {p for u in every for p in u.text.split()}
    assert phones <= set(FOLD_61_TO_39.values()) and not phones & {"q", "h#", "ix", "axr", "pcl"}
    for u in every:  # the .PHN labels, folded, in order
        phn = (timit / "TIMIT" / u.path).with_suffix(".PHN").read_text().split()[2::3]
        assert u.text.split() == fold_phones(phn)
        assert u.num_samples > 0
    tokenizer = build_tokenizer("unit", [u.text for u in every])
    assert tokenizer.decode(tokenizer.encode(every[0].text)) == every[0].text
    assert sorted(summary["missing_speakers"]["test"]) == sorted(set(CORE_TEST_SPEAKERS) - {"MDAB0", "FPAS0"})


def test_recipe_pretrains_finetunes_on_phones_and_scores_per(timit, tmp_path):
    conf = f"""
TIMIT_DIR={timit}
DATA={tmp_path}/data
NUM_GPUS=1
INIT_MODEL=""
PRETRAIN_CONFIG=recipes/synthetic/configs.py:pretrain_tiny
PRETRAIN_SET="{TOY_TRAINING}"
FINETUNE_CONFIG=recipes/timit/configs.py:finetune_phones
FINETUNE_SET="{TOY_TRAINING}"
EVAL_SETS="dev test"
SEED=1
"""
    _, exp = run_recipe("timit", conf, tmp_path)
    tokenizer = json.loads((exp / "finetune" / "tokenizer.json").read_text())
    assert tokenizer["kind"] == "unit" and "sil" in tokenizer["tokens"] and "ix" not in tokenizer["tokens"]
    for name, count in (("dev", 6), ("test", 6)):
        per = json.loads((exp / "eval" / "phones" / "greedy" / name / "wer.json").read_text())
        assert per["utterances"] == count and per["failed"] == []
        rows = (exp / "eval" / "phones" / "greedy" / name / "hypotheses.tsv").read_text().splitlines()[1:]
        assert all(set(r.split("\t")[5].split()) <= set(FOLD_61_TO_39.values()) for r in rows)  # phone references
    assert "| phones/greedy |" in (exp / "results.md").read_text()

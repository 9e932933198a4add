"""Fish Fillets NG: preparation from a miniature of the two Debian packages' layout, a second
language with --language alone, and the recipe's every stage at toy size."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from speechssl.data.corpora.fillets import normalize_line, parse_dialogs, prepare_fillets, speaker_of
from speechssl.data.manifest import Manifest
from tests.corpora.layouts import TOY_TRAINING, VOICES, run_recipe, speak

GAME = Path("usr/share/games/fillets-ng")
# (level, id, font, English line, Czech line, Dutch line): the main fish m/v, a line the font alone
# assigns (help1), minor characters, and lines the preparation must leave out.
LINES = [
    ("city", "vit-m-hlava", "font_small", "Look at the head.", "Podívej, hlava!", "Kijk, een hoofd!"),
    ("city", "vit-v-socha", "font_big", "It is a statue.", "To je socha, ne?", "Het is een beeld."),
    ("city", "vit-m-ryba", "font_small", "A fish.", "Ryba. Žlutá ryba.", "Een vis. Een gele vis."),
    ("city", "vit-v-kun", "font_big", "The horse fell.", "Příliš žluťoučký kůň úpěl.", "Het paard viel."),
    ("city", "vit-hs-vitejte", "font_statue", "Welcome.", "Vítejte v našem městě.", "Welkom in onze stad."),
    ("city", "vit-m-cislo", "font_small", "Call 737.", "Zavolej 737.", "Bel 737."),
    ("city", "z-c-1", "", "", "", ""),
    ("keys", "help1", "font_small", "Save the game.", "Uložíme si pozici.", "Sla het spel op."),
    ("keys", "m-ukolem", "font_small", "With a task.", "S úkolem jsme tu.", "Met een taak."),
    ("keys", "v-odpoved", "font_big", "No answer.", "Žádná odpověď.", "Geen antwoord."),
    ("keys", "v-dlouhe", "font_big", "A long line.", "Tohle je dlouhá věta o rybách.", "Een lange zin over vissen."),
    ("keys", "m-krik", "font_small", "Aaah!", "Ááááá...", "Aaaaa..."),
    ("keys", "k1-pap-kruty", "font_parrot", "Cruel!", "Krrrutý kapitán!", "Wrrrede kapitein!"),
    ("keys", "rand-0-0", "font_big", "Steel.", "Ocel je těžká.", "Staal is zwaar."),
    ("keys", "m-placeholder", "font_small", "%1 hours", "Konkrétně %1 hodin!", "Precies %1 uur!"),
]
LANGUAGE_COLUMN = {"cs": 4, "nl": 5}


def _lua_line(dialog_id, font, english, translated, language):
    text = f'dialogId("{dialog_id}", "{font}", "{english}")\n'
    if language != "en":
        text += f'dialogStr(\n"{translated}")\n' if "dlouh" in dialog_id else f'dialogStr("{translated}")\n'
    return text


def make_fillets(root: Path, languages=("cs",)) -> Path:
    """``root/usr/share/games/fillets-ng/{script,sound}`` as fillets-ng-data + fillets-ng-data-<lang> unpack."""
    game = root / GAME
    n = 0
    for language in ("en",) + tuple(languages):
        column = LANGUAGE_COLUMN.get(language, 3)
        for level in ("city", "keys"):
            body = ["-- comment: dialogId(\"commented-out\", \"font_small\", \"never\")\n", "--[[ long\ncomment ]]\n"]
            body += [_lua_line(row[1], row[2], row[3], row[column], language) for row in LINES if row[0] == level]
            folder = game / "script" / level
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"dialogs_{language}.lua").write_text("\n".join(body), encoding="utf-8")
        if language == "en":
            continue
        for level, dialog_id, font, *_ in LINES:
            if language == "nl" and font not in ("font_small", "font_big"):
                continue  # as in fillets-ng-data-nl, which voices the two fish alone
            folder = game / "sound" / level / language
            folder.mkdir(parents=True, exist_ok=True)
            spoken = LINES[[r[1] for r in LINES].index(dialog_id)][column] or "jedna"
            audio = speak(spoken.replace("%1", "deset"), 22_050, VOICES[n % len(VOICES)])
            soundfile.write(folder / f"{dialog_id}.ogg", audio, 22_050, format="OGG", subtype="VORBIS")
            n += 1
        # a recording without a line, and the same recording shipped twice (the parrot in two levels)
        soundfile.write(game / "sound" / "keys" / language / "bez-textu.ogg", speak("nic", 22_050), 22_050,
                        format="OGG", subtype="VORBIS")
        if language != "nl":
            (game / "sound" / "city" / language / "k1-pap-kruty.ogg").write_bytes(
                (game / "sound" / "keys" / language / "k1-pap-kruty.ogg").read_bytes())
    # the same id voices another line in another level: looked up per folder
    (game / "script" / "city" / "dialogs_cs.lua").open("a", encoding="utf-8").write(
        'dialogId("k1-pap-kruty", "font_parrot", "Cruel!")\ndialogStr("Krrrutý kapitán!")\n'
        'dialogId("rand-0-0", "font_small", "Other.")\ndialogStr("Jiná věta.")\n')
    # a shared folder voiced by a prefix named in a dialogLoad() call
    share = game / "script" / "share"
    share.mkdir(parents=True, exist_ok=True)
    (share / "bordershout.lua").write_text(
        'function f()\n    dialogLoad("script/share/shout_", "sound/share/border/")\nend\n')
    (share / "shout_dialogs_cs.lua").write_text(
        'dialogId("sp-shout_big_00", "font_big", "Wow!")\ndialogStr("Paráda, to je věc!")\n', encoding="utf-8")
    if "cs" in languages:
        (game / "sound" / "share" / "border" / "cs").mkdir(parents=True, exist_ok=True)
        soundfile.write(game / "sound" / "share" / "border" / "cs" / "sp-shout_big_00.ogg",
                        speak("parada to je vec", 22_050, "en+m3"), 22_050, format="OGG", subtype="VORBIS")
    return game


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("fillets_tree")
    make_fillets(root, languages=("cs", "nl"))
    return root


SPLIT_MINUTES = dict(train_minutes=0.06, dev_minutes=0.03, test_minutes=0.03)


def test_parse_reads_lua_strings_as_text_and_ignores_comments(tmp_path):
    path = tmp_path / "dialogs_cs.lua"
    path.write_text('-- dialogId("gone", "font_big", "x")\ndialogId("a-m-x", "font_small", "Say \\"hi\\".")\n'
                    'dialogStr(\n  "Řekni \\"ahoj\\" -- hned.")\ndialogId("b", "font_big", "untranslated")\n'
                    "dialogId('c', 'font_big', 'single')\ndialogStr('C:\\\\DOS')\n", encoding="utf-8")
    lines = parse_dialogs(path, "cs")
    assert set(lines) == {"a-m-x", "b", "c"}
    assert lines["a-m-x"].text == 'Řekni "ahoj" -- hned.' and lines["a-m-x"].font == "font_small"
    assert lines["b"].text is None and lines["c"].text == "C:\\DOS"
    assert parse_dialogs(path, "en")["b"].text == "untranslated"  # English is the dialogId line itself


def test_text_rules_and_speaker_rule():
    assert normalize_line("Příliš ŽLUŤOUČKÝ kůň, úpěl!") == ("příliš žluťoučký kůň úpěl", None)
    assert normalize_line("Zavolej 737.")[1] == "number"
    assert normalize_line("A%1.")[1] == "placeholder filled in at run time"
    assert normalize_line("ááááaa")[1] == "non-speech" and normalize_line("...")[1] == "non-speech"
    assert normalize_line("Подожди. Počkej.")[1] == "mixed writing systems"
    assert normalize_line("")[1] == "empty line"
    assert speaker_of("help7", "font_big", "briefcase") == ("v", False)
    assert speaker_of("nemrka-v", "font_big", "fdto") == ("v", False)
    assert speaker_of("vit-m-x", "font_big", "city") == ("v", True)  # contradiction: counted
    assert speaker_of("k1-pap-kruty", "font_parrot", "cabin1") == ("cabin1:parrot", False)
    assert speaker_of("z-c-1", "", "ending") == ("ending:z", False)


def test_prepare_czech_splits_labels_flac_and_left_out_lines(tree, tmp_path):
    summary = prepare_fillets(tree, tmp_path, language="cs", progress=False, **SPLIT_MINUTES)
    assert set(summary["splits"]) == {"train_unlabeled", "train_10min", "train_all_labeled", "dev", "test",
                                      "test_other_speakers"}
    reasons = {Path(s["path"]).parent.parent.name + "/" + Path(s["path"]).stem: s["reason"] for s in summary["skipped"]}
    assert reasons["city/vit-m-cislo"].startswith("number") and reasons["city/z-c-1"].startswith("empty line")
    assert reasons["keys/m-krik"].startswith("non-speech") and reasons["keys/bez-textu"].startswith("no transcript")
    assert reasons["keys/m-placeholder"].startswith("placeholder")
    assert reasons["keys/k1-pap-kruty"].startswith("identical copy")  # city's copy (sorted first) is kept
    assert summary["speaker_conflicts"] == 0 and summary["speakers"]["v"]["utterances"] == 6
    assert summary["speakers"]["m"]["utterances"] == 4

    manifests = {name: Manifest.read(tmp_path / f"{name}.tsv") for name in summary["splits"]}
    ids = {name: {u.id for u in m.utterances} for name, m in manifests.items()}
    assert ids["test_other_speakers"] == {"city/vit-hs-vitejte", "city/k1-pap-kruty"}
    main = ids["train_all_labeled"] | ids["dev"] | ids["test"]
    assert "keys/help1" in main and "keys/rand-0-0" in main and "share/border/sp-shout_big_00" in main
    assert len(main) == 10 and ids["dev"] and ids["test"]  # every kept line of m and v, each in one split
    assert not (ids["dev"] & ids["test"]) and not (ids["train_all_labeled"] & (ids["dev"] | ids["test"]))
    assert ids["train_10min"] <= ids["train_all_labeled"] and ids["train_unlabeled"] == ids["train_all_labeled"]
    assert not manifests["train_unlabeled"].labeled and manifests["test"].labeled
    texts = {u.id: u.text for m in manifests.values() if m.labeled for u in m.utterances}
    assert texts["city/vit-v-kun"] == "příliš žluťoučký kůň úpěl"
    assert texts["keys/v-dlouhe"] == "tohle je dlouhá věta o rybách"  # dialogStr across lines
    assert texts["city/k1-pap-kruty"] == "krrrutý kapitán" and texts["keys/rand-0-0"] == "ocel je těžká"
    info = soundfile.info(str(manifests["test"].audio_path(0)))
    assert info.samplerate == 16_000 and info.format == "FLAC"
    assert manifests["test"].utterances[0].num_samples == info.frames
    letters = [line.split()[0] for line in (tmp_path / "dict.ltr.txt").read_text(encoding="utf-8").splitlines()]
    assert {"ř", "ž", "ů", "ě", "ý"} & set(letters) and all(c == c.lower() for c in letters)
    assert prepare_fillets(tree, tmp_path, language="cs", progress=False, **SPLIT_MINUTES) == summary  # idempotent


def test_a_second_language_prepares_with_language_alone(tree, tmp_path):
    result = subprocess.run([sys.executable, "-m", "speechssl", "prepare", "fillets", str(tree), "--language", "nl",
                             "--output-dir", str(tmp_path), "--no-progress", "--train-minutes", "0.06",
                             "--dev-minutes", "0.03", "--test-minutes", "0.03"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "prepare.json").read_text())
    texts = [u.text for u in Manifest.read(tmp_path / "train_all_labeled.tsv").utterances]
    texts += [u.text for name in ("dev", "test") for u in Manifest.read(tmp_path / f"{name}.tsv").utterances]
    assert "het paard viel" in texts and summary["params"]["language"] == "nl"
    # the Dutch release voices the two fish alone: no minor characters, so no test_other_speakers
    assert not (tmp_path / "test_other_speakers.tsv").exists()
    assert "test_other_speakers" in summary["splits_left_out"] and set(summary["speakers"]) <= {"m", "v", "mv"}
    missing = subprocess.run([sys.executable, "-m", "speechssl", "prepare", "fillets", str(tree), "--language", "de",
                              "--output-dir", str(tmp_path / "de")], capture_output=True, text=True)
    assert missing.returncode == 1 and "fillets-ng-data-de" in missing.stderr and "Traceback" not in missing.stderr


def toy_conf(tree: Path, tmp_path: Path, synthetic: Path, language: str = "cs",
             systems: str = "ssl scratch synthetic synthetic_continued", amounts: str = "10min all_labeled") -> str:
    """The recipe's conf at toy size: every stage in seconds."""
    return f"""
SOURCE={tree}
LANGUAGE={language}
DATA={tmp_path}/data
SEED=0
TRAIN_MINUTES=0.06
DEV_MINUTES=0.03
TEST_MINUTES=0.03
SYNTHETIC_PRETRAINED={synthetic}
PRETRAIN_CONFIG=recipes/fillets/configs.py:pretrain
PRETRAIN_SET="{TOY_TRAINING}"
CONTINUE_SET="{TOY_TRAINING}"
FINETUNE_CONFIG=recipes/fillets/configs.py:finetune_{{amount}}
SCRATCH_CONFIG=recipes/fillets/configs.py:scratch_{{amount}}
AMOUNTS="{amounts}"
SYSTEMS="{systems}"
FINETUNE_SET_10min="{TOY_TRAINING}"
FINETUNE_SET_all_labeled="{TOY_TRAINING}"
EVAL_SETS="test test_other_speakers"
LM_ORDER=2
LM_SYSTEMS="ssl"
BEAM_SIZE=5
LM_WEIGHT=1.0
WORD_SCORE=0.0
"""


def test_recipe_runs_every_stage_at_toy_size(tree, tmp_path):
    synthetic = tmp_path / "synthetic_pretrain"  # stands in for exp/synthetic/pretrain
    conf = toy_conf(tree, tmp_path, synthetic)
    # stage 0 first, then a tiny "synthetic" pretraining on its audio, then everything else
    run_recipe("fillets", conf, tmp_path, "--stop-stage", "0")
    subprocess.run([sys.executable, "-m", "speechssl", "pretrain",
                    "--config", "recipes/synthetic/configs.py:pretrain_tiny",
                    "--output-dir", str(synthetic), "--train-manifest", f"{tmp_path}/data/train_unlabeled.tsv",
                    "--valid-manifest", f"{tmp_path}/data/dev.tsv",
                    "--no-progress", "--set", *TOY_TRAINING.split()], check=True, capture_output=True,
                   cwd=Path(__file__).resolve().parents[2])
    result, exp = run_recipe("fillets", conf, tmp_path)
    for stage in ("prepare", "pretrain", "pretrain_continued", "finetune", "lm", "evaluate"):
        assert (exp / f".done.{stage}").exists(), stage
    continued = json.loads((exp / "pretrain_continued" / "config.json").read_text())
    assert continued["model"]["quantizer"]["temp_start"] == continued["model"]["quantizer"]["temp_end"]  # --init took
    starts = {"ssl": exp / "pretrain", "synthetic": synthetic, "synthetic_continued": exp / "pretrain_continued"}
    for system, init in starts.items():
        run_config = json.loads((exp / f"finetune_{system}_10min" / "config.json").read_text())
        assert run_config["finetune"]["init_model"] == str(init)
    scratch = json.loads((exp / "finetune_scratch_all_labeled" / "config.json").read_text())
    assert not scratch["finetune"]["init_model"]
    # the scratch system trains its conv stack from the start at the full lr; the pretrained
    # systems adapt theirs later, at a fraction of it
    assert scratch["model"]["feature_encoder"]["feature_grad_mult"] == 1.0
    assert scratch["optim"]["feature_encoder_lr_scale"] == 1.0 and scratch["finetune"]["freeze_feature_encoder_updates"] == 0
    assert run_config["optim"]["feature_encoder_lr_scale"] < 1.0 and run_config["finetune"]["freeze_feature_encoder_updates"] > 0
    tokens = json.loads((exp / "finetune_scratch_10min" / "tokenizer.json").read_text())["tokens"]
    assert "ř" in tokens and "Ř" not in tokens  # dict.ltr.txt of all labeled speech, lower case
    results = (exp / "results.md").read_text()
    for row in ("ssl_10min/greedy", "scratch_all_labeled/greedy", "synthetic_continued_10min/greedy",
                "ssl_10min/2gram"):
        assert f"| {row} |" in results, row
    assert "test_other_speakers CER %" in results
    wer = json.loads((exp / "eval" / "ssl_10min" / "greedy" / "test_other_speakers" / "wer.json").read_text())
    assert wer["utterances"] == 2 and wer["failed"] == []


def test_recipe_runs_on_a_release_that_voices_the_two_fish_alone(tree, tmp_path):
    """Dutch: --language alone; the missing test_other_speakers split is named and skipped."""
    conf = toy_conf(tree, tmp_path, tmp_path / "unused", language="nl", systems="ssl scratch", amounts="10min")
    result, exp = run_recipe("fillets", conf, tmp_path)
    assert "test_other_speakers.tsv: no such split" in result.stdout + result.stderr
    results = (exp / "results.md").read_text()
    assert "| ssl_10min/greedy |" in results and "| scratch_10min/greedy |" in results and "| ssl_10min/2gram |" in results
    assert "test CER %" in results and "test_other_speakers" not in results
    assert json.loads((tmp_path / "data" / "prepare.json").read_text())["params"]["language"] == "nl"

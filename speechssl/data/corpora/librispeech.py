"""LibriSpeech and Libri-light's limited-resource fine-tuning splits.

Input, as the archives extract::

    <corpus>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <corpus>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <librilight>/librispeech_finetuning/1h/<fold 0-5>/{clean,other}/<speaker>/<chapter>/...
    <librilight>/librispeech_finetuning/9h/{clean,other}/<speaker>/<chapter>/...

Output (fairseq's ``wav2vec_manifest.py`` + ``libri_labels.py`` convention): ``<split>.tsv``
with ``.wrd``/``.ltr`` for every split found, ``train-960`` when all three training parts are
there, and Libri-light's ``train-10min`` (one 1h fold: 10 minutes), ``train-1h`` (the six folds)
and ``train-10h`` (the six folds + 9h), as the wav2vec 2.0 paper uses them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from speechssl.data.corpora.prepare import CorpusError, already_prepared, probed_manifest, require_dir, write_prepared
from speechssl.data.manifest import Manifest

log = logging.getLogger(__name__)

TRAIN_SPLITS = ("train-clean-100", "train-clean-360", "train-other-500")
EVAL_SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")
SPLITS = TRAIN_SPLITS + EVAL_SPLITS
# Utterances per split in the official release: a smaller count means a partial extraction.
OFFICIAL_UTTERANCES = {
    "train-clean-100": 28_539, "train-clean-360": 104_014, "train-other-500": 148_688,
    "dev-clean": 2_703, "dev-other": 2_864, "test-clean": 2_620, "test-other": 2_939,
}
OPENSLR = "https://www.openslr.org/resources"
# name -> (url, md5 from openslr.org/resources/{11,12}/md5sum.txt; None where none is published)
ARCHIVES = {
    **{split: (f"{OPENSLR}/12/{split}.tar.gz", md5) for split, md5 in {
        "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
        "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
        "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
        "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
        "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
        "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
        "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    }.items()},
    "4-gram": (f"{OPENSLR}/11/4-gram.arpa.gz", "6abdcd5b055bd482e4f9defe91d40408"),
    "lexicon": (f"{OPENSLR}/11/librispeech-lexicon.txt", "28f72663f6bfed7cd346283c064c315b"),
    "librilight-finetuning": ("https://dl.fbaipublicfiles.com/librilight/data/librispeech_finetuning.tgz", None),
}
LIBRILIGHT_FOLDS = 6


def read_chapter(chapter_dir: Path) -> list[tuple[str, str]]:
    """A chapter folder -> ``(flac path, transcript)``; a flac without a transcript line or a
    transcript line without its flac is an error naming the file."""
    transcripts = list(chapter_dir.glob("*.trans.txt"))
    if len(transcripts) != 1:
        raise CorpusError(f"{chapter_dir}: expected one <speaker>-<chapter>.trans.txt, found {len(transcripts)}")
    texts = {}
    for line_no, line in enumerate(transcripts[0].read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        utt_id, _, text = line.strip().partition(" ")
        if not text.strip():
            raise CorpusError(f"{transcripts[0]}:{line_no}: no transcript after the id {utt_id!r}")
        texts[utt_id] = " ".join(text.split())
    flacs = {p.stem: p for p in chapter_dir.glob("*.flac")}
    if missing := sorted(set(flacs) - set(texts)):
        raise CorpusError(f"{flacs[missing[0]]}: no line in {transcripts[0].name} ({len(missing)} such files)")
    if orphans := sorted(set(texts) - set(flacs)):
        raise CorpusError(f"{transcripts[0]}: {orphans[0]}.flac is missing ({len(orphans)} such lines)")
    return [(str(flacs[u]), texts[u]) for u in sorted(texts)]


def read_tree(root: Path) -> list[tuple[str, str]]:
    """Every ``<speaker>/<chapter>`` folder under ``root`` (at any depth) -> (flac, transcript)."""
    chapters = sorted({p.parent for p in root.rglob("*.trans.txt")})
    if not chapters:
        raise CorpusError(f"{root}: no <speaker>/<chapter>/*.trans.txt found")
    return [item for chapter in chapters for item in read_chapter(chapter)]


def find_librispeech_root(corpus_dir: Path) -> Path:
    """The folder holding the split folders: ``corpus_dir/LibriSpeech`` or ``corpus_dir`` itself."""
    for candidate in (corpus_dir / "LibriSpeech", corpus_dir):
        if any((candidate / split).is_dir() for split in SPLITS):
            return candidate
    raise CorpusError(f"{corpus_dir}: none of the LibriSpeech split folders ({', '.join(SPLITS)}) found")


def librilight_subsets(root: Path, fold: int) -> dict[str, list[Path]]:
    """Libri-light's fine-tuning sets as lists of folders under ``librispeech_finetuning``."""
    if not 0 <= fold < LIBRILIGHT_FOLDS:
        raise ValueError(f"fold must be 0..{LIBRILIGHT_FOLDS - 1}, got {fold}")
    folds = [root / "1h" / str(i) for i in range(LIBRILIGHT_FOLDS)]
    for folder in folds + [root / "9h"]:
        require_dir(folder, "Libri-light librispeech_finetuning layout: 1h/0..5 and 9h")
    return {"train-10min": [folds[fold]], "train-1h": folds, "train-10h": folds + [root / "9h"]}


def prepare_librispeech(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    librilight_dir: str | os.PathLike | None = None,
    librilight_fold: int = 0,
    workers: int = 2,
    progress: bool = True,
) -> dict:
    """Manifests for every LibriSpeech split under ``corpus_dir`` (and Libri-light's limited
    splits when ``librilight_dir`` is given). Returns the summary written to prepare.json."""
    root = find_librispeech_root(require_dir(corpus_dir, "extracted LibriSpeech"))
    splits = [s for s in SPLITS if (root / s).is_dir()]
    ll_root = None
    if librilight_dir is not None:
        ll_root = require_dir(librilight_dir, "extracted librispeech_finetuning.tgz")
        if (ll_root / "librispeech_finetuning").is_dir():
            ll_root = ll_root / "librispeech_finetuning"
    params = {"corpus": "librispeech", "root": str(root.resolve()), "splits": splits,
              "librilight": str(ll_root.resolve()) if ll_root else None, "fold": librilight_fold}
    if (done := already_prepared(output_dir, params)) is not None:
        return done

    skipped: list[tuple[str, str]] = []
    manifests: dict[str, Manifest] = {}
    for split in splits:
        manifests[split] = probed_manifest(root, read_tree(root / split), workers, progress, split, skipped)
        official = OFFICIAL_UTTERANCES[split]
        if len(manifests[split]) < official:
            log.warning("%s: %d of the release's %d utterances (partial extraction?)", split,
                        len(manifests[split]), official)
    if all(s in manifests for s in TRAIN_SPLITS):
        manifests["train-960"] = Manifest(root, [u for s in TRAIN_SPLITS for u in manifests[s].utterances])
    if ll_root is not None:
        for name, folders in librilight_subsets(ll_root, librilight_fold).items():
            items = [item for folder in folders for item in read_tree(folder)]
            manifests[name] = probed_manifest(ll_root, items, workers, progress, name, skipped)
    training = [s for s in manifests if s.startswith("train")]
    if not training:
        raise CorpusError(f"{root}: no training split ({', '.join(TRAIN_SPLITS)}) and no Libri-light folder")
    return write_prepared(output_dir, manifests, params, skipped, dictionary_from=training)

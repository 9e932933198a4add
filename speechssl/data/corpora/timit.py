"""TIMIT phone recognition: the LDC release layout, 61 -> 39 phone folding, standard splits.

Input (LDC93S1; folder and file names upper or lower case)::

    <timit>/{TRAIN,TEST}/DR<1-8>/<speaker>/<sentence>.{WAV,PHN,TXT,WRD}

``.WAV`` files are NIST SPHERE (16 kHz, 16 bit); ``.PHN`` lines are ``start end phone`` in
samples. Splits follow the standard protocol (Lee & Hon 1989; Kaldi's ``egs/timit``): the SA
sentences are dropped, ``train`` is all 462 training speakers (3696 utterances), ``dev`` the
50-speaker development set (400) and ``test`` the 24-speaker core test set (192), both from
the TEST folder. Transcripts are the phone sequences folded to the 39-phone set, which is
also the set phone error rate (PER) is scored on.
"""

from __future__ import annotations

import os
from pathlib import Path

from speechssl.data.corpora.prepare import CorpusError, already_prepared, probed_manifest, require_dir, write_prepared

# The 24 core-test speakers: two men and one woman from each dialect region.
CORE_TEST_SPEAKERS = (
    "MDAB0 MWBT0 FELC0 MTAS1 MWEW0 FPAS0 MJMP0 MLNT0 FPKT0 MLLL0 MTLS0 FJLM0 "
    "MBPM0 MKLT0 FNLP0 MCMJ0 MJDH0 FMGD0 MGRT0 MNJM0 FDHC0 MJLN0 MPAM0 FMLD0"
).split()
# The 50-speaker development set (Halberstadt 1998, as Kaldi's conf/dev_spk.list).
DEV_SPEAKERS = (
    "FAKS0 FDAC1 FJEM0 MGWT0 MJAR0 MMDB1 MMDM2 MPDF0 FCMH0 FKMS0 MBDG0 MBWM0 MCSH0 FADG0 FDMS0 "
    "FEDW0 MGJF0 MGLB0 MRTK0 MTAA0 MTDT0 MTHC0 MWJG0 FNMR0 FREW0 FSEM0 MBNS0 MMJR0 MDLS0 MDLF0 "
    "MDVC0 MERS0 FMAH0 FDRW0 MRCS0 MRJM4 FCAL1 MMWH0 FJSJ0 MAJC0 MJSW0 MREB0 FGJD0 FJMG0 MROA0 "
    "MTEB0 MJFC0 MRJR0 FMML0 MRWS1"
).split()

# Lee & Hon (1989) folding of the 61 TIMIT labels to 39 classes; "q" (glottal stop) is dropped.
_FOLDED = {
    "ao": "aa", "ax": "ah", "ax-h": "ah", "axr": "er", "hv": "hh", "ix": "ih", "el": "l", "em": "m",
    "en": "n", "nx": "n", "eng": "ng", "zh": "sh", "ux": "uw",
    **{closure: "sil" for closure in ("pcl", "tcl", "kcl", "bcl", "dcl", "gcl", "h#", "pau", "epi")},
}
PHONES_61 = (
    "aa ae ah ao aw ax ax-h axr ay b bcl ch d dcl dh dx eh el em en eng epi er ey f g gcl h# hh hv ih ix iy "
    "jh k kcl l m n ng nx ow oy p pau pcl q r s sh t tcl th uh uw ux v w y z zh"
).split()
FOLD_61_TO_39: dict[str, str | None] = {p: None if p == "q" else _FOLDED.get(p, p) for p in PHONES_61}


def fold_phones(phones: list[str], source: str = "") -> list[str]:
    """61-label phone sequence -> 39-class sequence (``q`` removed); unknown labels are errors."""
    out = []
    for phone in phones:
        if phone not in FOLD_61_TO_39:
            raise CorpusError(f"{source}: {phone!r} is not a TIMIT phone label")
        if (folded := FOLD_61_TO_39[phone]) is not None:
            out.append(folded)
    return out


def read_phn(path: Path) -> list[str]:
    phones = []
    for line_no, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            raise CorpusError(f"{path}:{line_no}: expected 'start end phone', got {line!r}")
        phones.append(parts[2].lower())
    if not phones:
        raise CorpusError(f"{path}: no phones")
    return phones


def _child(folder: Path, name: str) -> Path | None:
    """``folder/name`` matched case-insensitively (copies of TIMIT differ in case)."""
    for entry in folder.iterdir() if folder.is_dir() else ():
        if entry.name.lower() == name.lower():
            return entry
    return None


def find_timit_root(timit_dir: Path) -> Path:
    for candidate in (timit_dir, _child(timit_dir, "TIMIT"), _child(timit_dir, "data")):
        if candidate is not None and _child(candidate, "TRAIN") and _child(candidate, "TEST"):
            return candidate
    raise CorpusError(f"{timit_dir}: no TRAIN and TEST folders (the LDC TIMIT layout)")


def read_part(part: Path) -> dict[str, list[tuple[str, str]]]:
    """``TRAIN`` or ``TEST`` -> speaker (upper case) -> ``(WAV path, folded phone string)``, SA dropped."""
    speakers: dict[str, list[tuple[str, str]]] = {}
    for wav in sorted(p for p in part.rglob("*") if p.suffix.lower() == ".wav"):
        if wav.stem.upper().startswith("SA"):
            continue  # the two dialect sentences every speaker reads: standard practice drops them
        phn = next((p for p in wav.parent.iterdir() if p.stem == wav.stem and p.suffix.lower() == ".phn"), None)
        if phn is None:
            raise CorpusError(f"{wav}: no .PHN transcription beside it")
        speakers.setdefault(wav.parent.name.upper(), []).append(
            (str(wav), " ".join(fold_phones(read_phn(phn), str(phn))))
        )
    return speakers


def prepare_timit(timit_dir: str | os.PathLike, output_dir: str | os.PathLike, *, workers: int = 2,
                  progress: bool = True) -> dict:
    """``train``/``dev``/``test`` manifests whose transcripts are 39-class phone strings."""
    root = find_timit_root(require_dir(timit_dir, "TIMIT release"))
    params = {"corpus": "timit", "root": str(root.resolve()), "phones": 39}
    if (done := already_prepared(output_dir, params)) is not None:
        return done
    train = read_part(_child(root, "TRAIN"))
    test = read_part(_child(root, "TEST"))
    groups = {
        "train": [item for items in train.values() for item in items],
        "dev": [item for s in DEV_SPEAKERS for item in test.get(s, [])],
        "test": [item for s in CORE_TEST_SPEAKERS for item in test.get(s, [])],
    }
    if not groups["test"]:
        raise CorpusError(f"{root}: none of the 24 core-test speakers found under TEST")
    skipped: list[tuple[str, str]] = []
    manifests = {name: probed_manifest(root, items, workers, progress, name, skipped) for name, items in groups.items()}
    missing = {"dev": sorted(set(DEV_SPEAKERS) - set(test)), "test": sorted(set(CORE_TEST_SPEAKERS) - set(test))}
    return write_prepared(output_dir, manifests, params, skipped,
                          extra={"missing_speakers": {k: v for k, v in missing.items() if v}})

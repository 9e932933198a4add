"""``speechssl report EXP_DIR``: the results table of a recipe run, as markdown, JSON and a plot.

Reads the layout the recipes write (``recipes/synthetic/run.sh``)::

    EXP_DIR/corpus/corpus.json                 synthesized corpus (when the recipe made one)
    EXP_DIR/pretrain/train_log.jsonl           pretraining log
    EXP_DIR/finetune_ssl/train_log.jsonl       fine-tuning of the pretrained model
    EXP_DIR/finetune_scratch/train_log.jsonl   the same fine-tuning from random weights
    EXP_DIR/eval/<name>/wer.json               speechssl evaluate outputs (ssl, scratch, ssl_lm)
    EXP_DIR/eval_engine_shift/<name>/wer.json  the same systems on the engine-shift set (another synthesizer)
    EXP_DIR/eval/<model>/<decoder>/<set>/wer.json   corpus recipes: one table row per model and decoder
    EXP_DIR/stage_times.tsv                    stage<TAB>seconds, appended by run.sh

and writes ``EXP_DIR/results.md``, ``results.json`` and ``curves.png`` (matplotlib, if installed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SYSTEMS = [
    ("ssl", "(a) pretrained + fine-tuned"),
    ("scratch", "(b) trained from scratch (same labeled audio, same updates)"),
    ("ssl_lm", "(c) = (a) + n-gram LM (beam search)"),
]


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def collect(exp: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"systems": {}, "engine_shift": {}, "stages": {}, "pretraining": {}, "evaluations": {}}
    for name, _ in SYSTEMS:
        for key, folder in (("systems", "eval"), ("engine_shift", "eval_engine_shift")):
            path = exp / folder / name / "wer.json"
            if path.exists():
                results[key][name] = json.loads(path.read_text())
    for path in sorted((exp / "eval").glob("*/*/*/wer.json")):
        system, evaluation_set = "/".join(path.parent.parent.relative_to(exp / "eval").parts), path.parent.name
        results["evaluations"].setdefault(system, {})[evaluation_set] = json.loads(path.read_text())
    pre = [r for r in read_log(exp / "pretrain" / "train_log.jsonl") if r["split"] == "valid"]
    if pre:
        last = pre[-1]
        results["pretraining"] = {k: last.get(k) for k in ("step", "contrastive_bits", "accuracy", "code_perplexity")}
    audio = {
        "pretrain": _trained_audio(exp / "pretrain"),
        "finetune_ssl": _trained_audio(exp / "finetune_ssl"),
        "finetune_scratch": _trained_audio(exp / "finetune_scratch"),
    }
    corpus = exp / "corpus" / "corpus.json"
    if corpus.exists():
        splits = json.loads(corpus.read_text())["splits"]
        audio["synthesize"] = 3600 * sum(s["hours"] for s in splits.values())
    audio["evaluate"] = sum(s["audio_seconds"] for key in ("systems", "engine_shift") for s in results[key].values())
    times = exp / "stage_times.tsv"
    if times.exists():
        for line in times.read_text().splitlines():
            stage, seconds = line.split("\t")
            entry = {"seconds": float(seconds)}
            if audio.get(stage):
                entry["audio_seconds"] = audio[stage]
                entry["audio_seconds_per_second"] = audio[stage] / max(float(seconds), 1e-9)
            results["stages"][stage] = entry
    return results


def _trained_audio(run: Path) -> float:
    return sum(r.get("audio_seconds", 0.0) for r in read_log(run / "train_log.jsonl") if r["split"] == "train")


def to_markdown(results: dict[str, Any]) -> str:
    lines: list[str] = []
    titles = (("systems", "held-out-voice test split"), ("engine_shift", "engine-shift set: the test sentences in flite's voices"))
    for key, title in titles:
        if not results.get(key):
            continue
        lines += ([""] if lines else []) + [f"| system ({title}) | WER % | CER % |", "|---|---|---|"]
        for name, label in SYSTEMS:
            if name in results[key]:
                s = results[key][name]
                lines.append(f"| {label} | {s['wer']:.1f} | {s['cer']:.1f} |")
    evaluations = results.get("evaluations") or {}
    sets = sorted({name for by_set in evaluations.values() for name in by_set})
    if evaluations:
        lines += ["", "| model / decoder | " + " | ".join(f"{name} WER % | {name} CER %" for name in sets) + " |",
                  "|---|" + "---|---|" * len(sets)]
        for system, by_set in evaluations.items():
            cells = [f"{by_set[name]['wer']:.1f} | {by_set[name]['cer']:.1f}" if name in by_set else " | " for name in sets]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
    p = results["pretraining"]
    if p:
        lines += ["", "| pretraining (validation) | value |", "|---|---|",
                  f"| updates | {p['step']} |", f"| contrastive loss (bits) | {p['contrastive_bits']:.3f} |",
                  f"| contrastive accuracy | {p['accuracy']:.3f} |", f"| code perplexity | {p['code_perplexity']:.1f} |"]
    if results["stages"]:
        lines += ["", "| stage | wall time | audio seconds / second |", "|---|---|---|"]
        total = 0.0
        for stage, entry in results["stages"].items():
            total += entry["seconds"]
            rate = f"{entry['audio_seconds_per_second']:.1f}" if "audio_seconds_per_second" in entry else ""
            lines.append(f"| {stage} | {_clock(entry['seconds'])} | {rate} |")
        lines.append(f"| total | {_clock(total)} | |")
    return "\n".join(lines).strip("\n") + "\n"


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def plot(exp: Path, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    log = read_log(exp / "pretrain" / "train_log.jsonl")
    for split, key, style in (("train", "loss_bits", "-"), ("valid", "contrastive_bits", "o-")):
        rows = [r for r in log if r["split"] == split and key in r]
        left.plot([r["step"] for r in rows], [r[key] for r in rows], style, label=f"{split} {key}")
    left.set(title="pretraining", xlabel="update", ylabel="bits")
    left.legend()
    named = {"finetune_ssl": "pretrained", "finetune_scratch": "from scratch"}  # the synthetic recipe's runs
    for run, label in [(d.name, named.get(d.name, d.name.removeprefix("finetune_"))) for d in sorted(exp.glob("finetune_*"))]:
        rows = [r for r in read_log(exp / run / "train_log.jsonl") if r["split"] == "valid" and "wer" in r]
        right.plot([r["step"] for r in rows], [r["wer"] for r in rows], "o-", label=f"{label}: dev WER")
        right.plot([r["step"] for r in rows], [r["cer"] for r in rows], "x--", label=f"{label}: dev CER")
    right.set(title="CTC fine-tuning", xlabel="update", ylabel="%")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_report(exp: str | Path) -> str:
    exp = Path(exp)
    results = collect(exp)
    markdown = to_markdown(results)
    (exp / "results.md").write_text(markdown)
    (exp / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if plot(exp, exp / "curves.png"):
        markdown += f"\ncurves: {exp / 'curves.png'}\n"
    return markdown

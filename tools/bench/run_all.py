"""Run every side-by-side benchmark (B1-B8) and rewrite docs/benchmarks.md.

    python tools/bench/run_all.py [--reps 3] [--demo-exp exp/synthetic] [--only b1,b3]

Each benchmark runs in its own process (speechssl and the peers together inside it); results
land in docs/benchmarks/*.json and the markdown is rendered from them, with the hand-written
analysis in tools/bench/notes.md appended. With ``--only``, the other benchmarks' JSON from an
earlier run is reused. Needs transformers and torchaudio (``pip install -e '.[test]'``).
Takes about 15-20 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = REPO / "docs" / "benchmarks"
SCRIPTS = {
    "b1": "b1_masking.py", "b2": "b2_pretrain_step.py", "b3": "b3_inference.py", "b5": "b5_memory.py",
    "b6": "b6_padding.py", "b7": "b7_finetune_step.py", "b8": "b8_cold_start.py", "b9": "b9_onnx.py",
}


def run(name: str, reps: int) -> None:
    script = SCRIPTS[name]
    print(f"== {script}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, str(HERE / script), "--json", str(OUT / f"{name}.json"), "--reps", str(reps)],
                   cwd=HERE, check=True, stdout=subprocess.DEVNULL)


def load(name: str) -> dict | None:
    path = OUT / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def render(results: dict[str, dict | None]) -> str:
    first = next(r for r in results.values() if r)
    m = first["machine"]
    peaks = [v for r in results.values() if r and r["machine"]["cpu"] == m["cpu"] for v in r["peak_gflops"].values() if v]
    lines = [
        "# Benchmarks: speechssl side by side with transformers and torchaudio",
        "",
        f"Produced by `python tools/bench/run_all.py` ({m['date']}). Machine: {m['cpu']}, {m['cores']} cores, "
        f"ISA {', '.join(m['isa']) or 'baseline'}, {m['threads']} threads, fp32. Versions: torch {m['torch']}, "
        f"transformers {m['transformers']}, torchaudio {m['torchaudio']}, Python {m['python']}. "
        f"Calibrated 2048² fp32 matmul peak during the runs: {min(peaks):.0f}-{max(peaks):.0f} GFLOP/s.",
        "",
        "Protocol (performance-anchors.md §6.0): one process per benchmark, identical weights (the peers load "
        "speechssl's export), implementations interleaved A B A B after warm-up, medians reported (min in the JSON "
        "under docs/benchmarks/), memory from a fresh process per configuration. Timings on this shared 2-core VM "
        "vary by ±10-30 % between runs, so compare ratios taken in the same run.",
        "",
    ]
    lines += targets(results)
    b1 = results.get("b1")
    if b1:
        lines += ["", "## B1: span masks + negatives (µs per utterance, 781 frames, K = 100)", "",
                  "| batch | speechssl | transformers | speedup | masks alone: speechssl / transformers (speedup) | "
                  "masked fraction (ours / theirs) | negative = positive |",
                  "|---|---|---|---|---|---|---|"]
        for key, r in b1["results"].items():
            u, frac = r["us_per_utterance"], r["masked_fraction"]
            lines.append(f"| {r['batch']}{' padded' if r['padded'] else ''} | {f(u['speechssl'], 0)} | "
                         f"{f(u['transformers'], 0)} | {f(r['speedup'], 1)}x | "
                         f"{f(r['masks_only_us_per_utterance']['speechssl'], 1)} / "
                         f"{f(r['masks_only_us_per_utterance']['transformers'], 1)} ({f(r['masks_only_speedup'], 1)}x) | "
                         f"{f(frac['speechssl'], 3)} / "
                         f"{f(frac['transformers'], 3)} | {r['negative_equals_positive']} |")
    b2 = results.get("b2")
    if b2:
        lines += ["", "## B2: pretraining update, BASE (audio seconds per second)", "",
                  "| batch | dropout | speechssl | transformers | speedup | share of ceiling (ours / theirs) | "
                  "speechssl mask / fwd / bwd / optim (s) |", "|---|---|---|---|---|---|---|"]
        for r in b2["results"].values():
            a, c, p = r["audio_seconds_per_second"], r["fraction_of_ceiling"], r["speechssl_phases_seconds"]
            lines.append(f"| {r['batch']} | {r['dropout']} | {f(a['speechssl'])} | {f(a['transformers'])} | "
                         f"{f(r['speedup'])}x | {c['speechssl']:.0%} / {c['transformers']:.0%} | "
                         f"{f(p['mask+negatives'], 3)} / {f(p['forward'])} / {f(p['backward'])} / {f(p['optimizer'])} |")
        ceiling = next(iter(b2["results"].values()))["ceiling_audio_seconds_per_second"]
        lines.append(f"\nCeiling: calibrated peak / 46 GFLOP per audio second = {ceiling:.2f} audio-s/s.")
    b3 = results.get("b3")
    if b3:
        impls = ["speechssl", "transformers", "torchaudio", "speechssl_int8", "transformers_int8"]
        lines += ["", "## B3: CTC inference, real-time factor (lower is faster)", "",
                  "| input | " + " | ".join(impls) + " | speechssl int8 vs transformers fp32 | "
                  "max abs logit diff (ours / torchaudio vs transformers) | same greedy text as transformers (ours, torchaudio); "
                  "int8 = fp32 (random weights) |",
                  "|---|" + "---|" * (len(impls) + 3)]
        for name, r in b3["results"].items():
            rtf, d, same = r["rtf"], r["max_abs_logit_diff"], r["greedy_text_equal"]
            lines.append(f"| {name} | " + " | ".join(f(rtf[i], 3) for i in impls) +
                         f" | {f(r['speedup_vs_transformers_fp32']['speechssl_int8'])}x | "
                         f"{d['speechssl']:.1e} / {d['torchaudio']:.1e} | "
                         f"{same['speechssl']}, {same['torchaudio']}, {same['speechssl_int8']} |")
        floor = next(iter(b3["results"].values()))["fp32_rtf_floor"]
        lines.append(f"\nfp32 floor (15.3 GFLOP per audio second at the calibrated peak): RTF {floor:.3f}.")
    b5 = results.get("b5")
    if b5:
        r = b5["results"]
        lines += ["", "## B4 + B5: memory and feature extraction", "",
                  "| configuration (fresh process) | speechssl peak RSS (MB) | transformers peak RSS (MB) |", "|---|---|---|"]
        for name, v in r["peak_rss_mb"].items():
            lines.append(f"| {name.replace('@', ' @ ')} s | {f(v['speechssl'], 0)} | {f(v['transformers'], 0)} |")
        s = r["saved_for_backward_mib"]
        b4 = r["b4_features_60s"]
        lines += ["", f"Saved-for-backward tensors of one 15.6 s pretraining forward (dropout 0.1): speechssl "
                  f"{s['speechssl']:.0f} MiB, transformers {s['transformers']:.0f} MiB.",
                  "", f"B4, all {b4['layers']} hidden states of 60 s: RTF speechssl {b4['rtf']['speechssl']:.3f}, "
                  f"transformers {b4['rtf']['transformers']:.3f}; max abs difference {b4['max_abs_diff_first_12']:.1e}. "
                  f"RSS above plain CTC inference at 60 s: speechssl {b4['extra_rss_mb']['speechssl']:.0f} MB, "
                  f"transformers {b4['extra_rss_mb']['transformers']:.0f} MB (13·T·d·4 bytes = {b4['bound_mb']:.0f} MB)."]
    b6 = results.get("b6")
    if b6:
        lines += ["", "## B6: padding (share of the batch tensors that is padding; audio used)", "",
                  "| length mix | speechssl sampler | transformers (shuffled batches of 8) | fairseq crop-to-shortest |",
                  "|---|---|---|---|"]
        for name, r in b6["results"].items():
            p, used = r["padded_fraction"], r["audio_used"]
            lines.append(f"| {name} | {p['speechssl']:.2%} pad | {p['transformers']:.1%} pad | "
                         f"0 pad, {1 - used['fairseq_crop']:.2%} of the audio dropped |")
    b7 = results.get("b7")
    if b7:
        lines += ["", "## B7: CTC fine-tuning update, conv encoder frozen (audio seconds per second)", "",
                  "| batch | speechssl | transformers | speedup |", "|---|---|---|---|"]
        for name, r in b7["results"].items():
            a = r["audio_seconds_per_second"]
            lines.append(f"| {name} | {f(a['speechssl'])} | {f(a['transformers'])} | {f(r['speedup'])}x |")
    b8 = results.get("b8")
    if b8:
        s = b8["results"]["seconds"]
        lines += ["", "## B8: cold start, one 4 s file in a fresh process (seconds, median)", "",
                  "| command | seconds |", "|---|---|"]
        lines += [f"| {name} | {f(v['median'])} |" for name, v in s.items()]
    b9 = results.get("b9")
    if b9:
        lines += b9_section(b9["results"], b9["machine"] if b9["machine"]["cpu"] != m["cpu"] else None)
    agreement = load("int8_agreement")
    if agreement:
        lines += ["", "## int8 against fp32 on the demo's test split", "",
                  f"Model `{agreement['model']}`, {agreement['utterances']} utterances: identical greedy transcripts "
                  f"{agreement['identical_transcripts']:.1%}; WER fp32 {agreement['wer']['fp32']:.2f}, int8 "
                  f"{agreement['wer']['int8']:.2f}; CER fp32 {agreement['cer']['fp32']:.2f}, int8 {agreement['cer']['int8']:.2f}. "
                  "(`tools/bench/int8_agreement.py`; run_all refreshes it when a finished demo run is in `--demo-exp`, "
                  "and otherwise shows the last recorded figure.)"]
        if onnx := agreement.get("onnx"):
            lines += ["", f"ONNX on the same split: fp32 on onnxruntime gives PyTorch fp32's transcript for "
                      f"{onnx['identical_to_pytorch_fp32']:.1%} of the utterances (WER {agreement['wer']['onnx_fp32']:.2f}); "
                      f"onnxruntime int8 keeps {onnx['int8_identical_to_onnx_fp32']:.1%} of them identical, WER "
                      f"{agreement['wer']['onnx_int8']:.2f} ({onnx['int8_wer_minus_fp32_wer']:+.2f} points)."]
    notes = HERE / "notes.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    return "\n".join(lines) + "\n"


def machine_line(run: dict) -> str:
    return (f"{run['date']} ({run['cpu']}, {run['cores']} cores, ISA {', '.join(run['isa']) or 'baseline'}, "
            f"torch {run['torch']})")


def b9_section(r: dict, other_machine: dict | None = None) -> list[str]:
    """``other_machine``: the run's machine line when it is not the header's (B9 was rerun on its own)."""
    impls = ["onnxruntime", "onnxruntime_int8", "speechssl", "speechssl_int8", "transformers"]
    lines = ["", "## B9: ONNX export on onnxruntime, CTC real-time factor, batch 1 (lower is faster)", "",
             f"`speechssl export-onnx` of a random-weight {r['preset'].upper()} CTC model (fp32 {r['file_mb']['fp32']:.0f} MB, "
             f"`--int8` {r['file_mb']['int8']:.0f} MB), onnxruntime with {r['threads']} intra-op threads, against "
             "speechssl's PyTorch model (fp32, `--quantize int8`) and transformers fp32 on the same weights, "
             "interleaved in one process." + (f" Run on {machine_line(other_machine)}, not the machine above: "
                                              "compare its ratios, not its times, with the other sections."
                                              if other_machine else ""), "",
             "| input | " + " | ".join(impls) + " | ORT int8 vs transformers fp32 | ORT fp32 vs speechssl fp32 | "
             "max abs logit diff ORT vs PyTorch | same greedy text ORT = PyTorch |",
             "|---|" + "---|" * (len(impls) + 4)]
    for name, v in r["rtf"].items():
        rtf = v["rtf"]
        lines.append(f"| {name} | " + " | ".join(f(rtf[i], 3) for i in impls) +
                     f" | {f(v['speedup_vs_transformers_fp32']['onnxruntime_int8'])}x | "
                     f"{f(v['onnxruntime_vs_speechssl']['fp32'])}x | {v['max_abs_logit_diff_onnxruntime_vs_speechssl']:.1e} | "
                     f"{v['greedy_text_equal']['onnxruntime = speechssl']} |")
    if m := r.get("memory"):
        lines += ["", f"A {m['minutes']:g}-minute file through `speechssl transcribe MODEL.onnx` (fp32, 30 s windows, "
                  f"word alignment, json + srt; fresh process): peak RSS {m['peak_rss_mb']:.0f} MiB, RTF {m['rtf']:.3f}."]
        if run := m.get("machine"):  # measured apart from the table (b9_onnx.py --memory-only)
            lines[-1] += f" Measured on its own on {machine_line(run)}" + (f"; {m['note']}" if m.get("note") else "") + "."
    return lines


def targets(results: dict[str, dict | None]) -> list[str]:
    rows = ["## Targets (issue 8), each a ratio taken in one run", "", "| target | measured | met |", "|---|---|---|"]
    if b1 := results.get("b1"):
        speed = [r["speedup"] for r in b1["results"].values()]
        rows.append(f"| B1 masks + negatives ≥ 40x transformers | {min(speed):.1f}x-{max(speed):.1f}x | "
                    f"{'yes' if min(speed) >= 40 else 'no: see notes'} |")
    if b2 := results.get("b2"):
        ref = [r for r in b2["results"].values() if r["dropout"] == "0.1"]
        speed = [r["speedup"] for r in ref]
        measured = ", ".join("{} {:.2f}x".format(r["batch"], r["speedup"]) for r in ref)
        rows.append(f"| B2 ≥ 1.3x transformers at reference dropouts | {measured} | "
                    f"{'yes' if min(speed) >= 1.3 else 'no: see notes'} |")
        share = [r["fraction_of_ceiling"]["speechssl"] for r in b2["results"].values()]
        rows.append(f"| B2 ≥ 70 % of the calibrated ceiling | {min(share):.0%}-{max(share):.0%} | "
                    f"{'yes' if min(share) >= 0.7 else 'no: see notes'} |")
    if b3 := results.get("b3"):
        fp32 = {k: r["speedup_vs_transformers_fp32"]["speechssl"] for k, r in b3["results"].items()}
        int8 = {k: r["speedup_vs_transformers_fp32"]["speechssl_int8"] for k, r in b3["results"].items()}
        rows.append(f"| B3 fp32 no slower than transformers + SDPA at every length | "
                    f"{', '.join(f'{k} {v:.2f}x' for k, v in fp32.items())} | {'yes' if min(fp32.values()) >= 1.0 else 'no: see notes'} |")
        rows.append(f"| B3 int8 ≥ 1.6x transformers fp32 | {', '.join(f'{k} {v:.2f}x' for k, v in int8.items())} | "
                    f"{'yes' if min(int8.values()) >= 1.6 else 'no: see notes'} |")
    if agreement := load("int8_agreement"):
        ok = agreement["identical_transcripts"] >= 0.98 and abs(agreement["wer"]["int8"] - agreement["wer"]["fp32"]) <= 0.5
        rows.append(f"| int8: same transcript on ≥ 98 % of the demo test utterances, WER within 0.5 | "
                    f"{agreement['identical_transcripts']:.1%}, WER {agreement['wer']['fp32']:.2f} -> {agreement['wer']['int8']:.2f} | "
                    f"{'yes' if ok else 'no: see notes'} |")
        if onnx := agreement.get("onnx"):
            same, delta = onnx["identical_to_pytorch_fp32"], onnx["int8_wer_minus_fp32_wer"]
            rows.append(f"| ONNX fp32: PyTorch's transcript on every demo test utterance (issue 15) | {same:.1%} | "
                        f"{'yes' if same == 1.0 else 'no: see notes'} |")
            rows.append(f"| ONNX int8: WER within 0.5 of ONNX fp32 (identical transcripts reported) | {delta:+.2f} points, "
                        f"{onnx['int8_identical_to_onnx_fp32']:.1%} identical | {'yes' if abs(delta) <= 0.5 else 'no: see notes'} |")
    if b9 := results.get("b9"):
        r = b9["results"]
        int8 = r["rtf"]["15.6s"]["speedup_vs_transformers_fp32"]["onnxruntime_int8"]
        rows.append(f"| B9 onnxruntime int8 ≥ 2x transformers fp32 at 15.6 s (issue 15) | {int8:.2f}x | "
                    f"{'yes' if int8 >= 2 else 'no: see notes'} |")
        fp32 = {k: v["onnxruntime_vs_speechssl"]["fp32"] for k, v in r["rtf"].items()}
        rows.append(f"| B9 onnxruntime fp32 no slower than PyTorch fp32 | "
                    f"{', '.join(f'{k} {v:.2f}x' for k, v in fp32.items())} | {'yes' if min(fp32.values()) >= 1.0 else 'no: see notes'} |")
        if m := r.get("memory"):
            # peak_rss_mb is MiB (ru_maxrss / 1024): state both readings of "2 GB"
            mib = m["peak_rss_mb"]
            gb = mib * 2**20 / 1e9
            verdict = "yes" if gb < 2 else (f"under 2 GiB, not under 2 GB ({gb:.2f} GB)" if mib < 2048 else "no: see notes")
            rows.append(f"| B9 {m['minutes']:g}-minute file through ONNX under 2 GB peak RSS | {mib:.0f} MiB ({gb:.2f} GB) | {verdict} |")
    if b5 := results.get("b5"):
        pre = b5["results"]["peak_rss_mb"]["pretraining@15.625"]
        rows.append(f"| B5 peak training memory ≤ transformers | {pre['speechssl']:.0f} vs {pre['transformers']:.0f} MB | "
                    f"{'yes' if pre['speechssl'] <= pre['transformers'] else 'no: see notes'} |")
    if b6 := results.get("b6"):
        fr = {k: r["padded_fraction"]["speechssl"] for k, r in b6["results"].items()}
        rows.append(f"| B6 padded fraction < 5 % | {', '.join(f'{k}: {v:.2%}' for k, v in fr.items())} | "
                    f"{'yes' if max(fr.values()) < 0.05 else 'at corpus size; not on 64 utterances: see notes'} |")
    return rows


KEEP = "<!-- run_all.py keeps everything below this line -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(SCRIPTS) + ",int8")
    parser.add_argument("--demo-exp", default="exp/synthetic",
                        help="a finished demo run: int8 vs fp32 transcripts on its test split")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else list(SCRIPTS)
    for name in names:
        if name in SCRIPTS:
            run(name, args.reps)
    model = REPO / args.demo_exp / "finetune_ssl" / "checkpoints" / "best"
    if (args.only is None or "int8" in names) and model.exists():
        print("== int8_agreement.py", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, str(HERE / "int8_agreement.py"), str(model),
                        str(REPO / args.demo_exp / "corpus" / "test.tsv"), "--onnx", "--json", str(OUT / "int8_agreement.json")],
                       check=True, stdout=subprocess.DEVNULL)
    results = {name: load(name) for name in SCRIPTS}
    path = REPO / "docs" / "benchmarks.md"
    old = path.read_text() if path.exists() else ""
    kept = old[old.index(KEEP):] if KEEP in old else ""  # hand-written sections (compile, GPU) stay
    path.write_text(render(results) + (f"\n{kept}" if kept else ""))
    print(f"wrote {REPO / 'docs' / 'benchmarks.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()

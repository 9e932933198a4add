"""int8 vs fp32 transcripts of a fine-tuned model on a labeled manifest (the demo's test split).

    python tools/bench/int8_agreement.py MODEL MANIFEST [--json out.json]

Both transcribe with greedy decoding through ``speechssl.inference``; reported: the share of
utterances with identical transcripts, both WERs, and the wall time of each pass.
"""

import argparse
import csv
import json
import tempfile
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("manifest")
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    from speechssl.decoding.beam import make_decoder
    from speechssl.inference.evaluate import evaluate
    from speechssl.inference.quantize import quantize_int8
    from speechssl.inference.transcribe import Transcriber
    from speechssl.models import load_model

    reports, texts = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("fp32", "int8"):
            model = load_model(args.model)
            if kind == "int8":
                quantize_int8(model)
            transcriber = Transcriber(model, make_decoder(model.tokenizer, "greedy"))
            reports[kind] = evaluate(transcriber, args.manifest, Path(tmp) / kind, progress=False)
            with open(Path(tmp) / kind / "hypotheses.tsv", encoding="utf-8") as f:  # one pass: evaluate's own rows
                texts[kind] = {row["id"]: row["hypothesis"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}
    same = sum(texts["fp32"][k] == texts["int8"].get(k) for k in texts["fp32"])
    result = {"model": args.model, "manifest": args.manifest, "utterances": len(texts["fp32"]),
              "identical_transcripts": same / max(len(texts["fp32"]), 1),
              "wer": {k: r.wer for k, r in reports.items()}, "cer": {k: r.cer for k, r in reports.items()},
              "seconds": {k: r.seconds for k, r in reports.items()}}
    text = json.dumps(result, indent=2)
    if args.json:
        open(args.json, "w").write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""int8 vs fp32 transcripts of a fine-tuned model on a labeled manifest (the demo's test split).

    python tools/bench/int8_agreement.py MODEL MANIFEST [--json out.json] [--onnx]

Every variant transcribes with greedy decoding through ``speechssl.inference`` (evaluate's own
hypotheses); reported: the share of utterances whose transcript is identical to the reference
variant's, each WER and CER, and the wall time of each pass.

- PyTorch: ``fp32`` and ``int8`` (``--quantize int8``), int8 compared with fp32;
- ``--onnx``: the model exported by ``speechssl export-onnx`` (fp32, and ``--int8``) and run on
  onnxruntime: ``onnx_fp32`` compared with PyTorch fp32 (the target: every transcript identical),
  ``onnx_int8`` compared with ``onnx_fp32`` (the target: WER within 0.5 points).
"""

import argparse
import csv
import json
import tempfile
from pathlib import Path

import torch

# variant -> the variant its transcripts are compared with
REFERENCE = {"int8": "fp32", "onnx_fp32": "fp32", "onnx_int8": "onnx_fp32"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("manifest")
    parser.add_argument("--json")
    parser.add_argument("--onnx", action="store_true", help="also the ONNX exports on onnxruntime")
    args = parser.parse_args()
    torch.set_num_threads(2)
    from speechssl.decoding.beam import make_decoder
    from speechssl.inference.evaluate import evaluate
    from speechssl.inference.quantize import quantize_int8
    from speechssl.inference.transcribe import Transcriber
    from speechssl.models import load_model

    variants = ["fp32", "int8"] + (["onnx_fp32", "onnx_int8"] if args.onnx else [])
    reports, texts = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in variants:
            model = load_model(args.model)
            if kind == "int8":
                quantize_int8(model)
            elif kind.startswith("onnx"):
                from speechssl.inference.onnx_export import export_onnx
                from speechssl.inference.onnx_runtime import OnnxBackend

                path = export_onnx(model, Path(tmp) / f"{kind}.onnx", int8=kind == "onnx_int8")
                model = OnnxBackend(path, threads=2)
            transcriber = Transcriber(model, make_decoder(model.tokenizer, "greedy"))
            reports[kind] = evaluate(transcriber, args.manifest, Path(tmp) / kind, progress=False)
            with open(Path(tmp) / kind / "hypotheses.tsv", encoding="utf-8") as f:  # one pass: evaluate's own rows
                texts[kind] = {row["id"]: row["hypothesis"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}

    def identical(kind: str) -> float:
        reference = texts[REFERENCE[kind]]
        return sum(reference[k] == texts[kind].get(k) for k in reference) / max(len(reference), 1)

    result = {"model": args.model, "manifest": args.manifest, "utterances": len(texts["fp32"]),
              "identical_transcripts": identical("int8"),
              "wer": {k: r.wer for k, r in reports.items()}, "cer": {k: r.cer for k, r in reports.items()},
              "seconds": {k: r.seconds for k, r in reports.items()}}
    if args.onnx:
        result["onnx"] = {
            "identical_to_pytorch_fp32": identical("onnx_fp32"),
            "int8_identical_to_onnx_fp32": identical("onnx_int8"),
            "int8_wer_minus_fp32_wer": reports["onnx_int8"].wer - reports["onnx_fp32"].wer,
        }
    text = json.dumps(result, indent=2)
    if args.json:
        open(args.json, "w").write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

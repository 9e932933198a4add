"""``speechssl <subcommand>``: each handler parses its arguments, then calls one library function."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_smoke(args: argparse.Namespace) -> int:
    from speechssl.smoke import run_smoke

    run_smoke(args.output_dir, steps=args.steps)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from speechssl.models import load_resolved, resolve
    from speechssl.serialization import save_model

    _setup_logging()
    found = resolve(args.source)
    model = load_resolved(found, dictionary=args.dictionary)
    if args.to == "huggingface":
        from speechssl.convert.export import export_huggingface

        for warning in export_huggingface(model, args.destination, source=found):
            print(f"warning: {warning}", file=sys.stderr)
    else:
        save_model(model, args.destination)
    print(f"wrote {args.to} model to {args.destination}")
    return 0


def _setup_logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def cmd_pretrain(args: argparse.Namespace) -> int:
    from speechssl.train.config import parse_overrides, resolve_run_config
    from speechssl.train.pretrain import pretrain

    _setup_logging()
    overrides = parse_overrides(args.set or [])
    if args.train_manifest:
        overrides["data.train_manifest"] = args.train_manifest
    if args.valid_manifest:
        overrides["data.valid_manifest"] = args.valid_manifest
    cfg = resolve_run_config(args.config, overrides)
    return _train(pretrain, cfg, args.output_dir, resume=args.resume, progress=not args.no_progress,
                  stop_after=args.stop_after, init=args.init, restart_temperature=args.restart_temperature)


def cmd_finetune(args: argparse.Namespace) -> int:
    from speechssl.train.config import parse_overrides
    from speechssl.train.finetune import finetune, resolve_finetune_config

    _setup_logging()
    overrides = parse_overrides(args.set or [])
    for key, value in (("data.train_manifest", args.train_manifest), ("data.valid_manifest", args.valid_manifest),
                       ("finetune.init_model", args.init)):
        if value is not None:
            overrides[key] = value
    cfg = resolve_finetune_config(args.config, overrides)
    return _train(finetune, cfg, args.output_dir, resume=args.resume, progress=not args.no_progress,
                  stop_after=args.stop_after)


def _train(run, *args, **kwargs) -> int:
    """Run a training entry point; a device this machine lacks (more processes per node than GPUs,
    device=cuda without one) is one line and exit status 2, not a traceback."""
    from speechssl.train.distributed import DeviceError

    try:
        run(*args, **kwargs)
    except DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _transcriber(args: argparse.Namespace):
    from speechssl.decoding.beam import make_decoder
    from speechssl.inference.transcribe import Transcriber
    from speechssl.models import ModelError, load_model

    if _is_onnx(args.model):
        model = _onnx_model(args)
    else:
        model = load_model(args.model, map_location=args.device)
    if getattr(model, "tokenizer", None) is None:
        raise ModelError(f"{args.model}: not a CTC model with a vocabulary (fine-tune it, or give a Hugging Face dir with vocab.json)")
    if args.quantize == "int8":
        from speechssl.inference.quantize import quantize_int8

        quantize_int8(model)
    options = {}
    if args.decoder == "beam":
        options = dict(lm=args.lm, lexicon=args.lexicon, beam_size=args.beam_size, lm_weight=args.lm_weight, word_score=args.word_score)
    decoder = make_decoder(model.tokenizer, args.decoder, **options)
    return Transcriber(model, decoder, timestamps=args.timestamps, window_seconds=args.window, overlap_seconds=args.overlap)


def _is_onnx(reference: str) -> bool:
    from speechssl.inference.onnx_runtime import is_onnx_path

    return is_onnx_path(reference)


def _onnx_model(args: argparse.Namespace):
    """An exported ``.onnx`` on onnxruntime, or a one-line exit (onnxruntime missing, bad file)."""
    from speechssl.inference.onnx_runtime import OnnxBackend

    if getattr(args, "quantize", "none") != "none":
        raise SystemExit(f"error: --quantize applies to PyTorch models; {args.model} is int8 or not as it was exported "
                         "(speechssl export-onnx --int8)")
    try:
        return OnnxBackend(args.model, device=args.device)
    except (ImportError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from speechssl.inference.onnx_export import export_onnx
    from speechssl.models import load_model

    _setup_logging()
    model = load_model(args.model)
    try:
        path = export_onnx(model, args.output, layers=args.layers, int8=args.int8, opset=args.opset)
    except (ImportError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB, opset {args.opset}{', int8' if args.int8 else ''})")
    return 0


def _add_decoding_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoder", choices=["greedy", "beam"], default=None, help="default: beam when --lm is given, else greedy")
    p.add_argument("--lm", help="KenLM n-gram model (ARPA, .arpa.gz or binary); see `speechssl build-lm`")
    p.add_argument("--lexicon", help="word<TAB>spelling lines; built from the LM's words when omitted")
    p.add_argument("--beam-size", type=int, default=50)
    p.add_argument("--lm-weight", type=float, default=2.0)
    p.add_argument("--word-score", type=float, default=0.0)
    _add_inference_args(p, batch_seconds=30.0)


def _add_inference_args(p: argparse.ArgumentParser, batch_seconds: float) -> None:
    """The options every inference command (transcribe, evaluate, extract-features) shares."""
    p.add_argument("--window", type=float, default=30.0, help="seconds per window for long audio")
    p.add_argument("--overlap", type=float, default=5.0, help="seconds shared by neighbouring windows")
    p.add_argument("--batch-seconds", type=float, default=batch_seconds,
                   help="padded audio per forward pass (memory grows with it; raise it on a GPU)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quantize", choices=["none", "int8"], default="none",
                   help="int8: the transformer's Linear layers in dynamic int8 (CPU; conv front end and head stay fp32)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _decoder_kind(args: argparse.Namespace) -> None:
    if args.decoder is None:
        args.decoder = "beam" if (args.lm or args.lexicon) else "greedy"


def cmd_transcribe(args: argparse.Namespace) -> int:
    from speechssl.inference.transcribe_files import transcribe_files

    _setup_logging()
    _decoder_kind(args)
    formats = tuple(f.strip() for f in args.format.split(","))
    transcriber = _transcriber(args)

    def show(transcript) -> None:
        if args.output_dir is None:
            print(f"{transcript.id}\t{transcript.text}", flush=True)

    report = transcribe_files(
        transcriber, args.inputs, output_dir=args.output_dir, formats=formats, batch_seconds=args.batch_seconds,
        progress=not args.no_progress, on_transcript=show,
    )
    print(f"transcribed {len(report.transcripts)} files ({report.audio_seconds:.1f} s of audio); {len(report.failed)} failed",
          file=sys.stderr)
    for path, reason in report.failed:
        print(f"FAILED {path}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from speechssl.inference.evaluate import evaluate

    _setup_logging()
    _decoder_kind(args)
    transcriber = _transcriber(args)  # loaded once for every manifest
    several = len(args.manifests) > 1
    failed = False
    for manifest in args.manifests:
        output_dir = args.output_dir
        if several and output_dir is not None:
            output_dir = str(Path(output_dir) / Path(manifest).stem)
        report = evaluate(transcriber, manifest, output_dir, batch_seconds=args.batch_seconds,
                          progress=not args.no_progress)
        print(f"{Path(manifest).stem + ': ' if several else ''}WER {report.wer:.2f}  CER {report.cer:.2f}  "
              f"({report.utterances} utterances, {report.words} words, "
              f"{report.audio_seconds:.1f} s of audio in {report.seconds:.1f} s)")
        for path, reason in report.failed:
            print(f"FAILED {path}: {reason}", file=sys.stderr)
        failed = failed or bool(report.failed)
    return 1 if failed else 0


def cmd_pseudo_label(args: argparse.Namespace) -> int:
    from speechssl.inference.pseudo_label import pseudo_label

    _setup_logging()
    _decoder_kind(args)
    transcriber = _transcriber(args)
    try:
        report = pseudo_label(transcriber, args.manifest, args.output, keep_fraction=args.keep_fraction,
                              include=args.include, batch_seconds=args.batch_seconds, progress=not args.no_progress)
    except (ValueError, OSError) as error:  # a manifest that is missing, unlabeled or on another root
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.output}: {report.kept} of {report.transcribed} transcripts kept ({report.kept_seconds / 60:.1f} min, "
          f"confidence >= {report.min_kept_confidence:.3f}) after {report.included} labeled rows")
    for path, reason in report.failed:
        print(f"FAILED {path}: {reason}", file=sys.stderr)
    return 0


def cmd_build_lm(args: argparse.Namespace) -> int:
    from speechssl.text.ngram import build_arpa
    from speechssl.text.normalize import TextNormalizer

    texts = []
    for path in args.text:
        texts += open(path, encoding="utf-8").read().splitlines()
    counts = build_arpa(texts, args.output, order=args.order, normalizer=TextNormalizer(case=args.case))
    print(f"wrote {args.output}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = root / "recipes" / "synthetic" / "run.sh"
    if not script.exists():
        raise SystemExit(f"{script} not found: the demo runs from a clone of the repository (pip install -e .)")
    env = {**os.environ, "SPEECHSSL": f"{sys.executable} -m speechssl", "PYTHON": sys.executable}
    options = ["--conf", args.conf, "--exp", args.exp, "--stage", str(args.stage), "--stop-stage", str(args.stop_stage)]
    return subprocess.run(["bash", str(script), *options], cwd=root, env=env).returncode


def cmd_report(args: argparse.Namespace) -> int:
    from speechssl.report import write_report

    print(write_report(args.exp_dir), end="")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from speechssl.data.manifest import make_manifests

    _setup_logging()
    extensions = tuple("." + e.lstrip(".").lower() for e in args.ext.split(","))
    counts = make_manifests(
        args.root,
        args.output_dir,
        valid_percent=args.valid_percent,
        min_seconds=args.min_seconds,
        max_seconds=args.max_seconds,
        seed=args.seed,
        extensions=extensions,
        workers=args.workers,
    )
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def cmd_synthesize(args: argparse.Namespace) -> int:
    from speechssl.data.corpora.synthetic import prepare_synthetic

    _setup_logging()
    summary = prepare_synthetic(
        args.output_dir, hours=args.hours, seed=args.seed, workers=args.workers, labeled_fraction=args.labeled_fraction,
        dev_fraction=args.dev_fraction, test_fraction=args.test_fraction, lm_sentences=args.lm_sentences,
        progress=not args.no_progress,
    )
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from speechssl.data.corpora.prepare import CorpusError

    _setup_logging()
    common = {"workers": args.workers, "progress": not args.no_progress}
    try:
        if args.corpus == "librispeech":
            from speechssl.data.corpora.librispeech import prepare_librispeech

            summary = prepare_librispeech(args.source, args.output_dir, librilight_dir=args.librilight,
                                          librilight_fold=args.fold, **common)
        elif args.corpus == "commonvoice":
            from speechssl.data.corpora.commonvoice import prepare_commonvoice

            summary = prepare_commonvoice(args.source, args.output_dir, language=args.language,
                                          convert_to_flac=args.flac, **common)
        elif args.corpus == "fillets":
            from speechssl.data.corpora.fillets import prepare_fillets

            if not args.language:
                raise CorpusError("fillets: --language is required (the voiced language: cs, nl, ...)")
            summary = prepare_fillets(args.source, args.output_dir, language=args.language, seed=args.seed,
                                      train_minutes=args.train_minutes, dev_minutes=args.dev_minutes,
                                      test_minutes=args.test_minutes, **common)
        else:
            from speechssl.data.corpora.timit import prepare_timit

            summary = prepare_timit(args.source, args.output_dir, **common)
    except CorpusError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, stats in summary["splits"].items():
        print(f"{name}\t{stats['utterances']} utterances\t{stats['hours']:.2f} h")
    if summary["skipped"]:
        print(f"{len(summary['skipped'])} files left out: see {args.output_dir}/prepare.json", file=sys.stderr)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from speechssl.data.corpora.librispeech import ARCHIVES
    from speechssl.data.download import download, extract

    _setup_logging()
    unknown = [name for name in args.archives if name not in ARCHIVES]
    if unknown:
        print(f"error: unknown archive(s) {', '.join(unknown)}; known: {', '.join(ARCHIVES)}", file=sys.stderr)
        return 2
    dest = Path(args.dest)
    for name in args.archives:
        url, md5 = ARCHIVES[name]
        marker = dest / f".extracted.{name}"
        if marker.exists():
            print(f"{name}: extracted before")
            continue
        path = download(url, dest / "archives" / url.rsplit("/", 1)[1], md5, progress=not args.no_progress)
        if path.name.endswith((".tar.gz", ".tgz")):
            extract(path, dest)
            if not args.keep_archives:
                path.unlink()
        marker.touch()
        print(f"{name}: done")
    return 0


def cmd_extract_features(args: argparse.Namespace) -> int:
    from speechssl.inference.extract import extract_to
    from speechssl.models import load_model

    _setup_logging()
    model = _onnx_model(args) if _is_onnx(args.model) else load_model(args.model, map_location=args.device)
    if args.quantize == "int8":
        from speechssl.inference.quantize import quantize_int8

        quantize_int8(model)
    try:
        report = extract_to(
            model, args.inputs, args.output, layers=args.layers, fmt=args.format, pool=args.pool,
            window_seconds=args.window, overlap_seconds=args.overlap, batch_seconds=args.batch_seconds,
            progress=not args.no_progress,
        )
    except ValueError as error:  # a layer the model does not have
        raise SystemExit(f"error: {error}") from None
    print(f"wrote features of {report.written} utterances to {args.output}; {len(report.failed)} failed")
    for path, reason in report.failed:
        print(f"FAILED {path}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def build_parser() -> argparse.ArgumentParser:
    from speechssl import __version__

    parser = argparse.ArgumentParser(
        prog="speechssl", description="Self-supervised speech learning with wav2vec 2.0: pretrain, extract features, convert."
    )
    parser.add_argument("--version", action="version", version=f"speechssl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = sub.add_parser("smoke", help="generate audio, train a tiny model a few steps, save and reload it", formatter_class=fmt)
    p.add_argument("--output-dir", default="runs/smoke")
    p.add_argument("--steps", type=int, default=20)
    p.set_defaults(handler=cmd_smoke)

    p = sub.add_parser(
        "convert",
        help="convert a speechssl, Hugging Face or fairseq model to speechssl or Hugging Face format",
        formatter_class=fmt,
    )
    p.add_argument("source", help="speechssl model or run dir, Hugging Face dir, fairseq .pt, or hub id org/name[@revision]")
    p.add_argument("destination")
    p.add_argument("--to", choices=["speechssl", "huggingface"], default="speechssl")
    p.add_argument("--dictionary", help="fairseq dict.ltr.txt of a fine-tuned checkpoint")
    p.set_defaults(handler=cmd_convert)

    p = sub.add_parser("pretrain", help="contrastive pretraining (torchrun for several processes)", formatter_class=fmt)
    p.add_argument("--init", help="continue pretraining this model (its architecture and weights; the recipe from "
                   "--config): a pretraining checkpoint as a speechssl model or run dir, Hugging Face dir or hub id, "
                   "or fairseq .pt")
    p.add_argument("--restart-temperature", action="store_true",
                   help="with --init: run the Gumbel temperature schedule from its start, not at its floor")
    p.add_argument("--config", default="tiny", help="model preset (tiny, base, large), a run's config.json, or file.py:function")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. optim.lr=1e-4 data.max_tokens=800000")
    p.add_argument("--train-manifest", help="shortcut for --set data.train_manifest=...")
    p.add_argument("--valid-manifest", help="shortcut for --set data.valid_manifest=...")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output-dir")
    p.add_argument("--no-progress", action="store_true", help="log lines only, no progress bar")
    p.add_argument("--stop-after", type=int, help="stop (with a checkpoint) after this update; --resume continues")
    p.set_defaults(handler=cmd_pretrain)

    p = sub.add_parser("finetune", help="CTC fine-tuning of a pretrained model (torchrun for several processes)",
                       formatter_class=fmt)
    p.add_argument("--init", help="pretrained model: speechssl model or run dir, Hugging Face dir or hub id, fairseq .pt")
    p.add_argument("--config", default="10h", help="split preset (10m, 1h, 10h, 100h, 960h), a run's config.json, or file.py:function")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. optim.max_updates=2000 finetune.tokenizer=sentencepiece")
    p.add_argument("--train-manifest", help="labeled .tsv (with .wrd or .ltr beside it)")
    p.add_argument("--valid-manifest")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output-dir")
    p.add_argument("--no-progress", action="store_true", help="log lines only, no progress bar")
    p.add_argument("--stop-after", type=int, help="stop (with a checkpoint) after this update; --resume continues")
    p.set_defaults(handler=cmd_finetune)

    p = sub.add_parser("transcribe", help="speech to text for files, folders, globs or manifests", formatter_class=fmt)
    p.add_argument("model", help="speechssl CTC model dir or Hugging Face Wav2Vec2ForCTC dir, or an exported .onnx")
    p.add_argument("inputs", nargs="+", help="audio files, folders, globs or .tsv manifests")
    p.add_argument("--output-dir", help="write <id>.<format> files here (default: print id<TAB>text)")
    p.add_argument("--format", default="txt", help="comma-separated: txt, json, srt, vtt, tsv")
    p.add_argument("--timestamps", choices=["align", "frames", "none"], default="align",
                   help="word times from a forced alignment of the transcript, or from the CTC spikes")
    _add_decoding_args(p)
    p.set_defaults(handler=cmd_transcribe)

    p = sub.add_parser("evaluate", help="WER and CER of a model on a labeled manifest", formatter_class=fmt)
    p.add_argument("model", help="speechssl CTC model dir or Hugging Face Wav2Vec2ForCTC dir, or an exported .onnx")
    p.add_argument("manifests", nargs="+", help="labeled .tsv files (with .wrd or .ltr beside them)")
    p.add_argument("--output-dir", help="write hypotheses.tsv (per utterance) and wer.json here "
                   "(in a subfolder per manifest when several are given)")
    p.set_defaults(handler=cmd_evaluate, timestamps="none")
    _add_decoding_args(p)

    p = sub.add_parser("pseudo-label", help="transcribe unlabeled audio into a labeled manifest (self-training)",
                       formatter_class=fmt)
    p.add_argument("model", help="speechssl CTC model dir or Hugging Face Wav2Vec2ForCTC dir, or an exported .onnx")
    p.add_argument("manifest", help="the unlabeled .tsv to transcribe")
    p.add_argument("--output", required=True, help="the labeled .tsv to write (.wrd and .ltr beside it)")
    p.add_argument("--keep-fraction", type=float, default=1.0,
                   help="keep this share of the non-empty transcripts, the most confident first")
    p.add_argument("--include", nargs="*", default=[], help="labeled manifests whose rows come first (same root)")
    p.set_defaults(handler=cmd_pseudo_label, timestamps="none")
    _add_decoding_args(p)

    p = sub.add_parser("build-lm", help="estimate a word n-gram LM (ARPA, Kneser-Ney) from text files", formatter_class=fmt)
    p.add_argument("text", nargs="+", help="text files, one sentence per line (e.g. the training .wrd)")
    p.add_argument("--output", required=True, help="the .arpa file to write")
    p.add_argument("--order", type=int, default=3)
    p.add_argument("--case", choices=["upper", "lower", "keep"], default="upper", help="match the model's tokenizer")
    p.set_defaults(handler=cmd_build_lm)

    p = sub.add_parser(
        "demo", help="the synthetic recipe: synthesize, pretrain, fine-tune, compare with scratch, report (~25 min on 2 CPU cores)",
        formatter_class=fmt)
    p.add_argument("--conf", default="recipes/synthetic/conf/default.sh", help="settings (relative to the repository root)")
    p.add_argument("--exp", default="exp/synthetic", help="output directory (relative to the repository root)")
    p.add_argument("--stage", type=int, default=0, help="first stage to run (finished stages are skipped anyway)")
    p.add_argument("--stop-stage", type=int, default=100, help="last stage to run")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("report", help="a recipe run's results table (markdown, JSON) and curves (PNG)", formatter_class=fmt)
    p.add_argument("exp_dir")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("manifest", help="scan a folder of audio into fairseq-style train/valid manifests", formatter_class=fmt)
    p.add_argument("root")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--ext", default="flac,wav,ogg,mp3", help="comma-separated extensions")
    p.add_argument("--valid-percent", type=float, default=0.01)
    p.add_argument("--min-seconds", type=float, default=0.0)
    p.add_argument("--max-seconds", type=float, default=float("inf"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(handler=cmd_manifest)

    p = sub.add_parser(
        "extract-features", help="features of any layer for files, folders, globs or manifests", formatter_class=fmt
    )
    p.add_argument("model", help="speechssl dir, Hugging Face dir or fairseq .pt, or an exported .onnx")
    p.add_argument("inputs", nargs="+", help="audio files, folders, globs or .tsv manifests")
    p.add_argument("--output", required=True, help="output folder (npy, pt) or .h5 file / folder (hdf5)")
    p.add_argument("--layers", default="all", help="all, conv, final, an index, a range 2-5, or a comma list (docs/features.md)")
    p.add_argument("--format", choices=["npy", "pt", "hdf5"], default="npy")
    p.add_argument("--pool", choices=["mean"], help="average over frames: one vector per utterance and layer")
    _add_inference_args(p, batch_seconds=120.0)
    p.set_defaults(handler=cmd_extract_features)

    p = sub.add_parser("export-onnx", help="an ONNX inference graph (CTC model or encoder) that runs on onnxruntime alone",
                       formatter_class=fmt)
    p.add_argument("model", help="any model the other commands accept (speechssl, Hugging Face, fairseq, run dir)")
    p.add_argument("output", help="the .onnx file to write (transcribe / extract-features take it as MODEL)")
    p.add_argument("--layers", help="hidden layers as extra outputs (as extract-features --layers); "
                   "default: none for a CTC model, all for an encoder")
    p.add_argument("--int8", action="store_true",
                   help="dynamic int8 of the transformer's MatMuls (onnxruntime); conv front end and CTC head stay fp32")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (17 or newer)")
    p.set_defaults(handler=cmd_export_onnx)

    p = sub.add_parser("prepare", help="manifests from an extracted corpus: librispeech, commonvoice, timit, fillets",
                       formatter_class=fmt)
    p.add_argument("corpus", choices=["librispeech", "commonvoice", "timit", "fillets"])
    p.add_argument("source", help="librispeech: folder holding LibriSpeech/; commonvoice: a language folder "
                   "(cv-corpus-*/<lang>); timit: the release folder (TRAIN/ and TEST/); fillets: the tree "
                   "fillets-ng-data and fillets-ng-data-<lang> are unpacked into (tools/fetch_fillets.sh)")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--librilight", help="librispeech: extracted librispeech_finetuning (Libri-light limited splits)")
    p.add_argument("--fold", type=int, default=0, help="librispeech: which 1h fold (0-5) is the 10-minute split")
    p.add_argument("--language", help="commonvoice: language code (default: the folder name); "
                   "fillets: the voiced language (cs, nl, ...; required)")
    p.add_argument("--seed", type=int, default=0, help="fillets: seed of the random splits")
    p.add_argument("--train-minutes", type=float, default=10.0, help="fillets: labeled minutes of train_10min")
    p.add_argument("--dev-minutes", type=float, default=4.0, help="fillets: minutes of dev")
    p.add_argument("--test-minutes", type=float, default=4.0, help="fillets: minutes of test")
    p.add_argument("--flac", action="store_true", help="commonvoice: convert clips to 16 kHz flac once")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=cmd_prepare)

    p = sub.add_parser("download", help="fetch LibriSpeech / Libri-light archives (resumable, MD5-checked) and extract",
                       formatter_class=fmt)
    p.add_argument("dest")
    p.add_argument("archives", nargs="+", help="train-clean-100 ... test-other, 4-gram, lexicon, librilight-finetuning")
    p.add_argument("--keep-archives", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=cmd_download)

    p = sub.add_parser("synthesize", help="synthesize the built-in speech corpus with espeak-ng", formatter_class=fmt)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--labeled-fraction", type=float, default=0.1, help="share of the audio transcribed for fine-tuning")
    p.add_argument("--dev-fraction", type=float, default=0.05)
    p.add_argument("--test-fraction", type=float, default=0.05)
    p.add_argument("--lm-sentences", type=int, default=20_000,
                   help="sentences of the text-only LM corpus (lm_text.txt; no dev or test sentence among them)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(handler=cmd_synthesize)
    return parser


def main(argv: list[str] | None = None) -> None:
    from speechssl.models import ModelError

    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except ModelError as error:  # a model reference that leads nowhere: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        code = 2
    sys.exit(code)

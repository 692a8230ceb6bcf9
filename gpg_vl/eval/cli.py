"""``gpg-vl eval``: judge a checkpoint on a benchmark; ``gpg-vl eval score``: score predictions.

    gpg-vl eval --benchmark mathvista --model PATH_OR_HUB_ID --data PATH_OR_HUB_ID --out DIR
    gpg-vl eval score --benchmark mathvista --predictions FILE --out DIR [--protocol official]
    gpg-vl eval report DIR1 DIR2 ... --out REPORT_DIR

The first generates greedily in batches (resuming from ``DIR/predictions.jsonl``), then scores;
the second scores prediction lines (benchmark record + ``"response"``) made anywhere. Both write
``DIR/scored.jsonl``, ``DIR/summary.json`` and ``DIR/report.md``. The main ``gpg-vl`` command
calls :func:`add_arguments` on its ``eval`` parser and dispatches to :func:`run`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpg_vl.errors import InputError
from gpg_vl.eval.benchmarks import BENCHMARKS, get_benchmark
from gpg_vl.eval.loading import read_prediction_lines
from gpg_vl.eval.provenance import provenance, rows_used
from gpg_vl.eval.scoring import PROTOCOLS, score_predictions, write_outputs
from gpg_vl.families import BOX_FRAMES


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("eval_action", nargs="?", choices=["score", "report"], metavar="score|report",
                        help="'score': score an existing predictions file (no model); 'report "
                             "DIR...': one table (report.md, report.csv, report.png) across runs")
    parser.add_argument("dirs", nargs="*", type=Path, help="(report) eval output folders")
    parser.add_argument("--benchmark", help=f"one of {sorted(BENCHMARKS)}")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--predictions", type=Path,
                        help="(score) JSON-lines file: benchmark record + \"response\" per line")
    parser.add_argument("--model", help="checkpoint folder or hub id")
    parser.add_argument("--data", help="benchmark data: hub id, release folder or file "
                                       "(classification: several, comma-separated)")
    parser.add_argument("--split", help="dataset split (default: the benchmark's)")
    parser.add_argument("--prompt-template",
                        help="prompt text; {problem} is the benchmark's question, and any record "
                             "field may be named (default: the benchmark's)")
    parser.add_argument("--system-prompt", help="system message (default: none; chat format only)")
    parser.add_argument("--prompt-format", choices=["chat", "raw"], default="chat",
                        help="chat: the model's chat template around the images and the prompt; raw: "
                             "the template is the whole prompt, {image} where the images go (base "
                             "models; as data.prompt_format in training)")
    parser.add_argument("--completion-prefix", default="",
                        help="text appended to the prompt, e.g. '<think>' (as data.completion_prefix)")
    parser.add_argument("--thinking", choices=["true", "false"],
                        help="the chat template's reasoning switch, for families that have one (Qwen3.5; "
                             "as data.thinking in training); default: the template's")
    parser.add_argument("--max-new-tokens", type=int, default=1024, help="greedy tokens per answer (default: 1024)")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts generated together (default: 8)")
    parser.add_argument("--min-pixels", type=int, help="processor minimum pixels per image")
    parser.add_argument("--max-pixels", type=int, help="processor maximum pixels per image")
    parser.add_argument("--dtype", default="auto", help="auto | bfloat16 | float16 | float32")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--limit", type=int, help="only the first N records")
    parser.add_argument("--image-root", type=Path,
                        help="folder the records' relative image paths are resolved against "
                             "(default: the data folder, or the data file's folder)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="strict",
                        help="strict: gpg-vl's answer reading (default); official: the "
                             "benchmark's published scorer, quirks included. summary.json "
                             "holds both accuracies where an official scorer is ported")
    parser.add_argument("--extractor", choices=["rules", "llm"], default="rules",
                        help="how answers are read from free text: rules (gpg_vl.eval.extract), "
                             "or llm (an OpenAI-compatible judge, as MathVista's official GPT step)")
    parser.add_argument("--judge-url", help="(llm) OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--judge-model", help="(llm) the model name the endpoint serves")
    parser.add_argument("--judge-timeout", type=float, default=30.0, help="(llm) seconds per request")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in an --out folder holding other settings' predictions")
    parser.add_argument("--box-frame", choices=BOX_FRAMES,
                        help="grounding: the frame predicted boxes are written in (default: the "
                             "model family's; for 'score', as recorded in the predictions)")
    return parser


def _report(args) -> int:
    from gpg_vl.eval.aggregate import write_report

    if not args.dirs:
        return _fail("'eval report' needs one or more eval output folders")
    try:
        written = write_report(args.dirs, Path(args.out))
    except InputError as err:
        return _fail(str(err))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _fail(message: str) -> int:
    print(f"gpg-vl eval: error: {message}", file=sys.stderr)
    return 2


def _print_result(out: Path, summary: dict) -> None:
    by_protocol = ", ".join(f"{k} {100 * v:.2f}%" for k, v in summary["accuracy_by_protocol"].items())
    print(f"{summary['benchmark']}: overall {100 * summary['overall']:.2f}% "
          f"({summary['correct']}/{summary['count']}, {summary['protocol']}; {by_protocol}); "
          f"missing fields {summary['missing_fields']['count']}, empty "
          f"{summary['empty_responses']}, truncated {summary['truncated_responses']}")
    for key, value in summary["metrics"].items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    print(f"wrote {out / 'scored.jsonl'}, {out / 'summary.json'}, {out / 'report.md'}")


def score_file(bench, predictions: list[dict], out: Path, args, rows: str | None = None,
               skipped: list[str] | None = None) -> int:
    options = {"box_frame": args.box_frame, "min_pixels": args.min_pixels,
               "max_pixels": args.max_pixels}
    if args.protocol == "official" and not bench.has_official:
        return _fail(f"{bench.name} has no official scorer ported; use --protocol strict")
    judge_stats = None
    if args.extractor == "llm":
        from gpg_vl.eval.llm_extract import LLMExtractor, apply_judge

        if not args.judge_url or not args.judge_model:
            return _fail("--extractor llm needs --judge-url and --judge-model")
        Path(out).mkdir(parents=True, exist_ok=True)
        extractor = LLMExtractor(args.judge_url, args.judge_model, out, args.judge_timeout)
        try:
            predictions = apply_judge(bench, predictions, extractor)
        except InputError as err:
            return _fail(str(err))
        judge_stats = extractor.stats
    if bench.requires_box_frame and not args.box_frame and not all(
            p.get("box_frame") for p in predictions):
        return _fail(f"{bench.name} needs --box-frame ({' | '.join(BOX_FRAMES)}): the frame the "
                     "model wrote its boxes in (Qwen2-VL: qwen2_vl, Qwen2.5-VL: qwen2_5_vl)")
    scored, summary = score_predictions(bench, predictions, args.protocol, **options)
    summary["run"] = dict(provenance(args), rows_used=rows or rows_used(len(predictions), len(predictions)))
    summary["skipped_lines"] = skipped or []
    if judge_stats is not None:
        summary["run"].update(judge_url=args.judge_url, judge_model=args.judge_model,
                              judge_replies=extractor.summary())
        summary["judge"] = judge_stats
    write_outputs(out, bench, scored, summary)
    _print_result(out, summary)
    for problem in skipped or []:
        print(f"gpg-vl eval: skipped {problem}", file=sys.stderr)
    return 1 if skipped else 0


def run(args: argparse.Namespace) -> int:
    """Run ``gpg-vl eval`` (generate, then score), ``eval score`` or ``eval report``."""
    if args.eval_action == "report":
        return _report(args)
    if args.dirs:
        return _fail(f"unexpected arguments {[str(d) for d in args.dirs]} (only 'report' takes folders)")
    if not args.benchmark:
        return _fail("--benchmark is required")
    try:
        bench = get_benchmark(args.benchmark)
    except ValueError as err:
        return _fail(str(err))
    out = Path(args.out)
    if args.eval_action == "score":
        if args.predictions is None:
            return _fail("'eval score' needs --predictions FILE")
        if not Path(args.predictions).is_file():
            return _fail(f"predictions file not found: {args.predictions}")
        predictions, skipped = read_prediction_lines(args.predictions)
        if not predictions:
            return _fail(f"{args.predictions}: no prediction lines"
                         + (f" ({len(skipped)} unreadable, first: {skipped[0]})" if skipped else ""))
        root = Path(args.image_root) if args.image_root else Path(args.predictions).parent
        predictions = [bench.complete(p, root) for p in predictions]
        return score_file(bench, predictions, out, args, skipped=skipped)
    if not args.model or not args.data:
        return _fail("'eval' needs --model and --data (or use 'eval score --predictions FILE')")
    from gpg_vl.eval.runner import EvalError, generate_predictions

    try:
        predictions, rows = generate_predictions(bench, args)
    except (EvalError, InputError) as err:
        return _fail(str(err))
    return score_file(bench, predictions, out, args, rows)


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="gpg-vl eval", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

"""Batched greedy generation for ``gpg-vl eval``, resumable after a crash.

Phases: load records -> check every image exists (stop naming the path before any generation)
-> skip records already in ``DIR/predictions.jsonl`` -> load the model -> generate batch by
batch, appending each finished batch to ``predictions.jsonl`` (flushed) -> return the
predictions of this run's records, in record order, for scoring.

A prediction line is the record (decoded images dropped) plus ``response``, ``truncated`` (no
end token within ``--max-new-tokens``), the ``box_frame`` of the model family and the pixel
limits and the ``resized_size`` (W, H) the processor gave the first image, and ``image_size``
(W, H) of the original when the record lacks it: grounding maps boxes back with these.
"""
from __future__ import annotations

import json
from pathlib import Path

from gpg_vl.eval.benchmarks.base import Benchmark
from gpg_vl.families import VISION_TOKENS
from gpg_vl.eval.loading import jsonable, read_jsonl, write_jsonl
from gpg_vl.eval.provenance import SettingsMismatch, check_resume, generation_settings, rows_used
from gpg_vl.eval.scoring import record_id
from gpg_vl.prompts import check_prompt_template, render_prompt

PREDICTIONS = "predictions.jsonl"


class EvalError(Exception):
    """A problem that stops ``gpg-vl eval`` before generation, with a message for the user."""


def _key(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def data_root(data: str) -> Path | None:
    """The folder relative image paths are resolved against: the data folder or file's folder."""
    path = Path(data.split(",")[0])
    if path.is_dir():
        return path
    return path.parent if path.is_file() else None


def prompt_fields(bench: Benchmark, record: dict, images: list, template: str) -> dict:
    """The sample the template is filled from: ``{problem}`` (the benchmark's question), the
    record's plain fields and its images (``{image}`` in a raw template); checked to fill in."""
    fields = {k: v for k, v in record.items() if isinstance(v, (str, int, float))}
    fields.update(problem=bench.problem(record), images=images)
    try:
        render_prompt(fields, template)
    except (KeyError, IndexError) as err:
        raise EvalError(f"--prompt-template names field {err} that record "
                        f"{record_id(bench, record, 0)!r} lacks") from None
    return fields


def _problem_gap(bench: Benchmark, record: dict) -> list[str]:
    """Fields the record lacks for scoring or for its question (then it is not generated)."""
    missing = bench.missing_fields(record)
    try:
        bench.problem(record)
    except (KeyError, TypeError, IndexError) as err:
        missing.append(str(err.args[0]) if isinstance(err, KeyError) else "question")
    return missing


def _vision_tokens(bench: Benchmark, record: dict) -> list[str]:
    """A question holding a vision special token (``<|image_pad|>`` ...) would make the
    processor expand a placeholder no image fills and crash the batch, on every resume: such a
    record is not generated, and is reported by id as a field problem."""
    try:
        text = bench.problem(record)
    except (KeyError, TypeError, IndexError):
        return []
    found = [t for t in VISION_TOKENS if t in text]
    return [f"question (holds {found[0]})"] if found else []


def prepare(bench: Benchmark, records: list[dict], root: Path | None, template: str) -> list[dict]:
    """Per record: prompt text, images, and fields it lacks. Raises EvalError naming every
    unreadable image, or a template field a record lacks, before any model is loaded."""
    from gpg_vl.data.images import ImageLoadError, probe_image

    items, bad_images = [], []
    for record in records:
        item = {"images": [], "sizes": []}
        refs = bench.image_refs(record, root)
        for ref in refs:
            try:
                item["sizes"].append(probe_image(ref))
                item["images"].append(ref)
            except ImageLoadError as err:
                bad_images.append(str(err))
        if item["sizes"] and "image_size" not in record:  # grounding maps boxes with it
            record = {**record, "image_size": list(item["sizes"][0])}
        item["record"] = record
        item["missing"] = _problem_gap(bench, record) + ([] if refs else [bench.image_field])
        item["missing"] += _vision_tokens(bench, record)
        if not item["missing"]:
            item["sample"] = prompt_fields(bench, record, item["images"], template)
        items.append(item)
    if bad_images:
        shown = "\n  ".join(bad_images[:20])
        more = f"\n  ... and {len(bad_images) - 20} more" if len(bad_images) > 20 else ""
        raise EvalError(f"{len(bad_images)} image(s) cannot be read; nothing was generated:"
                        f"\n  {shown}{more}")
    return items


def resized_sizes(batch: dict, items: list[dict], processor, family) -> list[list[int] | None]:
    """(W, H) the processor resized each item's first image to, from ``image_grid_thw``
    (patches per side): the frame Qwen2.5-VL writes its boxes in."""
    grid = batch.get("image_grid_thw")
    patch = family.patch_size
    sizes, index = [], 0
    for item in items:
        if grid is None or not item["images"]:
            sizes.append(None)
            continue
        _, h, w = (int(v) for v in grid[index])
        sizes.append([w * patch, h * patch])
        index += len(item["images"])
    return sizes


def _prediction(item: dict, response: str, truncated: bool, meta: dict,
                resized: list[int] | None = None) -> dict:
    row = jsonable(item["record"])
    row.update(response=response, truncated=bool(truncated), **meta)
    if resized:
        row["resized_size"] = resized
    if item["missing"]:
        row["eval_missing_fields"] = item["missing"]
    return row


def load_done(path: Path, bench: Benchmark) -> dict[str, dict]:
    """Predictions already made, by id; a torn last line (crash mid-write) is cut off."""
    if not path.is_file():
        return {}
    rows = read_jsonl(path)
    write_jsonl(path, rows)  # rewrite without the torn tail so appends start on a fresh line
    return {_key(row.get(bench.id_field)): row for row in rows if bench.id_field in row}


def generate_predictions(bench: Benchmark, args) -> tuple[list[dict], str]:
    """Generate what is not yet in ``args.out/predictions.jsonl``; all this run's predictions
    and the rows used ("12 of 1000"). Refuses a folder whose recorded settings differ."""
    available = bench.load(args.data, args.split)
    records = available[: args.limit]
    for i, record in enumerate(records):  # a record without its id is named by its position
        record.setdefault(bench.id_field, record_id(bench, record, i))
    keys = [_key(r[bench.id_field]) for r in records]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise EvalError(f"{bench.name}: records share the id {dup} ({bench.id_field}); "
                        "resuming needs unique ids")
    template = args.prompt_template or bench.default_template
    try:
        check_prompt_template(template, args.prompt_format)
    except ValueError as err:
        raise EvalError(f"--prompt-template: {err}") from None
    if args.prompt_format == "raw" and args.system_prompt is not None:
        raise EvalError("--system-prompt needs --prompt-format chat: a raw prompt has no system message")
    out = Path(args.out)
    try:
        check_resume(out, generation_settings(args), args.overwrite)
    except SettingsMismatch as err:
        raise EvalError(str(err)) from None
    path = out / PREDICTIONS
    done = load_done(path, bench)
    pending = [(k, r) for k, r in zip(keys, records) if k not in done]
    root = Path(args.image_root) if args.image_root else data_root(args.data)
    items = prepare(bench, [r for _, r in pending], root, template)
    if items:
        _generate(items, path, args, template)
        done = load_done(path, bench)
    return [done[k] for k in keys], rows_used(len(records), len(available))


def _generate(items: list[dict], path: Path, args, template: str) -> None:
    """Load the model and append every item's prediction, batch by batch (prompts encoded as in
    training: ``template`` in ``args.prompt_format``, then ``args.completion_prefix``)."""
    import torch
    from tqdm import tqdm

    from gpg_vl.models import ModelLoadError, load_policy
    from gpg_vl.processing import encode_prompts
    from gpg_vl.rollout import generate

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        model, processor, family = load_policy(args.model, dtype=args.dtype, device=device,
                                               min_pixels=args.min_pixels, max_pixels=args.max_pixels)
    except ModelLoadError as err:
        raise EvalError(str(err)) from None
    thinking = getattr(args, "thinking", None)
    switch = family.chat_template_kwargs(None if thinking is None else thinking == "true")
    meta = {"box_frame": args.box_frame or family.box_frame, "min_pixels": args.min_pixels,
            "max_pixels": args.max_pixels, "model": args.model}
    skipped = [it for it in items if it["missing"]]
    write_jsonl(path, [_prediction(it, "", False, meta) for it in skipped], mode="a")
    runnable = [it for it in items if not it["missing"]]
    with tqdm(total=len(runnable), unit="item", desc="generating") as bar:
        for start in range(0, len(runnable), args.batch_size):
            batch_items = runnable[start:start + args.batch_size]
            batch = encode_prompts(processor, [it["sample"] for it in batch_items], prompt_template=template,
                                   prompt_format=args.prompt_format, completion_prefix=args.completion_prefix,
                                   system_prompt=args.system_prompt, min_pixels=args.min_pixels,
                                   max_pixels=args.max_pixels, chat_template_kwargs=switch)
            rollout = generate(model, processor, batch, max_new_tokens=args.max_new_tokens,
                               do_sample=False)
            rows = [_prediction(it, text, cut, meta, resized) for it, text, cut, resized
                    in zip(batch_items, rollout.texts, rollout.truncated.tolist(),
                           resized_sizes(batch, batch_items, processor, family))]
            write_jsonl(path, rows, mode="a")
            bar.update(len(batch_items))

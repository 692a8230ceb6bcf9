"""Dataset adapters: registered functions that turn one source row into schema samples.

An adapter is ``fn(row, ctx, *, <options>) -> dict | list[dict]``: ``row`` is the source row as
plain Python (embedded images arrive as ``{"bytes", "path"}`` dicts, never decoded), ``ctx`` an
:class:`AdapterContext` that resolves image paths and reads image sizes, and keyword-only
parameters are options bound by :func:`get_adapter`. Adapters are pure (the loader re-runs them
when a sample is read) and return schema fields (see :mod:`gpg_vl.data.schema`); source columns
they do not consume pass through, so TRL-style reward functions still find e.g. ``solution``.

Source formats were checked against the public code that produces or reads them; what was
verified and what is assumed is listed per adapter in data/README.md.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import random
import re
from dataclasses import dataclass
from typing import Any, Callable

from gpg_vl.data.images import DEFAULT_MAX_PIXELS, probe_image, resolve_ref
from gpg_vl.data.schema import SchemaError, column
from gpg_vl.errors import ConfigError
from gpg_vl.families import BOX_FRAMES, box_to_pixels
from gpg_vl.verifiers.parsing import extract_answer_block, parse_boxes

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
IMAGE_COLUMNS = ("image", "image_bytes", "images", "image_path")  # never copied as extras


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter may ask of the loader: where relative image paths live, image sizes."""

    source: str = "<data>"
    base_dir: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

    def resolve(self, ref: Any) -> Any:
        return resolve_ref(ref, self.base_dir)

    def image_size(self, ref: Any) -> list[int]:
        """[W, H] of the upright image, from its header (no decoding)."""
        return list(probe_image(self.resolve(ref), max_pixels=self.max_pixels))


ADAPTERS: dict[str, Callable] = {}
# Hub ids whose format an adapter was written for: load_samples picks the adapter by itself.
KNOWN_SOURCES = {
    "laolao77/ViRFT_CLS_flower_4_shot": "virft_cls",
    "laolao77/ViRFT_CLS_fgvc_aircraft_4_shot": "virft_cls",
    "laolao77/ViRFT_CLS_car196_4shot": "virft_cls",
    "laolao77/ViRFT_CLS_pets37_4shot": "virft_cls",
    "leonardPKU/GEOQA_R1V_Train_8K": "r1v_geoqa",
    "leonardPKU/clevr_cogen_a_train": "r1v_clevr",
    "array/SAT": "sat",
}


def register_adapter(name: str):
    """Register ``fn(row, ctx, *, options...)`` under ``name``; returns it unchanged."""
    def decorate(fn: Callable) -> Callable:
        if name in ADAPTERS:
            raise ValueError(f"adapter {name!r} is already registered")
        ADAPTERS[name] = fn
        return fn
    return decorate


def get_adapter(name: str, **options) -> Callable[[dict, AdapterContext], dict | list[dict]]:
    """The adapter ``name`` with ``options`` bound; unknown names and options raise ConfigError."""
    if name not in ADAPTERS:
        raise ConfigError(f"unknown adapter {name!r}; registered: {sorted(ADAPTERS)}")
    fn = ADAPTERS[name]
    allowed = [p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"adapter {name!r} has no option(s) {unknown}; its options are {allowed}")
    return functools.partial(fn, **options) if options else fn


def adapter_for_source(path_or_hub_id: str) -> str | None:
    """The adapter registered for a known hub id (see KNOWN_SOURCES), else None."""
    return KNOWN_SOURCES.get(str(path_or_hub_id).strip("/"))


def answer_text(solution: Any) -> str:
    """The ground truth inside ``<answer>...</answer>`` (R1-V / Visual-RFT ``solution``), else
    the whole stripped string: ``"<answer> 3 </answer>"`` -> ``"3"``."""
    text = str(solution)
    block = extract_answer_block(text)
    return block if block is not None else text.strip()


def _with_rest(sample: dict, row: dict) -> dict:
    """``sample`` plus the row's other columns (image columns excluded: they are in ``images``)."""
    rest = {k: v for k, v in row.items() if k not in sample and k not in IMAGE_COLUMNS}
    return {**sample, **rest}


@register_adapter("jsonl")
def schema_rows(row: dict, ctx: AdapterContext) -> dict:
    """Rows already in the project schema (JSONL/JSON/Parquet written for gpg-vl)."""
    return dict(row)


def _problem_solution(row: dict, task: str) -> dict:
    sample = {"images": [column(row, "image")], "problem": column(row, "problem"),
              "answer": answer_text(column(row, "solution")), "task": task}
    return _with_rest(sample, row)


@register_adapter("virft_cls")
def virft_classification(row: dict, ctx: AdapterContext) -> dict:
    """Visual-RFT few-shot fine-grained classification (laolao77/ViRFT_CLS_*):
    ``image``, ``problem``, ``solution`` = ``<answer>label</answer>``."""
    return _problem_solution(row, "classification")


@register_adapter("r1v_geoqa")
def r1v_geoqa(row: dict, ctx: AdapterContext) -> dict:
    """R1-V GeoQA (leonardPKU/GEOQA_R1V_Train_8K): ``image``, ``problem``,
    ``solution`` = ``<answer>value</answer>``."""
    return _problem_solution(row, "math")


@register_adapter("r1v_clevr")
def r1v_clevr(row: dict, ctx: AdapterContext) -> dict:
    """R1-V CLEVR counting (leonardPKU/clevr_cogen_a_train): ``image``, ``problem``,
    ``solution`` = ``<answer> 3 </answer>``."""
    return _problem_solution(row, "counting")


def _grounding(image: Any, problem: str, box, frame: str, ctx: AdapterContext) -> dict:
    """A grounding sample with ``box`` (written in ``frame``) converted to original pixels."""
    if frame not in BOX_FRAMES:
        raise SchemaError(f"box_frame {frame!r} is not one of {BOX_FRAMES}")
    size = ctx.image_size(image)
    bbox = [round(v, 2) for v in box_to_pixels(box, frame, size)]
    return {"images": [image], "problem": problem.strip(), "answer": None, "task": "grounding",
            "bbox": bbox, "image_size": size}


def _first_box(text: Any, what: str):
    boxes = parse_boxes(str(text))
    if not boxes:
        raise SchemaError(f"no box [x1,y1,x2,y2] or (x1,y1),(x2,y2) found in {what} {str(text)[:120]!r}")
    return boxes[0]


_IMG_TAG = re.compile(r"<img>(.*?)</img>", re.DOTALL)
LISA_PROMPT = "Output the bounding box in the image corresponding to the instruction: {instruction}"


def _lisa_conversation(row: dict, ctx: AdapterContext, frame: str) -> dict:
    """Visual-RFT's lisa_train_sft.json: user ``<img>path</img>\\n Output the bounding box ...``,
    assistant ``(x1,y1),(x2,y2)`` in Qwen2-VL's 0-1000 frame (lisa_evaluation/gen_sft.py)."""
    turns = {t.get("from"): t.get("value", "") for t in column(row, "conversations")}
    user, assistant = turns.get("user") or turns.get("human"), turns.get("assistant") or turns.get("gpt")
    if user is None or assistant is None:
        raise SchemaError("conversations need a user and an assistant turn")
    tag = _IMG_TAG.search(user)
    if tag is None:
        raise SchemaError(f"no <img>path</img> in the user turn {user[:120]!r}")
    problem = _IMG_TAG.sub("", user)
    sample = _grounding(tag.group(1).strip(), problem, _first_box(assistant, "the assistant turn"), frame, ctx)
    return _with_rest(sample, {k: v for k, v in row.items() if k != "conversations"})


def _lisa_annotations(row: dict, ctx: AdapterContext) -> list[dict]:
    """Visual-RFT's box annotations (gen_box_ann.py output): ``image_path``, ``instruction``
    (one or several phrasings), ``boxes`` in original pixels; one sample per phrasing."""
    image, boxes = column(row, "image_path"), column(row, "boxes")
    instructions = column(row, "instruction")
    if isinstance(instructions, str):
        instructions = [instructions]
    if not boxes:
        raise SchemaError("'boxes' is empty")
    return [_with_rest(_grounding(image, LISA_PROMPT.format(instruction=text), boxes[0], "pixels", ctx),
                       {k: v for k, v in row.items() if k not in ("instruction", "boxes")})
            for text in instructions]


@register_adapter("virft_lisa")
def virft_lisa(row: dict, ctx: AdapterContext, *, box_frame: str = "qwen2_vl") -> dict | list[dict]:
    """LISA reasoning grounding as Visual-RFT trains it. Three row forms:
    ``conversations`` (lisa_train_sft.json), ``image_path``/``instruction``/``boxes`` (pixel
    annotations), or ``image``/``problem``/``solution`` with the box in ``solution``.
    ``box_frame`` is the frame of boxes in the first and last forms (Visual-RFT: qwen2_vl)."""
    if "conversations" in row:
        return _lisa_conversation(row, ctx, box_frame)
    if "boxes" in row and "instruction" in row:
        return _lisa_annotations(row, ctx)
    image, problem = column(row, "image"), column(row, "problem")
    box = _first_box(column(row, "solution"), "solution")
    return _with_rest(_grounding(image, problem, box, box_frame, ctx), row)


def _stable_shuffle(items: list[str], key: str) -> list[str]:
    """A permutation fixed by ``key`` (same in every process and run, unlike ``hash``)."""
    seed = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:16], 16)
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def _choice_sample(question: str, choices: list[str], correct: str, shuffle: bool) -> dict:
    """Lettered options in the problem, the letter as answer, the option text as its alias."""
    if shuffle:
        choices = _stable_shuffle(choices, question + "\x1f" + "\x1f".join(choices))
    if correct not in choices:
        raise SchemaError(f"correct answer {correct!r} is not one of the options {choices}")
    if len(choices) > len(LETTERS):
        raise SchemaError(f"{len(choices)} options; at most {len(LETTERS)} can be lettered")
    letter = LETTERS[choices.index(correct)]
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return {"problem": f"{question.strip()}\n{options}", "answer": letter, "choices": choices,
            "aliases": {letter: [correct]}, "task": "choice"}


_SAT_OPTIONS = re.compile(r"\s*Choose between the following options:\s*(.+)$", re.DOTALL)


def _sat_messages(row: dict, max_images: int | None) -> dict:
    """VisualThinker-R1-Zero's SAT_train_*.json (src/data/SAT/process_dataset.py): ``messages``
    [user "<image> Answer in natural language. {q} Choose between the following options: a, b
    or c", assistant answer text] and ``images`` paths."""
    turns = {m.get("role"): m.get("content", "") for m in column(row, "messages")}
    user, answer = str(turns.get("user", "")), str(turns.get("assistant", "")).strip()
    problem = user.replace("<image>", "").strip()
    sample = {"images": list(column(row, "images"))[:max_images], "problem": problem, "answer": answer,
              "task": "choice"}
    m = _SAT_OPTIONS.search(problem)
    if m:
        head, _, last = m.group(1).strip().rpartition(" or ")
        choices = [c.strip() for c in head.split(", ")] + [last.strip()] if head else [last.strip()]
        if answer in choices:  # options with commas inside cannot be split back: keep the text
            letter = LETTERS[choices.index(answer)]
            sample.update(answer=letter, choices=choices, aliases={letter: [answer]})
    return _with_rest(sample, {k: v for k, v in row.items() if k != "messages"})


@register_adapter("sat")
def sat(row: dict, ctx: AdapterContext, *, shuffle_choices: bool = True, max_images: int | None = None) -> dict:
    """SAT spatial multiple choice (array/SAT; VisualThinker-R1-Zero trains on it):
    ``image_bytes`` (1-2 images), ``question``, ``answers`` (option texts), ``correct_answer``
    (the correct option's text), ``question_type``. Options are lettered A, B, ... in an order
    fixed per question (``shuffle_choices``; VisualThinker shuffles too), so the correct letter
    is not tied to a position. VisualThinker's ``messages``/``images`` JSON is read as well.
    ``max_images``: keep only the first N images of a row (VisualThinker's grpo.py opens
    ``images[0]`` only, two-image questions included); None keeps all."""
    if max_images is not None and max_images < 1:
        raise ConfigError(f"sat adapter: max_images={max_images}; expected None or >= 1")
    if "messages" in row:
        return _sat_messages(row, max_images)
    images = column(row, "image_bytes")
    images = (list(images) if isinstance(images, (list, tuple)) else [images])[:max_images]
    choices = [str(c) for c in column(row, "answers")]
    sample = _choice_sample(str(column(row, "question")), choices,
                            str(column(row, "correct_answer")), shuffle_choices)
    return _with_rest({"images": images, **sample}, row)

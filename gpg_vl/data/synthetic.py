"""Synthetic visual tasks for the embedded demo: colour classification, counting, grounding.

Each task is designed so a tiny randomly initialised vision tower can see what it asks
(issue 2, item 10, measured facts): at 112 px the processor makes 8 x 8 patches, merged into
4 x 4 language-model tokens of 28 px each (patch-16 families: scaled to 128 px, 4 x 4 tokens of
32 px), and every task aligns its content with that grid.
- classification: one large shape of one of four colours; the answer is the colour word.
- counting: 1-4 large squares in the four fixed 56 px quadrants (small objects at free positions
  stayed at chance in the prototype: a random vision tower could not see them).
- grounding: one 56 px square filling one of the four quadrants, over a background whose red
  channel ramps with x and green channel with y, so each token's content says where it is
  (Qwen's vision tower has no absolute position embedding). Free 0-1000 boxes stayed at chance
  in the prototype. With nine overlapping positions, measured here, the policy collapsed onto
  one large "hedge" box ([0,0,750,750]) whose expected IoU beat chance without looking; with
  four disjoint quadrants no constant box beats a guess (expected IoU 0.25 either way), so the
  only way up is to see where the square is.
Rows follow the project's sample schema (id, images, problem, answer, task, labels / bbox,
image_size), so the same loader, verifiers and evaluation serve real datasets.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from gpg_vl.families import box_from_pixels

COLOURS = {"red": (220, 45, 45), "green": (45, 185, 65), "blue": (55, 85, 235), "yellow": (235, 215, 45)}
GRID = 4  # merged language-model tokens per image side
SIZE = 112  # image side in pixels: 4 x 4 merged tokens of 28 px (patch 14); a patch-16 family's
#             processor scales it to 128 px, 4 x 4 tokens of 32 px, the same grid (demo.pixel_overrides)
TASKS = ("classification", "counting", "grounding")
ANSWER_INSTRUCTION = " Output only the answer in <answer> </answer> tags."
PROBLEMS = {
    "classification": "What colour is the shape? Choose from red, green, blue, yellow.",
    "counting": "How many squares are in the image?",
    "grounding": "Where is the blue square? Give its box [x1,y1,x2,y2] in 0-1000 coordinates.",
}


def _draw_classification(rng: random.Random):
    from PIL import Image, ImageDraw

    colour = rng.choice(sorted(COLOURS))
    img = Image.new("RGB", (SIZE, SIZE), (25, 25, 25))
    draw = ImageDraw.Draw(img)
    side = rng.randint(56, 84)
    x0, y0 = rng.randint(4, SIZE - side - 4), rng.randint(4, SIZE - side - 4)
    box = [x0, y0, x0 + side, y0 + side]
    fill = tuple(min(255, max(0, c + rng.randint(-15, 15))) for c in COLOURS[colour])
    shape = rng.choice(["square", "circle", "triangle"])
    if shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([(x0, y0 + side), (x0 + side, y0 + side), (x0 + side // 2, y0)], fill=fill)
    return img, {"answer": colour, "labels": sorted(COLOURS)}


def _draw_counting(rng: random.Random):
    from PIL import Image, ImageDraw

    count = rng.randint(1, 4)
    img = Image.new("RGB", (SIZE, SIZE), (25, 25, 25))
    draw = ImageDraw.Draw(img)
    for q in rng.sample(range(4), count):
        cx, cy = (q % 2) * 56 + 28, (q // 2) * 56 + 28
        half = rng.randint(17, 22)
        shade = rng.randint(200, 250)
        draw.rectangle([cx - half, cy - half, cx + half, cy + half], fill=(shade, shade, shade))
    return img, {"answer": str(count)}


def _draw_grounding(rng: random.Random):
    from PIL import Image

    img = Image.new("RGB", (SIZE, SIZE))
    box = quadrant_box(rng.randrange(4))
    px = img.load()
    for y in range(SIZE):
        for x in range(SIZE):
            inside = box[0] <= x < box[2] and box[1] <= y < box[3]
            px[x, y] = (40 + 160 * x // SIZE, 40 + 160 * y // SIZE, 235 if inside else 30)
    answer = "[" + ",".join(str(round(v)) for v in box_from_pixels(box, "qwen2_vl", (SIZE, SIZE))) + "]"
    return img, {"answer": answer, "bbox": box, "image_size": [SIZE, SIZE]}


def quadrant_box(q: int) -> list[int]:
    """Pixel box of quadrant q (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right)."""
    half = SIZE // 2
    x1, y1 = (q % 2) * half, (q // 2) * half
    return [x1, y1, x1 + half, y1 + half]


DRAW = {"classification": _draw_classification, "counting": _draw_counting, "grounding": _draw_grounding}


def make_split(out_dir: Path, split: str, n_per_task: int, rng: random.Random) -> Path:
    """Write ``n_per_task`` rows of each task (interleaved) and their PNGs; returns the JSONL."""
    img_dir = out_dir / "images" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(n_per_task):
        for task in TASKS:
            img, fields = DRAW[task](rng)
            rel = f"images/{split}/{task}_{k:05d}.png"
            img.save(out_dir / rel)
            rows.append({"id": f"{split}-{task}-{k}", "images": [rel], "problem": PROBLEMS[task],
                         "task": task, **fields})
    path = out_dir / f"{split}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_synthetic(out_dir: str | Path, seed: int = 0, n_train: int = 400, n_test: int = 50) -> dict:
    """Deterministic train/test JSONL + PNG images; ``n_*`` rows per task. Returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = {"train": make_split(out, "train", n_train, rng), "test": make_split(out, "test", n_test, rng)}
    (out / "README.md").write_text(
        f"Synthetic gpg-vl demo data (seed {seed}): {n_train} train / {n_test} test rows per task, "
        f"tasks {', '.join(TASKS)}. Made by `gpg-vl make-data synthetic`.\n")
    return {k: str(v) for k, v in paths.items()}


RANDOM_ANSWER_TASKS = ("classification", "counting", "grounding")  # the tasks answer_choices can answer


def answer_choices(row: dict, frame: str = "qwen2_vl") -> list[str]:
    """Every well-formed answer of ``row``'s task, each once (the demo's format warm-up)."""
    task = row["task"]
    if task == "classification":
        return sorted(COLOURS)
    if task == "counting":
        return [str(n) for n in range(1, 5)]
    if task == "grounding":
        size = row.get("image_size") or [SIZE, SIZE]
        return ["[" + ",".join(str(round(v)) for v in box_from_pixels(quadrant_box(q), frame, size)) + "]"
                for q in range(4)]
    raise ValueError(f"answer_choices: no synthetic task {task!r} (row {row.get('id')})")


def random_answer(row: dict, rng: random.Random, frame: str = "qwen2_vl") -> str:
    """A uniformly random well-formed answer for ``row``'s task."""
    return rng.choice(answer_choices(row, frame))


def tokenizer_corpus() -> list[str]:
    """Texts the demo model will read and write, for training its local tokenizer."""
    lines = [p + ANSWER_INSTRUCTION for p in PROBLEMS.values()] * 20
    lines += [f"<answer>{c}</answer>" for c in COLOURS] * 30
    lines += [f"<answer>{n}</answer>" for n in range(0, 11)] * 30
    coords = [str(v) for v in (0, 250, 500, 750, 1000)] + [str(v) for v in range(0, 113, 28)]
    lines += [f"<answer>[{a},{b},{c},{d}]</answer>" for a in coords for b in coords[:3]
              for c in coords[2:4] for d in coords[3:5]]
    return lines

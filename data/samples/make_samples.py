"""Regenerate the tiny sample data sets in this folder (one per adapter's source format).

Each file mimics its public source's columns and encodings, with 32-64 px drawn images, so the
tests load them through the real path (``load_samples`` -> ``datasets.load_dataset``):

- virft_cls.parquet, r1v_geoqa.parquet, r1v_clevr.parquet, sat.parquet: images embedded in
  parquet (datasets Image feature: {"bytes", "path"} structs), as on the hub;
- virft_lisa.json: Visual-RFT's lisa_train_sft.json form (a JSON array of ``conversations``,
  boxes in 0-1000), image paths relative to this folder;
- sat_visualthinker.json: VisualThinker-R1-Zero's SAT_train_*.json form (``messages``, ``images``);
- schema.jsonl: rows already in the project schema; custom_columns.jsonl: a custom layout for
  the ``column_map`` example.

Run from anywhere: ``python data/samples/make_samples.py``.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
BG = (235, 235, 235)


def _png(img: Image.Image) -> dict:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return {"bytes": buf.getvalue(), "path": None}


def flower(petal: tuple, centre: tuple) -> Image.Image:
    img = Image.new("RGB", (32, 32), (40, 120, 40))
    draw = ImageDraw.Draw(img)
    for dx, dy in ((-7, 0), (7, 0), (0, -7), (0, 7)):
        draw.ellipse([16 + dx - 6, 16 + dy - 6, 16 + dx + 6, 16 + dy + 6], fill=petal)
    draw.ellipse([12, 12, 20, 20], fill=centre)
    return img


def squares(n: int, size=(48, 32)) -> Image.Image:
    img = Image.new("RGB", size, BG)
    draw = ImageDraw.Draw(img)
    colours = [(200, 40, 40), (40, 160, 60), (40, 70, 210), (210, 180, 30)]
    for i in range(n):
        x = 3 + i * 11
        draw.rectangle([x, 11, x + 8, 19], fill=colours[i % 4])
    return img


def triangle() -> Image.Image:
    img = Image.new("RGB", (48, 48), (255, 255, 255))
    ImageDraw.Draw(img).polygon([(4, 44), (44, 44), (18, 6)], outline=(0, 0, 0))
    return img


def target(box, size=(48, 32)) -> Image.Image:
    """A red square at ``box`` (pixels) on a grey background, for grounding."""
    img = Image.new("RGB", size, BG)
    ImageDraw.Draw(img).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=(210, 30, 30))
    return img


def write_parquet(name: str, columns: dict, image_columns: dict) -> None:
    from datasets import Dataset, Features, Image as ImageFeature, List, Value

    features = {}
    for col, values in columns.items():
        if col in image_columns:
            features[col] = List(ImageFeature()) if image_columns[col] == "list" else ImageFeature()
        elif isinstance(values[0], list):
            features[col] = List(Value("string"))
        else:
            features[col] = Value("string")
    Dataset.from_dict(columns, features=Features(features)).to_parquet(str(HERE / name))


def virft_cls() -> None:
    prompt = ("This is an image containing a flower. Please identify the species of the flower "
              "based on the image. Output the thinking process in <think> </think> and final "
              "answer in <answer> </answer> tags.")
    flowers = [("sunflower", (240, 200, 20), (90, 50, 10)), ("rose", (200, 20, 40), (150, 10, 30)),
               ("daisy", (250, 250, 250), (240, 200, 20))]
    write_parquet("virft_cls.parquet", {
        "image": [_png(flower(p, c)) for _, p, c in flowers],
        "problem": [prompt] * len(flowers),
        "solution": [f"<answer>{name}</answer>" for name, _, _ in flowers],
    }, {"image": "single"})


def r1v() -> None:
    write_parquet("r1v_clevr.parquet", {
        "image": [_png(squares(n)) for n in (3, 1, 4)],
        "problem": ["How many items are there in the image?"] * 3,
        "solution": [f"<answer> {n} </answer>" for n in (3, 1, 4)],
    }, {"image": "single"})
    write_parquet("r1v_geoqa.parquet", {
        "image": [_png(triangle()), _png(triangle())],
        "problem": ["As shown in the figure, in triangle ABC, angle A = 50.0 and angle B = 60.0. "
                    "What is the degree of angle C?",
                    "As shown in the figure, AB = 3.0 and BC = 4.0 and angle B = 90.0. What is the length of AC?"],
        "solution": ["<answer>70</answer>", "<answer>5</answer>"],
    }, {"image": "single"})


def sat() -> None:
    write_parquet("sat.parquet", {
        "image_bytes": [[_png(target((4, 8, 20, 24)))], [_png(squares(2))],
                        [_png(squares(1)), _png(squares(2))]],
        "question": ["Is the red square on the left or the right of the image?",
                     "How many squares are in the image?",
                     "Between the first and the second frame, were objects added or removed?"],
        "answers": [["left", "right"], ["1", "2", "3"], ["added", "removed"]],
        "question_type": ["spatial_relation", "count", "action_consequence"],
        "correct_answer": ["left", "2", "added"],
    }, {"image_bytes": "list"})
    rows = [{"messages": [
        {"role": "user", "content": "<image> Answer in natural language. Is the red square on the "
                                    "left or the right? Choose between the following options: right or left"},
        {"role": "assistant", "content": "left"}], "images": ["images/lisa_1.png"]}]
    (HERE / "sat_visualthinker.json").write_text(json.dumps(rows, indent=2) + "\n")


LISA_BOXES = {"lisa_0.png": (12, 8, 36, 24), "lisa_1.png": (4, 8, 20, 24)}


def virft_lisa() -> None:
    """Boxes written like Visual-RFT's gen_sft.py: int(pixel / size * 1000)."""
    rows = []
    for i, (name, box) in enumerate(LISA_BOXES.items()):
        w, h = 48, 32
        q = [int(box[0] / w * 1000), int(box[1] / h * 1000), int(box[2] / w * 1000), int(box[3] / h * 1000)]
        rows.append({"id": f"lisa_{i}", "conversations": [
            {"from": "user", "value": f"<img>images/{name}</img>\n Output the bounding box in the image "
                                      "corresponding to the instruction: the thing that looks like a stop sign"},
            {"from": "assistant", "value": f"({q[0]},{q[1]}),({q[2]},{q[3]})"}]})
    (HERE / "virft_lisa.json").write_text(json.dumps(rows, indent=2) + "\n")


def schema_files() -> None:
    rows = [
        {"id": "cls-0", "images": ["images/flower_sunflower.png"], "problem": "Which flower is this?",
         "answer": "sunflower", "task": "classification", "labels": ["daisy", "rose", "sunflower"]},
        {"id": "cnt-0", "images": ["images/count_2.png"], "problem": "How many squares are in the image?",
         "answer": "2", "task": "counting"},
        {"id": "grd-0", "images": ["images/lisa_0.png"], "problem": "Where is the red square?",
         "answer": None, "task": "grounding", "bbox": [12, 8, 36, 24], "image_size": [48, 32]},
        {"id": "mc-0", "images": ["images/flower_sunflower.png"],
         "problem": "Which flower is this?\nA. rose\nB. sunflower", "answer": "B", "task": "choice",
         "choices": ["rose", "sunflower"], "aliases": {"B": ["sunflower"]}},
        {"id": "math-0", "images": ["images/triangle.png"],
         "problem": "In triangle ABC, angle A = 50 and angle B = 60. What is angle C?", "answer": "70",
         "task": "math"},
    ]
    (HERE / "schema.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    custom = [{"picture": "images/count_3.png", "question": "How many squares are there?", "count": 3},
              {"picture": "images/count_2.png", "question": "How many squares are there?", "count": 2}]
    (HERE / "custom_columns.jsonl").write_text("".join(json.dumps(r) + "\n" for r in custom))


def image_files() -> None:
    IMAGES.mkdir(exist_ok=True)
    for name, box in LISA_BOXES.items():
        target(box).save(IMAGES / name, optimize=True)
    flower((240, 200, 20), (90, 50, 10)).save(IMAGES / "flower_sunflower.png", optimize=True)
    for n in (2, 3):
        squares(n).save(IMAGES / f"count_{n}.png", optimize=True)
    triangle().save(IMAGES / "triangle.png", optimize=True)


if __name__ == "__main__":
    image_files()
    virft_cls()
    r1v()
    sat()
    virft_lisa()
    schema_files()
    print("wrote", sorted(p.name for p in HERE.iterdir() if p.is_file()))

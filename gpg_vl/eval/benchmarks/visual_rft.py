"""Visual-RFT's classification release: ``val_data/<name>.pth`` + ``<name>.txt``.

The ``.pth`` is a list of ``{image_path: {"label": tensor, ...}}`` (read with
``torch.load(weights_only=True)``: tensors and containers only, no code runs); the ``.txt`` is
the class names, one per line, index = label. The image paths are absolute paths of the
authors' cluster, so ``--image-root`` names the folder holding the images: each path is tried
as given, then as its last two components, then its file name under the root. The prompt is
Visual-RFT's (classification/Qwen2_VL_classification_infere.py), with the object each dataset
shows.
"""
from __future__ import annotations

from pathlib import Path

from gpg_vl.errors import InputError

OBJECTS = {"aircraft": ("an aircraft", "model of the aircraft"), "flower": ("a flower", "species of the flower"),
           "pet": ("a pet", "species of the pet"), "car": ("a car", "model of the car")}
PROMPT = ("This is an image containing {thing}. Please identify the {what} based on the image.\n"
          "Output the thinking process in <think> </think> and final answer in <answer> </answer> "
          "tags.The output answer format should be as follows:\n<think> ... </think> "
          "<answer>species name</answer>\nPlease strictly follow the format.")


def _prompt(stem: str) -> str:
    for key, (thing, what) in OBJECTS.items():
        if key in stem.lower():
            return PROMPT.format(thing=thing, what=what)
    return PROMPT.format(thing="an object", what="category of the object")


def load_pth(path: Path) -> list[dict]:
    """Rows ``{image_path, solution, problem}`` of a Visual-RFT ``.pth`` and its ``.txt``."""
    import torch

    labels_file = path.with_suffix(".txt")
    if not labels_file.is_file():
        raise InputError(f"{path}: its class names {labels_file.name} are missing beside it")
    labels = [line.strip() for line in labels_file.read_text(encoding="utf-8").splitlines()
              if line.strip()]
    try:
        items = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported by name
        raise InputError(f"{path}: not a readable Visual-RFT .pth ({type(err).__name__}: {err})") from None
    if not isinstance(items, list):
        raise InputError(f"{path}: expected a list of {{image_path: {{label}}}}, got {type(items).__name__}")
    rows = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or len(item) != 1:
            raise InputError(f"{path}: item {i} is not {{image_path: {{label}}}}")
        (image, info), = item.items()
        label = int(info["label"]) if isinstance(info, dict) and "label" in info else None
        if label is None or not 0 <= label < len(labels):
            raise InputError(f"{path}: item {i} ({image}) has label {label!r}; "
                             f"{labels_file.name} names {len(labels)} classes")
        rows.append({"image_path": str(image), "solution": labels[label], "problem": _prompt(path.stem)})
    return rows


def resolve_release_path(image: str, root: Path | None) -> str:
    """An image path of the release, found under ``root`` when the absolute one is not here."""
    path = Path(image)
    if path.exists() or root is None:
        return image
    for candidate in (root / Path(*path.parts[-2:]), root / path.name):
        if candidate.exists():
            return str(candidate)
    return str(root / path.name)

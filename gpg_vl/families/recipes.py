"""Which recipe (configs/<task>_<key>.yaml) a checkpoint takes, for the launch scripts.

The family comes from the checkpoint's config.json (``model_type``) when the model is a local
folder, so a fine-tuned or renamed checkpoint still gets its family's recipe; a hub id (nothing
local to read) is recognised by its release name. The size comes from the name
(``Qwen3-VL-4B-Instruct`` -> 4; a renamed folder: any ``-4b-`` in it). ``python -m gpg_vl.families.recipes MODEL`` prints the key, or
one error line and exit status 1; ``--is-base MODEL`` prints yes or no.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from gpg_vl.families import FAMILIES, get_family


def recipe_key(model: str) -> str:
    """``qwen3vl_4b`` for Qwen/Qwen3-VL-4B-Instruct (or a folder of it); ValueError if unknown."""
    name = Path(model.rstrip("/")).name.lower()
    named = sorted(((fam, m) for fam in FAMILIES.values() if (m := re.search(fam.name_pattern, name))),
                   key=lambda fm: -len(fm[1].group(0)))  # the most specific: Qwen3-VL-30B-A3B is the MoE
    config = Path(model) / "config.json"
    if config.is_file():
        family = get_family(json.loads(config.read_text()).get("model_type", "?"))
    elif named:
        family = named[0][0]
    else:
        raise ValueError(f"cannot tell the model family of '{model}' (no config.json there, not a release "
                         f"name); pass --config configs/<task>_<model>.yaml")
    size = next((m.group(1) for _, m in named), None)
    if size is None:  # a renamed checkpoint: any "-2b-" / "_4b" in its name
        size = next(iter(re.findall(r"(?:^|[-_.])(\d+)b(?=$|[-_.])", name)), None)
    if size is None:
        raise ValueError(f"'{model}' is a {family.name} checkpoint (config.json) of unknown size; pass "
                         f"--config configs/<task>_{family.recipe_prefix}_<size>b.yaml")
    thinking = "_thinking" if "thinking" in name else ""  # Thinking checkpoints: their own recipes
    return f"{family.recipe_prefix}_{size}b{thinking}"


def is_base_model(model: str) -> bool:
    """Whether ``model``'s name is a base (pre-trained only) release of its family."""
    name = Path(model.rstrip("/")).name.lower()
    key = recipe_key(model)
    family = next(f for f in FAMILIES.values() if key.startswith(f.recipe_prefix + "_"))
    return re.search(family.base_pattern, name) is not None


def main(argv: list[str]) -> int:
    """``MODEL`` -> its recipe key; ``--is-base MODEL`` -> yes / no."""
    try:
        print(("yes" if is_base_model(argv[1]) else "no") if argv[0] == "--is-base" else recipe_key(argv[0]))
    except ValueError as err:
        print(err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

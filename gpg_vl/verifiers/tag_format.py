"""``format``: does the completion have exactly the tag layout the prompt asked for?

Returns 1.0 or 0.0. The layouts (option ``mode``):
- ``think`` (default): ``<think>...</think>`` then ``<answer>...</answer>``;
- ``think_prefilled``: for base models whose prompt already opened ``<think>``: the completion is
  ``...</think>`` then ``<answer>...</answer>``;
- ``answer_only``: a single ``<answer>...</answer>``.

Why so strict (issue 3): R1-V-style regexes pass repeated ``<answer>`` tags, and when trailing
text after ``</answer>`` still earned format reward it shared the positive advantage, the policy
stopped emitting its end token and training collapsed. So each tag appears exactly once (tags are
matched case-insensitively, so ``<ANSWER>`` cannot smuggle in a second block), only whitespace
may stand before the first tag, between ``</think>`` and ``<answer>`` and after ``</answer>``,
and the answer must not be empty. The reasoning may be empty.
"""
from __future__ import annotations

import re

from gpg_vl.verifiers.registry import register_scorer

FORMAT_MODES = ("think", "answer_only", "think_prefilled")
_TAG = re.compile(r"<(/?)(think|answer)>", re.IGNORECASE)
_LAYOUTS = {  # the exact tag sequence each mode expects
    "think": ("<think>", "</think>", "<answer>", "</answer>"),
    "think_prefilled": ("</think>", "<answer>", "</answer>"),
    "answer_only": ("<answer>", "</answer>"),
}


def _tags(text: str, limit: int) -> list[re.Match] | None:
    """The tag matches in order, or None when there are more than ``limit``."""
    tags = []
    for m in _TAG.finditer(text):
        tags.append(m)
        if len(tags) > limit:
            return None
    return tags


@register_scorer("format", checks={"mode": FORMAT_MODES})
def score_format(completion: str, *, mode: str = "think") -> float:
    """1.0 when ``completion`` has exactly the ``mode`` layout (module docstring), else 0.0."""
    layout = _LAYOUTS[mode]
    tags = _tags(completion, len(layout))
    if tags is None or tuple(m.group(0).lower() for m in tags) != layout:
        return 0.0
    # gaps[k] is the text before tag k, gaps[-1] the text after the last one. Text before a
    # closing tag is content (reasoning or answer); before an opening tag, and after the end,
    # only whitespace may stand.
    edges = [0] + [p for m in tags for p in (m.start(), m.end())] + [len(completion)]
    gaps = [completion[edges[i]:edges[i + 1]] for i in range(0, len(edges), 2)]
    answer = gaps[layout.index("</answer>")]
    if not answer.strip():
        return 0.0
    outside = [gap for tag, gap in zip(layout, gaps) if not tag.startswith("</")] + [gaps[-1]]
    return 0.0 if any(gap.strip() for gap in outside) else 1.0

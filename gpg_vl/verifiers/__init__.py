"""Rule-based reward verifiers (issue 3): one module per verifier over one parsing layer.

Every verifier is a TRL reward function ``f(prompts, completions, **columns) -> list[float |
None]`` with rewards in [0, 1], registered by name:

- ``format`` (tag_format.py): the ``<think>``/``<answer>`` layout, nothing after the answer;
- ``choice`` (choice.py): multiple-choice letters or choice texts;
- ``math`` (math_answer.py): numeric/symbolic answers compared as values by the bounded evaluator expr.py;
- ``counting`` (counting.py): one integer, digits or words;
- ``classification`` (classification.py): a label, optionally against a label list and aliases;
- ``grounding_iou`` (grounding.py): box IoU across the Qwen2-VL / Qwen2.5-VL / pixel frames.

Use :func:`get_verifier` (``name`` or ``path/to/file.py:function``, plus options); it never
raises on model output: failures score 0 and are counted in :func:`warning_counts`.
"""
from gpg_vl.verifiers.registry import (VERIFIERS, get_verifier, register_scorer, register_verifier,
                                       reset_warning_counts, warning_counts)
from gpg_vl.verifiers import choice, classification, counting, grounding, math_answer, tag_format  # noqa: F401,E402  (register)

__all__ = ["VERIFIERS", "get_verifier", "register_scorer", "register_verifier",
           "reset_warning_counts", "warning_counts"]

"""Bounded by construction: 10,000 hostile completions per verifier, scored in a worker thread
(where no alarm signal can interrupt anything): no exception, no reward outside [0, 1], no call
over one second. The strings come from a seeded generator of hostile families (hostile.py)."""
from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gpg_vl.verifiers import get_verifier, reset_warning_counts, warning_counts

sys.path.insert(0, str(Path(__file__).parent))
from hostile import hostile_strings  # noqa: E402

SAMPLES = {
    "format": {}, "choice": {"answer": "B", "choices": ["135°", "140°", "145°", "150°"]},
    "math": {"answer": "2√{3}"}, "counting": {"answer": 4},
    "classification": {"answer": "golden retriever", "labels": ["golden retriever", "cat"],
                       "aliases": {"cat": ["kitty"]}},
    "grounding_iou": {"bbox": [100, 50, 300, 250], "image_size": [640, 480]},
}
OPTIONS = {"grounding_iou": {"frame": "qwen2_5_vl", "boxes": "best"}, "classification": {"match": "contains"}}
N = 10_000
ISSUE_CASES = [  # the review's slow cases, first
    "<answer>\\exp{\\exp{\\exp{99}}}</answer>", "<answer>\\sin(9999^{9999})</answer>",
    "<answer>(1,1)" + " " * 60_000 + "x</answer>", "(1,1)" + " " * 60_000 + "x",
]


def score_all(name: str, texts: list[str]) -> tuple[list[float], list[float]]:
    verifier = get_verifier(name, **OPTIONS.get(name, {}))
    if verifier.warm_up is not None:
        verifier.warm_up()
    columns = {k: [v] for k, v in SAMPLES[name].items()}
    rewards, seconds = [], []
    for text in texts:
        start = time.perf_counter()
        rewards.append(verifier(None, [text], **columns)[0])
        seconds.append(time.perf_counter() - start)
    return rewards, seconds


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_ten_thousand_hostile_strings_in_a_worker_thread(name):
    texts = ISSUE_CASES + hostile_strings(N, seed=sorted(SAMPLES).index(name))
    reset_warning_counts()
    with ThreadPoolExecutor(max_workers=1) as pool:
        rewards, seconds = pool.submit(score_all, name, texts).result()
    assert warning_counts() == {}  # no scorer raised (an exception is counted as a warning)
    assert all(r is not None and 0.0 <= r <= 1.0 for r in rewards)
    slow = [(round(s, 2), t[:60]) for s, t in zip(seconds, texts) if s >= 1.0]
    assert slow == []


def test_the_reviews_cases_score_zero_quickly_in_a_thread():
    with ThreadPoolExecutor(max_workers=1) as pool:
        rewards, seconds = pool.submit(score_all, "math", ISSUE_CASES[:2]).result()
        box_rewards, box_seconds = pool.submit(score_all, "grounding_iou", ISSUE_CASES[2:]).result()
    assert rewards == [0.0, 0.0] and box_rewards == [0.0, 0.0]
    assert max(seconds + box_seconds) < 1.0

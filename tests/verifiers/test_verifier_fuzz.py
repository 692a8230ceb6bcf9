"""Hostile input: every verifier returns a reward in [0, 1] within one second, and never raises.

Checked through ``get_verifier`` with valid sample columns, so a scorer exception would show as a
counted warning: the tests require zero warnings, i.e. the scorers themselves never raised.
"""
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpg_vl.verifiers import get_verifier, reset_warning_counts, warning_counts

SAMPLES = {  # one valid sample per verifier
    "format": {},
    "choice": {"answer": "B", "choices": ["135°", "140°", "145°", "150°"]},
    "math": {"answer": "2√{3}"},
    "counting": {"answer": 4},
    "classification": {"answer": "golden retriever", "labels": ["golden retriever", "cat"],
                       "aliases": {"cat": ["kitty"]}},
    "grounding_iou": {"bbox": [100, 50, 300, 250], "image_size": [640, 480]},
}
OPTIONS = {"grounding_iou": {"frame": "qwen2_5_vl", "boxes": "best"}}

FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "<ANSWER>", "\\boxed{", "\\frac{",
             "}", "{", "[", "]", "(", ")", ",", " ", "\n", "√", "π", "°", "cm", "米", "^", "**",
             "!", "9", "1.5", "-", "/", "B.", "(C)", "four", "The answer is ", "\\sqrt{", "\\pi",
             "\x00", "\ud800", "\\int", "e", "x=", "%", "$"]
hostile_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=60).map("".join)


def score(name, text):
    """(reward, seconds) for one completion; library start-up (math-verify's import) excluded."""
    sample = SAMPLES[name]
    verifier = get_verifier(name, **OPTIONS.get(name, {}))
    if verifier.warm_up is not None:
        verifier.warm_up()
    start = time.perf_counter()
    reward = verifier(None, [text], **{k: [v] for k, v in sample.items()})[0]
    return reward, time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_fuzz_never_raises_and_stays_in_range(name):
    reset_warning_counts()

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(body=hostile_text, wrapped=st.booleans())
    def check(body, wrapped):
        text = f"<think>x</think><answer>{body}</answer>" if wrapped else body
        reward, seconds = score(name, text)
        assert reward is not None and 0.0 <= reward <= 1.0
        assert seconds < 1.0

    check()
    assert warning_counts() == {}


BIG = 100_000
ISSUE_HOSTILE = {
    "power tower": "9**9**9**9",
    "latex power tower": "9^{9^{9^{9}}}",
    "million-digit number": "1" * 1_000_000,
    "nested braces": "{" * (BIG // 2) + "}" * (BIG // 2),
    "nested fractions": "\\frac{1}{" * (BIG // 10) + "2" + "}" * (BIG // 10),
    "unclosed tags": "<answer><think>" * (BIG // 15),
    "NUL bytes": "\x00" * BIG,
    "surrogates": "\ud800\udfff\udc00" * (BIG // 3),
    "boxes": "[1, 2, 3, 4] " * (BIG // 13),
    "letters": "A B C D " * (BIG // 8),
    "numbers": "4 four 5.0 " * (BIG // 11),
    "roots": "√" * BIG,
}


@pytest.mark.parametrize("case", sorted(ISSUE_HOSTILE))
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_issue_hostile_strings_within_one_second(name, case):
    reset_warning_counts()
    body = ISSUE_HOSTILE[case]
    wrapped = f"<think>x</think><answer>{body}</answer>"
    for text in (body, wrapped):
        reward, seconds = score(name, text)
        well_formed = name == "format" and text is wrapped and "<" not in body
        assert reward == (1.0 if well_formed else 0.0), (name, case)
        assert seconds < 1.0, (name, case, seconds)
    assert warning_counts() == {}


def test_issue_hostile_strings_within_one_second_in_a_worker_thread():
    """No signal can interrupt a worker thread: the input bounds alone must keep the time."""
    from concurrent.futures import ThreadPoolExecutor

    reset_warning_counts()
    jobs = [(name, text) for name in sorted(SAMPLES) for text in ISSUE_HOSTILE.values()]
    with ThreadPoolExecutor(max_workers=1) as pool:
        results = list(pool.map(lambda job: score(*job), jobs))
    slow = [(name, seconds) for (name, _), (_, seconds) in zip(jobs, results) if seconds >= 1.0]
    assert slow == []
    assert warning_counts() == {}

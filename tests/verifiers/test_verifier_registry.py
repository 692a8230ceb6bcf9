"""Registry, option binding and the never-raise wrapper (issue 3: failures score 0, counted)."""
import threading
import time

import pytest

from gpg_vl.verifiers import (VERIFIERS, get_verifier, register_scorer, register_verifier,
                              reset_warning_counts, warning_counts)


@pytest.fixture(autouse=True)
def clean_state():
    reset_warning_counts()
    names = set(VERIFIERS)
    yield
    for name in set(VERIFIERS) - names:  # drop what a test registered
        del VERIFIERS[name]
    reset_warning_counts()


def test_builtins_are_registered():
    assert {"format", "choice", "math", "counting", "classification", "grounding_iou"} <= set(VERIFIERS)


def test_unknown_name_lists_registered_names():
    with pytest.raises(ValueError, match="registered: .*'counting'"):
        get_verifier("countng")


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match="'answer_sauce'"):
        get_verifier("counting", answer_sauce="whole")


def test_trl_name_and_conversational_completions():
    verifier = get_verifier("counting")
    assert verifier.__name__ == "counting"
    conversation = [[{"role": "assistant", "content": "<answer>3</answer>"}]]
    assert verifier(prompts=[[{"role": "user", "content": "how many?"}]], completions=conversation,
                    answer=[3], trainer_state=object()) == [1.0]


def test_missing_or_misaligned_column_scores_zero_with_warning():
    verifier = get_verifier("counting")
    assert verifier(None, ["<answer>3</answer>"] * 2, answer=[3, None]) == [1.0, 0.0]
    assert verifier(None, ["<answer>3</answer>"] * 2) == [0.0, 0.0]
    assert verifier(None, ["<answer>3</answer>"] * 2, answer=[3]) == [0.0, 0.0]  # wrong length
    assert warning_counts() == {"counting": 5}


def test_raising_and_non_finite_items_score_zero_with_warning():
    @register_scorer("test_fragile")
    def fragile(completion, *, scale: float = 1.0):
        if completion == "boom":
            raise RuntimeError("boom")
        if completion == "nan":
            return float("nan")
        if completion == "n/a":
            return None  # TRL: not applicable
        return 0.5 * scale

    verifier = get_verifier("test_fragile", scale=2.0)
    assert verifier(None, ["ok", "boom", "nan", "n/a"]) == [1.0, 0.0, 0.0, None]
    assert warning_counts() == {"test_fragile": 2}


def test_option_checks_run_when_binding():
    @register_scorer("test_checked", checks={"mode": ("a", "b"), "k": lambda v: v > 0})
    def checked(completion, *, mode: str = "a", k: int = 1):
        return 1.0

    get_verifier("test_checked", mode="b", k=3)
    with pytest.raises(ValueError, match="mode"):
        get_verifier("test_checked", mode="c")
    with pytest.raises(ValueError, match="k=0"):
        get_verifier("test_checked", k=0)


def _register_spinner():
    @register_scorer("test_spin")
    def spin(completion, *, timeout_seconds: float = 0.2):
        end = time.monotonic() + (5.0 if completion == "spin" else 0.0)
        while time.monotonic() < end:  # pure-Python busy loop: interruptible by the alarm
            pass
        return 1.0


def test_main_thread_timeout_interrupts_and_counts():
    _register_spinner()
    verifier = get_verifier("test_spin", timeout_seconds=0.2)
    start = time.perf_counter()
    assert verifier(None, ["spin", "fast"]) == [0.0, 1.0]
    assert time.perf_counter() - start < 2.0
    assert warning_counts() == {"test_spin": 1}


def test_worker_thread_overtime_result_is_discarded():
    @register_scorer("test_sleepy")
    def sleepy(completion, *, timeout_seconds: float = 0.05):
        time.sleep(0.15 if completion == "slow" else 0.0)
        return 1.0

    verifier = get_verifier("test_sleepy")
    out = {}
    thread = threading.Thread(target=lambda: out.update(r=verifier(None, ["slow", "fast"])))
    thread.start()
    thread.join(10)
    assert out["r"] == [0.0, 1.0]
    assert warning_counts() == {"test_sleepy": 1}


def test_register_verifier_plain_trl_function_is_wrapped():
    @register_verifier("test_length")
    def length_reward(prompts, completions, **kwargs):
        if any(c == "crash" for c in completions):
            raise ValueError("crash")
        return [min(len(c), 10) / 10 for c in completions]

    verifier = get_verifier("test_length")
    assert verifier(None, ["abcde", "abcdefghijklmn"]) == [0.5, 1.0]
    # one bad item fails the batch; each item is retried alone and only the bad one scores 0
    assert verifier(None, ["abcde", "crash"]) == [0.5, 0.0]
    assert warning_counts() == {"test_length": 1}


def test_duplicate_registration_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        register_verifier("math")(lambda prompts, completions, **kw: [])


USER_FILE = '''
def exact(prompts, completions, answer, bonus=0.0, **kwargs):
    return [float(c.strip() == str(a)) * (1.0 - bonus) + bonus for c, a in zip(completions, answer)]

def strict(prompts, completions, answer):
    return [1.0 for _ in completions]

def wrong_length(prompts, completions, **kwargs):
    return [1.0]
'''


def test_user_function_from_file(tmp_path):
    path = tmp_path / "my_rewards.py"
    path.write_text(USER_FILE)
    verifier = get_verifier(f"{path}:exact", bonus=0.5)
    assert verifier.__name__ == f"{path}:exact"
    assert verifier(None, ["4", "5"], answer=[4, 4]) == [1.0, 0.5]
    with pytest.raises(ValueError, match="'bonus'"):
        get_verifier(f"{path}:strict", bonus=1.0)  # no such parameter and no **kwargs
    with pytest.raises(ValueError, match="no function 'missing'"):
        get_verifier(f"{path}:missing")
    with pytest.raises(ValueError, match="not found"):
        get_verifier(f"{tmp_path}/absent.py:exact")
    assert get_verifier(f"{path}:wrong_length")(None, ["a", "b"]) == [1.0, 1.0]  # retried per item

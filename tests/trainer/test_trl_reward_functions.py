"""TRL reward functions run unchanged: called by keyword as TRL 1.16's GRPOTrainer calls them.

The functions in TRL_DOCS are copied verbatim from TRL's documentation ("Using a custom reward
function", docs/source/grpo_trainer.md); they reach the trainer as ``path/to/file.py:function``,
the way a user gives them in the config.
"""
from __future__ import annotations

import math

import pytest
import torch

from gpg_vl.config import RewardSpec
from gpg_vl.trainer.rewards import RewardModel, completion_id_lists
from gpg_vl.verifiers import reset_warning_counts, warning_counts
from gpg_vl.verifiers.registry import RewardFunctionError

TRL_DOCS = r'''
import asyncio
import re

def reward_func(completions_ids, **kwargs):
    """Reward function that assigns higher scores to longer completions (in terms of token count)."""
    return [float(len(ids)) for ids in completions_ids]

def reward_len_chars(completions, **kwargs):
    """Reward function that assigns higher scores to longer completions (in terms of character count)."""
    return [float(len(completion)) for completion in completions]

def format_reward_func(completions, **kwargs):
    """Reward function that checks if the completion has a specific format."""
    pattern = r"^<think>.*?</think><answer>.*?</answer>$"
    completion_contents = [completion[0]["content"] for completion in completions]
    matches = [re.match(pattern, content) for content in completion_contents]
    return [1.0 if match else 0.0 for match in matches]

def boxed_reward_func(completions, ground_truth, **kwargs):
    # Regular expression to capture content inside \boxed{}
    matches = [re.search(r"\\boxed\{(.*?)\}", completion) for completion in completions]
    contents = [match.group(1) if match else "" for match in matches]
    # Reward 1 if the content is the same as the ground truth, 0 otherwise
    return [1.0 if c == gt else 0.0 for c, gt in zip(contents, ground_truth)]

def math_reward_func(prompts, completions, task, **kwargs):
    rewards = []
    for prompt, completion, t in zip(prompts, completions, task):
        if t == "math":
            # Calculate math-specific reward
            correct = check_math_solution(prompt, completion)
            reward = 1.0 if correct else -1.0
            rewards.append(reward)
        else:
            # Return None for non-math tasks
            rewards.append(None)
    return rewards

def check_math_solution(prompt, completion):  # the docs leave this helper to the reader
    return "12" in completion[0]["content"]  # conversational rows: a message list

async def async_reward_func(prompts, completions, **kwargs):
    # Simulate an I/O-bound call (e.g., HTTP request, database lookup)
    await asyncio.sleep(0.01)
    # Simple toy reward: 1.0 if the completion is non-empty, else 0.0
    return [1.0 if completion else 0.0 for completion in completions]

def curriculum(completions, trainer_state, **kwargs):
    return [float(trainer_state.global_step) / trainer_state.max_steps for _ in completions]

def positional_only_habit(prompts, completions, answer):  # gpg-vl's old habit: no **kwargs
    return [float(c == a) for c, a in zip(completions, answer)]

def broken(completions, solution, **kwargs):  # the dataset has no `solution` column
    return [1.0 for _ in completions]

def sometimes(completions, **kwargs):
    if any("boom" in c for c in completions):
        raise RuntimeError("boom")
    return [1.0 for _ in completions]
'''

CONVERSATIONAL = [
    {"id": "c0", "task": "math", "answer": "12", "images": ["a.png"],
     "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "(1 + 2) * 4?"}]}]},
    {"id": "c1", "task": "chart", "answer": "8", "images": ["b.png"],
     "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "(3 + 1) * 2?"}]}]},
]
STANDARD = [{"id": "s0", "task": "math", "answer": "2", "ground_truth": "2", "images": ["a.png"], "problem": "2x+3=7"},
            {"id": "s1", "task": "math", "answer": "5", "ground_truth": "5", "images": ["b.png"], "problem": "3x-5=10"}]


@pytest.fixture
def docs(tmp_path):
    path = tmp_path / "my_rewards.py"
    path.write_text(TRL_DOCS)
    reset_warning_counts()
    yield lambda name: f"{path}:{name}"
    reset_warning_counts()


def score(docs, name, completions, samples, **kw):
    model = RewardModel([RewardSpec(docs(name))], box_frame="qwen2_vl")
    return model, model.score(["p"] * len(completions), completions, samples, **kw)[0].tolist()


def test_conversational_format_reward_from_the_trl_docs(docs):
    # Before: called positionally as fn(prompts, completions, ...) with string completions, this
    # raised TypeError on every item and scored 0 with one warning.
    completions = ["<think>The sum of 1 and 2 is 3, which we multiply by 4 to get 12.</think>"
                   "<answer>(1 + 2) * 4 = 12</answer>",
                   "The sum of 3 and 1 is 4, which we multiply by 2 to get 8. So (3 + 1) * 2 = 8."]
    _, total = score(docs, "format_reward_func", completions, CONVERSATIONAL)
    assert total == [1.0, 0.0]
    assert warning_counts() == {}


def test_standard_format_examples_from_the_trl_docs(docs):
    completions = [r" The solution is \boxed{2}.", r" The solution is \boxed{6}."]
    assert score(docs, "boxed_reward_func", completions, STANDARD)[1] == [1.0, 0.0]
    assert score(docs, "reward_len_chars", [" blue.", " in the sky."], STANDARD)[1] == [6.0, 12.0]
    ids = completion_id_lists(torch.tensor([[6303, 13, 0, 0], [304, 279, 12884, 13]]),
                              torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]]))
    assert ids == [[6303, 13], [304, 279, 12884, 13]]
    assert score(docs, "reward_func", ["a", "b"], STANDARD, completion_ids=ids)[1] == [2.0, 4.0]
    assert score(docs, "async_reward_func", ["x", ""], STANDARD)[1] == [1.0, 0.0]


def test_none_means_not_applicable_as_in_trl(docs):
    model, total = score(docs, "math_reward_func", ["<answer>12</answer>", "<answer>8</answer>"], CONVERSATIONAL)
    parts = model.last_batch["parts"][docs("math_reward_func")]
    assert parts[0].item() == 1.0 and math.isnan(parts[1].item())  # task "chart": None
    assert total == [1.0, 0.0]


def test_trainer_state_follows_the_step(docs):
    model = RewardModel([RewardSpec(docs("curriculum"))], box_frame="qwen2_vl")
    model.begin_step(4, total_steps=10)
    assert model.score(["p", "p"], ["a", "b"], STANDARD)[0].tolist() == pytest.approx([0.3, 0.3])  # 3 of 10 done


def test_function_without_kwargs_gets_the_keywords_it_names(docs):
    assert score(docs, "positional_only_habit", ["2", "4"], STANDARD)[1] == [1.0, 0.0]


def test_function_failing_on_every_item_stops_with_its_traceback(docs):
    with pytest.raises(RewardFunctionError, match="broken.*failed on all 2 items") as info:
        score(docs, "broken", ["a", "b"], STANDARD)
    assert isinstance(info.value.__cause__, TypeError)  # the function's own error, chained
    assert "solution" in str(info.value.__cause__)


def test_occasional_failures_are_counted(docs):
    assert score(docs, "sometimes", ["fine", "boom"], STANDARD)[1] == [1.0, 0.0]
    assert warning_counts() == {docs("sometimes"): 1}


def test_trl_own_accuracy_reward_runs_on_conversational_rows():
    accuracy = pytest.importorskip("trl.rewards").accuracy_reward
    pytest.importorskip("math_verify")
    from gpg_vl.verifiers import VERIFIERS

    VERIFIERS["test_trl_accuracy"] = accuracy
    try:
        samples = [dict(s, solution=s["answer"]) for s in CONVERSATIONAL]
        model = RewardModel([RewardSpec("test_trl_accuracy")], box_frame="qwen2_vl")
        total = model.score(["p", "p"], [r"\boxed{12}", r"\boxed{9}"], samples)[0].tolist()
    finally:
        del VERIFIERS["test_trl_accuracy"]
    assert total == [1.0, 0.0]


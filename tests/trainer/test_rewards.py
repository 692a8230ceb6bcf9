"""RewardModel: task-restricted components see only their rows; the total is the weighted nansum."""
from __future__ import annotations

import math

import pytest
import torch

from gpg_vl.config import RewardSpec
from gpg_vl.trainer.rewards import RewardModel
from gpg_vl.verifiers import VERIFIERS

SAMPLES = [{"id": "s0", "task": "counting", "answer": "3", "images": ["a.png"]},
           {"id": "s1", "task": "grounding", "answer": "[0,0,1,1]", "images": ["b.png"]},
           {"id": "s2", "task": "counting", "answer": "2", "images": ["c.png"]},
           {"id": "s3", "task": "classification", "answer": "red", "images": ["d.png"],
            "box_format": "pixels"}]
COMPLETIONS = ["<answer>3</answer>", "<answer>[0,0,1,1]</answer>", "<answer>5</answer>", "<answer>red</answer>"]


@pytest.fixture
def calls(monkeypatch):
    """Registers two recording verifiers; returns the list of their calls."""
    log = []

    def by_length(prompts, completions, **columns):
        log.append(("by_length", list(completions), columns))
        return [float(len(c)) for c in completions]

    def half_or_none(prompts, completions, id, **columns):  # noqa: A002 -- a dataset column
        log.append(("half_or_none", list(completions), {"id": id, **columns}))
        return [None if i == "s1" else 0.5 for i in id]

    monkeypatch.setitem(VERIFIERS, "test_by_length", by_length)
    monkeypatch.setitem(VERIFIERS, "test_half_or_none", half_or_none)
    return log


def test_restricted_component_is_nan_elsewhere_and_not_called_on_those_rows(calls):
    model = RewardModel([RewardSpec("test_by_length", weight=2.0, tasks=["counting"]),
                         RewardSpec("test_half_or_none", weight=-1.0)], box_frame="qwen2_vl")
    total, parts = model.score([""] * 4, COMPLETIONS, SAMPLES)
    # The counting-only component was called once, with the counting rows only.
    restricted = [c for c in calls if c[0] == "by_length"]
    assert len(restricted) == 1
    _, seen, columns = restricted[0]
    assert seen == [COMPLETIONS[0], COMPLETIONS[2]]
    assert columns["id"] == ["s0", "s2"] and columns["answer"] == ["3", "2"]
    assert "images" not in columns  # images are no verifier column
    assert columns["box_format"] == ["qwen2_vl", "qwen2_vl"]
    # Parts: NaN where not applicable (restricted rows, or the verifier said None).
    assert parts["test_by_length"].shape == (4,)
    assert parts["test_by_length"][[0, 2]].tolist() == [18.0, 18.0]
    assert torch.isnan(parts["test_by_length"][[1, 3]]).all()
    assert parts["test_half_or_none"][[0, 2, 3]].tolist() == [0.5, 0.5, 0.5]
    assert math.isnan(parts["test_half_or_none"][1].item())
    # Total: 2 * 18 - 0.5 on counting rows; NaN components add nothing.
    assert total.dtype == torch.float32 and total.shape == (4,)
    assert total.tolist() == [35.5, 0.0, 35.5, -0.5]


def test_box_format_comes_from_the_family_unless_the_sample_has_one(calls):
    RewardModel([RewardSpec("test_half_or_none")], box_frame="qwen2_5_vl").score([""] * 4, COMPLETIONS, SAMPLES)
    assert calls[0][2]["box_format"] == ["qwen2_5_vl", "qwen2_5_vl", "qwen2_5_vl", "pixels"]


def test_component_for_no_present_task_is_never_called(calls):
    model = RewardModel([RewardSpec("test_by_length", tasks=["math"]), RewardSpec("test_half_or_none")], "qwen2_vl")
    total, parts = model.score([""] * 4, COMPLETIONS, SAMPLES)
    assert [c[0] for c in calls] == ["half_or_none"]
    assert torch.isnan(parts["test_by_length"]).all()
    assert total.tolist() == [0.5, 0.0, 0.5, 0.5]


def test_real_verifiers_with_options_and_task_routing():
    model = RewardModel([RewardSpec("format", weight=0.5, options={"mode": "answer_only"}),
                         RewardSpec("counting", tasks=["counting"]),
                         RewardSpec("classification", tasks=["classification"])], "qwen2_vl")
    total, parts = model.score([""] * 4, COMPLETIONS, SAMPLES)
    assert parts["format"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert parts["counting"][[0, 2]].tolist() == [1.0, 0.0]  # 3 == 3; 5 != 2
    assert parts["classification"][3].item() == 1.0
    assert total.tolist() == [1.5, 0.5, 0.5, 1.5]


def test_duplicate_names_get_indices():
    model = RewardModel([RewardSpec("format", options={"mode": "answer_only"}),
                         RewardSpec("format", weight=0.5, options={"mode": "answer_only"})], "qwen2_vl")
    assert model.names == ["format#0", "format#1"]


def test_no_rewards_and_unknown_names_fail_at_construction():
    with pytest.raises(ValueError, match="no rewards"):
        RewardModel([], "qwen2_vl")
    with pytest.raises(ValueError, match="no_such_verifier"):
        RewardModel([RewardSpec("no_such_verifier")], "qwen2_vl")
    with pytest.raises(ValueError, match="mood"):
        RewardModel([RewardSpec("format", options={"mood": "x"})], "qwen2_vl")

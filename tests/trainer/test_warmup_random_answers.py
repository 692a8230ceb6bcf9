"""warmup.random_answers draws answers for the demo's synthetic tasks only: other tasks are
refused with the settings that fix it (before: a ValueError from deep inside the warm-up)."""
import pytest


def test_random_answer_warmup_is_refused_outside_the_demo_tasks():
    from gpg_vl.trainer.warmup import check_random_answers

    check_random_answers([{"task": "counting"}, {"task": "grounding"}])  # the demo's tasks: fine
    with pytest.raises(ValueError, match=r"task\(s\) \['chart', 'math'\].*warmup.random_answers=false"):
        check_random_answers([{"task": "math"}, {"task": "counting"}, {"task": "chart"}])

"""Your own data: TRL / Hugging Face conversational rows, a `datasets` folder, data.task for rows
without one, data.choices_in_prompt; and a conversational data set trains end to end."""
from __future__ import annotations

import json

import pytest

from gpg_vl.data import load_samples
from gpg_vl.data.conversational import from_conversation, read_row, with_choices

USER = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many squares?"}]}


def test_trl_prompt_row_keeps_messages_and_takes_the_user_text():
    row = {"prompt": [{"role": "system", "content": "Be brief."}, USER], "images": ["a.png"], "solution": "3"}
    sample = from_conversation(row)
    assert sample["problem"] == "How many squares?"
    assert sample["answer"] == "3" and sample["images"] == ["a.png"]
    assert sample["prompt"] == row["prompt"]  # rewards get TRL's conversational prompts


def test_chat_messages_row_takes_the_assistant_reply_as_answer():
    row = {"messages": [USER, {"role": "assistant", "content": "4"}], "image": "b.png"}
    sample = from_conversation(row)
    assert sample["answer"] == "4" and sample["problem"] == "How many squares?"
    assert sample["prompt"] == [USER]


def test_standard_prompt_string_and_inline_images():
    assert read_row({"prompt": "What colour?", "images": ["c.png"]})["problem"] == "What colour?"
    inline = {"prompt": [{"role": "user", "content": [{"type": "image", "image": "d.png"},
                                                      {"type": "text", "text": "Angle?"}]}]}
    assert from_conversation(inline)["images"] == ["d.png"]


def test_choices_rendered_as_lettered_lines():
    sample = with_choices({"problem": "Which is largest?", "choices": ["2", "7", "5"]})
    assert sample["problem"] == "Which is largest?\nA. 2\nB. 7\nC. 5"


def conversational_jsonl(synthetic_data, path, n=None):
    """The synthetic counting rows rewritten as TRL conversational rows (no `task`, `problem`)."""
    rows = [json.loads(line) for line in synthetic_data["train"].read_text().splitlines()]
    out = []
    for row in rows:
        if row["task"] != "counting":
            continue
        out.append({"prompt": [{"role": "user", "content": [{"type": "image"},
                                                            {"type": "text", "text": row["problem"]}]}],
                    "images": [str(synthetic_data["dir"] / p) for p in row["images"]],
                    "solution": row["answer"]})
    path.write_text("".join(json.dumps(r) + "\n" for r in out[:n]))
    return path, len(out[:n])


def test_conversational_jsonl_loads_with_data_task(synthetic_data, tmp_path):
    path, n = conversational_jsonl(synthetic_data, tmp_path / "conv.jsonl")
    # Before: refused with "field 'problem' is missing".
    samples = load_samples(path, task="counting")
    assert len(samples) == n
    first = samples[0]
    assert first["task"] == "counting" and first["problem"].startswith("How many")
    assert first["answer"] == first["solution"] and first["prompt"][0]["role"] == "user"
    with pytest.raises(ValueError, match="task"):
        load_samples(path)  # no task anywhere: named


def test_datasets_folder_of_conversational_rows(synthetic_data, tmp_path):
    datasets = pytest.importorskip("datasets")
    path, n = conversational_jsonl(synthetic_data, tmp_path / "conv.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    ds = datasets.Dataset.from_list(rows).cast_column("images", datasets.Sequence(datasets.Image()))
    ds.save_to_disk(str(tmp_path / "saved"))
    samples = load_samples(tmp_path / "saved", task="counting")
    assert len(samples) == n and samples[0]["problem"].startswith("How many")


TRL_REWARD = '''
def format_reward_func(completions, **kwargs):
    """Scores 1 only for TRL's conversational completions (a list holding one assistant message)."""
    return [1.0 if isinstance(c, list) and c[0]["role"] == "assistant" else 0.0 for c in completions]
'''


@pytest.mark.slow
def test_a_conversational_dataset_trains(tiny_dirs, synthetic_data, tmp_path):
    from gpg_vl.config import Config, load_config
    from gpg_vl.trainer.loop import train

    path, _ = conversational_jsonl(synthetic_data, tmp_path / "conv.jsonl")
    reward = tmp_path / "rewards.py"
    reward.write_text(TRL_REWARD)
    out = tmp_path / "run"
    cfg = load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={path}", "data.task=counting", "rollout.num_generations=2", "rollout.max_new_tokens=4",
        f"rewards=[{{name: '{reward}:format_reward_func'}}, {{name: counting, tasks: [counting]}}]",
        "train.prompts_per_step=2", "train.steps=2", "train.report_to=[jsonl]", "train.log_samples_every=1",
        f"train.output_dir={out}"])
    train(cfg, log=lambda *_: None)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r[f"reward/{reward}:format_reward_func"] == 1.0 for r in rows)  # message-list completions
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert samples and all(s["task"] == "counting" and s["prompt"].startswith("How many") for s in samples)
    assert (out / "final" / "model.safetensors").is_file()


def test_schema_rows_through_a_recipe_adapter_name_data_adapter_null(synthetic_data):
    from gpg_vl.data.schema import SchemaError

    with pytest.raises(SchemaError, match=r"adapter 'r1v_geoqa' needs column .*data\.adapter=null"):
        load_samples(synthetic_data["train"], adapter="r1v_geoqa")

"""``gpg-vl eval score`` and ``gpg-vl eval`` through :func:`gpg_vl.eval.cli.run`."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from gpg_vl.eval.cli import add_arguments, run
from gpg_vl.families import FAMILIES

PARSER = add_arguments(argparse.ArgumentParser(prog="gpg-vl eval"))


def cli(*argv) -> int:
    return run(PARSER.parse_args([str(a) for a in argv]))


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_writes_the_three_outputs(tmp_path, superclevr_file, capsys):
    rows = [json.loads(line) for line in superclevr_file.read_text().splitlines()]
    preds = [dict(r, response=f"<answer>{r['ground_truth']}</answer>") for r in rows[:150]]
    preds += [dict(r, response="<answer>0</answer>") for r in rows[150:]]
    file = write_jsonl(tmp_path / "preds.jsonl", preds)
    assert cli("score", "--benchmark", "superclevr", "--predictions", file, "--out", tmp_path / "o") == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["count"] == 200 and summary["overall"] == 0.75
    assert len((tmp_path / "o" / "scored.jsonl").read_text().splitlines()) == 200
    assert "| overall accuracy (%) | 75.00 |" in (tmp_path / "o" / "report.md").read_text()
    assert "overall 75.00% (150/200, strict; strict 75.00%, official 75.00%)" in capsys.readouterr().out


def test_score_usage_errors(tmp_path, capsys):
    assert cli("score", "--benchmark", "nope", "--predictions", "x", "--out", tmp_path) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
    assert cli("score", "--benchmark", "geoqa", "--predictions", tmp_path / "none.jsonl",
               "--out", tmp_path) == 2
    assert "predictions file not found" in capsys.readouterr().err
    lisa = write_jsonl(tmp_path / "lisa.jsonl", [{"image_path": "a.jpg", "boxes": [[0, 0, 9, 9]],
                                                  "image_size": [10, 10], "response": "[0,0,9,9]"}])
    assert cli("score", "--benchmark", "lisa", "--predictions", lisa, "--out", tmp_path) == 2
    assert "--box-frame" in capsys.readouterr().err
    assert cli("score", "--benchmark", "lisa", "--predictions", lisa, "--out", tmp_path,
               "--box-frame", "pixels") == 0
    assert cli("--benchmark", "geoqa", "--out", tmp_path) == 2
    assert "needs --model and --data" in capsys.readouterr().err


def test_missing_image_stops_before_generation(tmp_path, geoqa_file, capsys):
    data = tmp_path / "geoqa.jsonl"
    shutil.copy(geoqa_file, data)  # images are resolved beside the data file: none exist
    out = tmp_path / "out"
    rc = cli("--benchmark", "geoqa", "--model", tmp_path / "no-model", "--data", data,
             "--out", out, "--limit", 3)
    err = capsys.readouterr().err
    assert rc == 2 and "nothing was generated" in err
    assert str(tmp_path / "Geo170K" / "images" / "test" / "0.png") in err
    assert not (out / "predictions.jsonl").exists()  # the model was never loaded either


# -- end to end with the tiny model --------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from gpg_vl.models.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "qwen2_vl", family="qwen2_vl", seed=0)


def mathvista_release(folder: Path, mathvista_file: Path, pids: list[str]) -> Path:
    """A release folder with some records, their queries and stand-in images of the stated sizes."""
    from PIL import Image

    records = json.loads(mathvista_file.read_text())
    queries = json.loads((mathvista_file.parent / "query_testmini.json").read_text())
    (folder / "images").mkdir(parents=True)
    (folder / "testmini.json").write_text(json.dumps({p: records[p] for p in pids}))
    (folder / "query_testmini.json").write_text(json.dumps({p: queries[p] for p in pids}))
    for p in pids:
        meta = records[p]["metadata"]
        Image.new("RGB", (meta["img_width"], meta["img_height"]), (200, 30, 30)).save(
            folder / records[p]["image"])
    return folder


GEN = ("--max-new-tokens", 8, "--batch-size", 2, "--min-pixels", 56 * 56, "--max-pixels", 112 * 112,
       "--device", "cpu", "--dtype", "float32")


@pytest.mark.slow
def test_eval_end_to_end_and_resume(tmp_path, tiny_model, mathvista_file, capsys):
    pids = ["1", "2", "3", "4", "5"]
    data = mathvista_release(tmp_path / "mathvista", mathvista_file, pids)
    out = tmp_path / "out"
    assert cli("--benchmark", "mathvista", "--model", tiny_model, "--data", data, "--out", out, *GEN) == 0
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["pid"] for p in preds] == pids
    assert all(isinstance(p["response"], str) and p["box_frame"] == "qwen2_vl" for p in preds)
    assert preds[0]["image_size"] == [1514, 720] and preds[0]["query"].startswith("Hint:")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["count"] == 5 and 0.0 <= summary["overall"] <= 1.0
    assert sum(c["count"] for c in summary["breakdowns"]["question_type"].values()) == 5

    # a crash after two items, mid-write of the third: those two are kept, the rest generated
    kept = [dict(p, response=f"<answer>{p['answer']}</answer>", truncated=False) for p in preds[:2]]
    (out / "predictions.jsonl").write_text(
        "".join(json.dumps(p) + "\n" for p in kept) + json.dumps(preds[2])[:40])
    assert cli("--benchmark", "mathvista", "--model", tiny_model, "--data", data, "--out", out, *GEN) == 0
    again = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert sorted(p["pid"] for p in again) == pids and again[:2] == kept
    scored = [json.loads(line) for line in (out / "scored.jsonl").read_text().splitlines()]
    assert [s["pid"] for s in scored] == pids and scored[0]["correct"] and scored[1]["correct"]

    # scoring alone reproduces the summary
    assert cli("score", "--benchmark", "mathvista", "--predictions", out / "predictions.jsonl",
               "--out", tmp_path / "rescored") == 0
    rescored = json.loads((tmp_path / "rescored" / "summary.json").read_text())
    first = json.loads((out / "summary.json").read_text())
    assert rescored.pop("run")["predictions"] == str(out / "predictions.jsonl")
    run = first.pop("run")
    assert rescored == first
    assert run["model"] == str(tiny_model) and run["rows_used"] == "5 (all)"
    assert run["protocol"] == "strict" and run["extractor"] == "rules" and run["command"]


@pytest.mark.slow
def test_eval_superclevr_with_stand_in_images(tmp_path, tiny_model, superclevr_file):
    from PIL import Image

    rows = [json.loads(line) for line in superclevr_file.read_text().splitlines()][:3]
    (tmp_path / "images").mkdir()
    for r in rows:
        Image.new("RGB", (480, 320), (90, 90, 90)).save(tmp_path / r["image_path"])
    data = write_jsonl(tmp_path / "superclevr.jsonl", rows + [{"image_path": "./images/x.png",
                                                               "question": "How many?"}])
    Image.new("RGB", (480, 320)).save(tmp_path / "images" / "x.png")
    out = tmp_path / "out"
    assert cli("--benchmark", "superclevr", "--model", tiny_model, "--data", data, "--out", out,
               "--prompt-template", "{problem} Answer with a number.", *GEN) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["count"] == 4  # the record without ground truth is reported, not dropped
    assert summary["missing_fields"]["items"] == [{"id": "./images/x.png", "fields": ["ground_truth"]}]


def cvbench_parquet(folder: Path) -> Path:
    """A CV-Bench-shaped parquet (images embedded, as the hub serves it) in a local folder."""
    import datasets
    from PIL import Image

    rows = [{"idx": i, "type": t, "task": task, "source": src, "image": Image.new("RGB", (64 + i, 48)),
             "question": "Which is closer?", "choices": ["the chair", "the lamp"],
             "answer": "(A)", "prompt": "Which is closer?\n(A) the chair\n(B) the lamp"}
            for i, (t, task, src) in enumerate([("2D", "Count", "ADE20K"), ("2D", "Relation", "COCO"),
                                                ("3D", "Depth", "Omni3D")])]
    folder.mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(str(folder / "test.parquet"))
    return folder


@pytest.mark.slow
def test_eval_cvbench_from_a_local_parquet_folder(tmp_path, tiny_model):
    from gpg_vl.eval.benchmarks import get_benchmark

    data = cvbench_parquet(tmp_path / "cvbench")
    records = get_benchmark("cvbench").load(str(data))
    assert [r["idx"] for r in records] == [0, 1, 2] and records[0]["image"].size == (64, 48)
    out = tmp_path / "out"
    assert cli("--benchmark", "cvbench", "--model", tiny_model, "--data", data, "--out", out, *GEN) == 0
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["idx"] for p in preds] == [0, 1, 2] and "image" not in preds[0]  # decoded image dropped
    summary = json.loads((out / "summary.json").read_text())
    assert summary["count"] == 3 and set(summary["breakdowns"]["source"]) == {"ADE20K", "COCO", "Omni3D"}
    assert set(summary["metrics"]) == {"accuracy_2d", "accuracy_3d", "official_overall"}


@pytest.mark.slow
def test_eval_lisa_records_the_frame_and_sizes(tmp_path, tiny_model):
    from PIL import Image

    from gpg_vl.families import resized_size

    (tmp_path / "img").mkdir()
    Image.new("RGB", (640, 480)).save(tmp_path / "img" / "a.jpg")
    data = write_jsonl(tmp_path / "lisa_test.jsonl", [
        {"image_path": "img/a.jpg", "instruction": ["the thing that holds coffee"],
         "boxes": [[10, 20, 300, 400]]}])
    out = tmp_path / "out"
    assert cli("--benchmark", "lisa", "--model", tiny_model, "--data", data, "--out", out, *GEN) == 0
    pred = json.loads((out / "predictions.jsonl").read_text())
    assert pred["box_frame"] == "qwen2_vl" and pred["image_size"] == [640, 480]
    assert pred["resized_size"] == list(resized_size((640, 480), 56 * 56, 112 * 112))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["count"] == 1 and set(summary["metrics"]) == {
        "box_mean_iou", "box_cumulative_iou", "official_box_mean_iou"}


def test_the_gpg_vl_command_dispatches_to_eval(tmp_path, superclevr_file):
    from gpg_vl.cli import main

    rows = [json.loads(line) for line in superclevr_file.read_text().splitlines()]
    file = write_jsonl(tmp_path / "p.jsonl", [dict(r, response=str(r["ground_truth"])) for r in rows])
    assert main(["eval", "score", "--benchmark", "superclevr", "--predictions", str(file),
                 "--out", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["overall"] == 1.0


RAW = "{image}<image>User: {problem} \nAssistant: Let me solve this step by step.\n"


@pytest.mark.slow
def test_eval_with_a_raw_prompt_and_prefill_encodes_like_training(tmp_path, tiny_model, monkeypatch):
    """A base model trained on raw prompts (data.prompt_format=raw) is evaluated on the same."""
    import gpg_vl.processing as processing

    seen, real = [], processing.encode_prompts

    def recording(processor, samples, **kwargs):
        batch = real(processor, samples, **kwargs)
        seen.append((kwargs, processor.tokenizer.decode(batch["input_ids"][0], skip_special_tokens=False)))
        return batch

    monkeypatch.setattr(processing, "encode_prompts", recording)
    data = cvbench_parquet(tmp_path / "cvbench")
    out = tmp_path / "out"
    assert cli("--benchmark", "cvbench", "--model", tiny_model, "--data", data, "--out", out,
               "--prompt-format", "raw", "--prompt-template", RAW, "--completion-prefix", "<think>", *GEN) == 0
    kwargs, text = seen[0]
    assert kwargs["prompt_format"] == "raw" and kwargs["completion_prefix"] == "<think>"
    assert text.replace("<|endoftext|>", "").startswith("<|vision_start|><|image_pad|>")  # left padding
    assert "<|im_start|>" not in text and text.endswith("step by step.\n<think>")
    assert "User: Which is closer?\n(A) the chair" in text


def test_eval_prompt_format_errors_stop_before_the_model_loads(tmp_path, capsys):
    data = cvbench_parquet(tmp_path / "cvbench")
    common = ("--benchmark", "cvbench", "--model", tmp_path / "no-model", "--data", data, "--out", tmp_path / "o")
    assert cli(*common, "--prompt-format", "raw", "--prompt-template", "{problem}") == 2
    assert "must contain {image} once" in capsys.readouterr().err
    assert cli(*common, "--prompt-template", "{image}{problem}") == 2
    assert "raw prompt" in capsys.readouterr().err
    assert cli(*common, "--prompt-format", "raw", "--prompt-template", RAW, "--system-prompt", "S") == 2
    assert "--system-prompt needs --prompt-format chat" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_eval_follows_the_model_family(tmp_path, tiny_dirs, family):
    """Every family: the prediction records the family's box frame and the size its processor
    resized the image to (patch x merge 28 or 32); --thinking is taken where the family has a switch."""
    from PIL import Image

    from gpg_vl.families import get_family, resized_size

    fam = get_family(family)
    (tmp_path / "img").mkdir()
    Image.new("RGB", (640, 480)).save(tmp_path / "img" / "a.jpg")
    data = write_jsonl(tmp_path / "lisa_test.jsonl", [
        {"image_path": "img/a.jpg", "instruction": ["the mug"], "boxes": [[10, 20, 300, 400]]}])
    out = tmp_path / "out"
    switch = ("--thinking", "false") if fam.thinking_switch else ()
    assert cli("--benchmark", "lisa", "--model", tiny_dirs[family], "--data", data, "--out", out, *GEN, *switch) == 0
    pred = json.loads((out / "predictions.jsonl").read_text())
    assert pred["box_frame"] == fam.box_frame
    assert pred["resized_size"] == list(resized_size((640, 480), 56 * 56, 112 * 112, factor=fam.resize_factor))

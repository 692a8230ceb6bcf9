"""Release layouts read as shipped: small local copies of each (records, files, folders)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from PIL import Image

from gpg_vl.eval.benchmarks import get_benchmark
from gpg_vl.eval.cli import add_arguments, run
from gpg_vl.eval.runner import data_root, prepare
from gpg_vl.eval.scoring import score_predictions

PARSER = add_arguments(argparse.ArgumentParser(prog="gpg-vl eval"))


def cli(*argv) -> int:
    return run(PARSER.parse_args([str(a) for a in argv]))


def _image(path: Path, size=(64, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 40, 200)).save(path)


def test_mathvista_github_layout_images_under_data(tmp_path, mathvista_file):
    """lupantech/MathVista: data/testmini.json, data/query.json, data/images/<pid>.jpg."""
    records = json.loads(mathvista_file.read_text())
    queries = json.loads((mathvista_file.parent / "query_testmini.json").read_text())
    (tmp_path / "data").mkdir()
    pids = ["1", "2"]
    (tmp_path / "data" / "testmini.json").write_text(json.dumps({p: records[p] for p in pids}))
    (tmp_path / "data" / "query.json").write_text(json.dumps(queries))
    for p in pids:
        _image(tmp_path / "data" / records[p]["image"])
    bench = get_benchmark("mathvista")
    loaded = bench.load(str(tmp_path))
    assert [r["pid"] for r in loaded] == pids and all(r["query"] for r in loaded)
    items = prepare(bench, loaded, data_root(str(tmp_path)), "{problem}")  # raises if unreadable
    assert all(Path(it["images"][0]).is_file() and "data" in it["images"][0] for it in items)


def test_lisa_test_rows_score_with_sizes_read_from_the_images(tmp_path):
    """Visual-RFT's lisa_test.json rows carry no image size: eval score reads it."""
    rows = [{"image_path": "test/a.jpg", "instruction": ["the thing one sits on"],
             "boxes": [[10, 10, 40, 30]]}]
    _image(tmp_path / "imgs" / "test" / "a.jpg", (64, 48))
    preds = [dict(rows[0], response="<answer>(156,208),(625,625)</answer>")]
    file = tmp_path / "preds.jsonl"
    file.write_text("".join(json.dumps(p) + "\n" for p in preds))
    assert cli("score", "--benchmark", "lisa", "--predictions", file, "--out", tmp_path / "o",
               "--box-frame", "qwen2_vl", "--image-root", tmp_path / "imgs") == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["missing_fields"]["count"] == 0 and summary["correct"] == 1
    assert set(summary["metrics"]) == {"box_mean_iou", "box_cumulative_iou", "official_box_mean_iou"}
    # Visual-RFT's reading: the gt box over the image size, inside the prediction / 1000
    gold_area = (40 - 10) / 64 * (30 - 10) / 48
    assert summary["metrics"]["official_box_mean_iou"] == pytest.approx(
        gold_area / (0.469 * 0.417), abs=1e-5)


def test_vlm_r1_rec_rows(tmp_path):
    """om-ai-lab/VLM-R1 REC rows: {image, problem, solution: [x1, y1, x2, y2]}."""
    _image(tmp_path / "coco" / "x.jpg", (100, 100))
    row = {"image": "x.jpg", "problem": "the red cup", "solution": [10, 10, 50, 50],
           "response": "<answer>[10, 10, 50, 50]</answer>"}
    bench = get_benchmark("lisa")
    record = bench.complete(row, tmp_path / "coco")
    assert record["image_size"] == [100, 100] and bench.problem(record) == "the red cup"
    rows, summary = score_predictions(bench, [record], box_frame="pixels")
    assert rows[0]["correct"] and rows[0]["iou"] == pytest.approx(1.0)


def test_visual_rft_classification_pth_and_labels(tmp_path):
    import torch

    val = tmp_path / "val_data"
    val.mkdir()
    (val / "pets.txt").write_text("abyssinian\namerican_bulldog\nbeagle\n")
    items = [{"/mnt/cluster/oxford_pets/images/Abyssinian_1.jpg": {"label": torch.tensor(0)}},
             {"/mnt/cluster/oxford_pets/images/beagle_7.jpg": {"label": torch.tensor(2)}}]
    torch.save(items, val / "pets.pth")
    (val / "fgvc_aircraft.txt").write_text("707-320\n727-200\n")
    torch.save([{"/mnt/x/images/1.jpg": {"label": torch.tensor(1)}}], val / "fgvc_aircraft.pth")
    _image(tmp_path / "imgs" / "images" / "Abyssinian_1.jpg")
    bench = get_benchmark("classification")
    records = bench.load(f"{val / 'pets.pth'},{val / 'fgvc_aircraft.pth'}")
    assert [r["solution"] for r in records] == ["abyssinian", "beagle", "727-200"]
    assert records[0]["dataset"] == "pets37" and "a pet" in bench.problem(records[0])
    ref = bench.image_refs(records[0], tmp_path / "imgs")[0]
    assert Path(ref) == tmp_path / "imgs" / "images" / "Abyssinian_1.jpg"
    responses = ["<answer>Abyssinian</answer>", "<answer></answer>", "<answer>727 200</answer>"]
    rows, summary = score_predictions(bench, [dict(r, response=t) for r, t in zip(records, responses)])
    assert [r["correct_strict"] for r in rows] == [True, False, True]
    # Visual-RFT's containment check credits the empty answer and keeps the hyphen
    assert [r["correct_official"] for r in rows] == [True, True, False]
    assert summary["metrics"]["mean_accuracy_over_datasets"] == pytest.approx((0.5 + 1.0) / 2)


def test_a_pth_without_its_labels_is_named(tmp_path):
    import torch

    from gpg_vl.errors import InputError

    torch.save([{"/x.jpg": {"label": torch.tensor(0)}}], tmp_path / "cars.pth")
    with pytest.raises(InputError, match="cars.txt"):
        get_benchmark("classification").load(str(tmp_path / "cars.pth"))


def test_eval_report_across_benchmarks_and_runs(tmp_path, superclevr_file, mathvista_records, capsys):
    rows = [json.loads(line) for line in superclevr_file.read_text().splitlines()][:4]
    sc = tmp_path / "sc.jsonl"
    sc.write_text("".join(json.dumps(dict(r, response=f"<answer>{r['ground_truth']}</answer>")) + "\n"
                          for r in rows))
    mv = tmp_path / "mv.jsonl"
    mv.write_text("".join(json.dumps(dict(r, response=str(r["answer"]))) + "\n"
                          for r in mathvista_records[:20]))
    assert cli("score", "--benchmark", "superclevr", "--predictions", sc, "--out", tmp_path / "run_a") == 0
    assert cli("score", "--benchmark", "mathvista", "--predictions", mv, "--out", tmp_path / "run_b") == 0
    assert cli("score", "--benchmark", "mathvista", "--predictions", mv, "--out", tmp_path / "run_c",
               "--protocol", "official") == 0
    assert cli("report", tmp_path / "run_a", tmp_path / "run_b", tmp_path / "run_c",
               "--out", tmp_path / "rep") == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| run_a | superclevr |" in md and "| run_c | mathvista |" in md
    assert "## mathvista: accuracy (%) by task" in md and "## mathvista: accuracy (%) by skills" in md
    csv_lines = (tmp_path / "rep" / "report.csv").read_text().splitlines()
    assert len(csv_lines) == 4 and csv_lines[0].startswith("run,benchmark")
    assert (tmp_path / "rep" / "report.png").stat().st_size > 1000
    assert cli("report", tmp_path / "nothing", "--out", tmp_path / "rep2") == 2
    assert "no summary.json" in capsys.readouterr().err


def test_own_data_in_the_sample_schema_scored_by_each_tasks_verifier(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    rows = [json.loads(line) for line in (repo / "data" / "samples" / "schema.jsonl").read_text().splitlines()]
    by_task = {r["task"]: r for r in rows}
    right = {"classification": "<think>petals</think><answer>Sunflower</answer>",
             "counting": "There are 2 squares.",
             "grounding": "<answer>(250,250),(750,750)</answer>",
             "choice": "The answer is B because the petals are yellow.",
             "math": "Angles sum to 180, so the answer is 70 degrees."}
    wrong = {"classification": "<answer>rose</answer>", "counting": "<answer>2</answer><answer>3</answer>",
             "grounding": "<answer>(0,0),(100,100)</answer>", "choice": "The answer is A or B.",
             "math": "The answer is 60."}
    preds = [dict(by_task[t], response=right[t]) for t in right] + \
            [dict(by_task[t], response=wrong[t]) for t in wrong]
    bench = get_benchmark("samples")
    rows_out, summary = score_predictions(bench, preds)
    assert [r["correct"] for r in rows_out] == [True] * 5 + [False] * 5
    assert summary["breakdowns"]["task"]["grounding"]["count"] == 2
    assert summary["metrics"]["grounding_box_mean_iou"] == pytest.approx(0.5, abs=0.01)

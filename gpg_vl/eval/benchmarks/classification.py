"""Fine-grained classification, as Visual-RFT's few-shot sets (Flowers102, Pets37,
FGVC-Aircraft, Cars196): rows ``{image, problem, solution}`` with ``solution`` the label, often
wrapped as ``<answer>label</answer>``.

Judged by the shared ``classification`` verifier: normalised exact label match (Visual-RFT's
own check is a two-way substring test that credits an empty answer). Accuracy per dataset: the
``dataset`` column, or, when rows lack it, the name of the file or hub id they came from.
Several datasets load at once from a comma-separated ``--data``.
"""
from __future__ import annotations

from pathlib import Path

from gpg_vl.eval.benchmarks.base import Benchmark, ItemScore, register
from gpg_vl.eval.benchmarks.visual_rft import load_pth, resolve_release_path
from gpg_vl.eval.loading import load_records
from gpg_vl.errors import BadRecord
from gpg_vl.eval.extract import find_answer, first_clause, own_answer
from gpg_vl.eval.responses import verify
from gpg_vl.verifiers.parsing import MAX_LABEL_CHARS, extract_answer_block, normalize_label

MAX_OFFICIAL_CHARS = 20_000
# Dataset names Visual-RFT's files and hub ids carry, most specific first.
DATASET_NAMES = (("aircraft", "fgvc_aircraft"), ("flower", "flowers102"), ("pet", "pets37"),
                 ("car", "cars196"))


def _folder(data: str) -> Path | None:
    path = Path(data)
    return path if path.is_dir() else path.parent if path.is_file() else None


def dataset_name(data: str) -> str:
    stem = Path(data.rstrip("/")).name.lower()
    for key, name in DATASET_NAMES:
        if key in stem:
            return name
    return Path(stem).stem


class Classification(Benchmark):
    name = "classification"
    id_field = "id"
    required_fields = ("solution",)
    breakdown_keys = ("dataset",)
    answer_field = "solution"
    image_field = "image"
    description = "Fine-grained classification (normalised exact label match)"

    def load(self, data: str, split: str | None = None) -> list[dict]:
        records = []
        for part in [p.strip() for p in data.split(",") if p.strip()]:
            rows = (load_pth(Path(part)) if part.endswith(".pth")
                    else load_records(part, split or self.default_split))
            name = dataset_name(part)
            root = _folder(part)
            for i, row in enumerate(rows):
                row.setdefault("dataset", name)
                row.setdefault("id", f"{row['dataset']}/{i}")
                path = row.get("image_path")
                if isinstance(path, str) and Path(path).is_absolute():
                    row["release_path"] = True  # a path of the authors' machine: --image-root
                elif root is not None and isinstance(path, str):
                    row["image_path"] = str(root / path)  # each dataset's paths, its own folder
            records += rows
        return records

    def problem(self, record: dict) -> str:
        return str(record.get("problem") or record["question"])

    def image_refs(self, record: dict, root: Path | None) -> list:
        if record.get("image") is None and record.get("image_path") is not None:
            path = record["image_path"]
            if record.get("release_path"):
                path = resolve_release_path(path, root)
            return super().image_refs({"image": path}, root)
        return super().image_refs(record, root)

    def score_official(self, record: dict, response: str, **options) -> ItemScore:
        """Visual-RFT's check: the first ``<answer>(.*?)</answer>`` on one line, spaces and
        ``_`` removed, lower-cased, counted right when either contains the other (so an empty
        answer is right); no match is wrong."""
        found = first_tag_on_a_line((response or "")[:MAX_OFFICIAL_CHARS])
        if found is None:
            return ItemScore(None, None, False)
        norm = lambda t: t.replace(" ", "").replace("_", "").lower()  # noqa: E731
        answer, label = norm(found), norm(label_of(record["solution"]) or "")
        return ItemScore(found, answer, label in answer or answer in label)

    def metrics(self, records: list[dict], rows: list[dict]) -> dict:
        """Mean accuracy over datasets (the papers' average), beside the pooled accuracy."""
        per: dict[str, list[bool]] = {}
        for record, row in zip(records, rows):
            per.setdefault(str(record.get("dataset")), []).append(bool(row["correct"]))
        if not per:
            return {}
        return {"mean_accuracy_over_datasets": sum(sum(v) / len(v) for v in per.values()) / len(per)}

    def gold(self, record: dict):
        return label_of(record.get("solution"))

    def score(self, record: dict, response: str, **options) -> ItemScore:
        label = label_of(record["solution"])
        if not normalize_label(label):
            raise BadRecord(f"empty label in solution {record['solution']!r}")
        answer = find_answer(response)
        if answer.hedge:
            return ItemScore(None, None, False, {"hedge": True})
        if answer.text is not None:
            text = answer.text if answer.source == "tag" else first_clause(answer.text)
        else:  # no statement: the last line, as a grader reads an unmarked answer
            lines = [ln for ln in own_answer(response).strip().splitlines() if ln.strip()]
            text = lines[-1].strip().strip("*").strip()[:MAX_LABEL_CHARS] if lines else ""
        correct = verify("classification", text, answer=label)
        return ItemScore(text or None, normalize_label(text) or None, correct)


def first_tag_on_a_line(text: str) -> str | None:
    """``re.search(r"<answer>(.*?)</answer>", text).group(1)`` in linear time: the first line
    holding an opening tag with a closing one after it (``.`` does not cross lines)."""
    for line in text.split("\n"):
        start = line.find("<answer>")
        if start >= 0:
            end = line.find("</answer>", start + 8)
            if end >= 0:
                return line[start + 8:end]
    return None


def label_of(solution) -> str | None:
    """The label of a ``solution`` field: the ``<answer>`` block's content, else the text."""
    if solution is None:
        return None
    block = extract_answer_block(str(solution))
    return block if block is not None else str(solution).strip()


register(Classification())

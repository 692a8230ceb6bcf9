"""The hand-labelled realistic response sets on real records (tests/eval/response_set.py: chat
models' free text; tests/eval/response_set_modern.py: 2025-2026 reasoning models' ``<think>``
blocks, boxes, markdown and LaTeX): strict agrees with the hand labels on every style; the
official protocol differs only where the published normaliser credits a refusal, a hedge or an
unfinished answer by edit distance."""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import response_set  # noqa: E402
import response_set_modern  # noqa: E402

from gpg_vl.eval.benchmarks import get_benchmark  # noqa: E402
from gpg_vl.eval.scoring import score_predictions  # noqa: E402


SETS = {"chat": response_set, "modern": response_set_modern}


def agreement(records: list[dict], module=response_set) -> dict[str, dict[str, tuple[int, int]]]:
    bench = get_benchmark("mathvista")
    by_pid = {r["pid"]: r for r in records}
    items = module.build(records)
    rows, _ = score_predictions(bench, [dict(by_pid[i["pid"]], response=i["response"]) for i in items])
    out: dict[str, dict[str, list[int]]] = {"strict": defaultdict(lambda: [0, 0]),
                                            "official": defaultdict(lambda: [0, 0])}
    for item, row in zip(items, rows):
        for proto in out:
            cell = out[proto][item["style"]]
            cell[0] += row[f"correct_{proto}"] == item["label"]
            cell[1] += 1
    return {p: {k: tuple(v) for k, v in styles.items()} for p, styles in out.items()}


@pytest.mark.parametrize("name", sorted(SETS))
def test_strict_agrees_with_the_hand_labels(mathvista_records, name):
    module = SETS[name]
    result = agreement(mathvista_records, module)
    missed = {k: v for k, v in result["strict"].items() if v[0] != v[1]}
    assert missed == {}
    official_missed = {k for k, v in result["official"].items() if v[0] != v[1]}
    no_credit = set(module.MC_NO_CREDIT) | set(module.NUM_NO_CREDIT)
    assert official_missed <= no_credit  # only the published normaliser's similarity credit


if __name__ == "__main__":
    from gpg_vl.eval.benchmarks import get_benchmark as _get

    records = _get("mathvista").load(sys.argv[1])
    for name, module in SETS.items():
        result = agreement(records, module)
        for proto, styles in result.items():
            agree, total = sum(a for a, _ in styles.values()), sum(n for _, n in styles.values())
            print(f"hand-labelled set {name}, {proto}: {agree}/{total} = "
                  f"{100 * agree / total:.2f}% agreement")
            for style, (a, n) in styles.items():
                if a != n:
                    print(f"    {style}: {a}/{n}")

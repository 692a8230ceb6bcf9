"""Shared fixtures: the real benchmark records in ``<repo>/../shared/benchmarks``."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO.parent / "shared" / "benchmarks"


def benchmark_file(relative: str) -> Path:
    path = BENCHMARKS / relative
    if not path.is_file():
        pytest.skip(f"benchmark records not found: {path} (CI places shared/ beside the repo)")
    return path


@pytest.fixture(scope="session")
def mathvista_file() -> Path:
    return benchmark_file("mathvista/testmini.json")


@pytest.fixture(scope="session")
def geoqa_file() -> Path:
    return benchmark_file("geoqa/geoqa_test_prompts.jsonl")


@pytest.fixture(scope="session")
def superclevr_file() -> Path:
    return benchmark_file("superclevr/superclevr_test200_counting_problems.jsonl")


@pytest.fixture(scope="session")
def mathvista_records(mathvista_file) -> list[dict]:
    from gpg_vl.eval.benchmarks import get_benchmark

    return get_benchmark("mathvista").load(str(mathvista_file))

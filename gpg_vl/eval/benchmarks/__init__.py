"""The benchmark registry: one module per benchmark, each registering itself on import."""
from gpg_vl.eval.benchmarks.base import BENCHMARKS, Benchmark, ItemScore, get_benchmark, register
from gpg_vl.eval.benchmarks import mathvista  # noqa: F401  (registers)

__all__ = ["BENCHMARKS", "Benchmark", "ItemScore", "get_benchmark", "register"]

"""The benchmark registry: one module per benchmark, each registering itself on import."""
from gpg_vl.eval.benchmarks.base import BENCHMARKS, Benchmark, ItemScore, get_benchmark, register
from gpg_vl.eval.benchmarks import classification, cvbench, lisa, mathvista, r1v, samples  # noqa: F401

__all__ = ["BENCHMARKS", "Benchmark", "ItemScore", "get_benchmark", "register"]

"""Evaluation harness (issue 4): rule-based scoring of benchmark predictions, and batched
greedy generation that produces them. See ``gpg_vl.eval.cli`` for the command line."""

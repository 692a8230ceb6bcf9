"""Rollout engines other than gpg-vl's own decode loop (gpg_vl/rollout.py): vLLM, colocated."""

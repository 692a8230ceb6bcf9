"""Session fixtures shared by the CPU tests: one tiny model per family and one synthetic data set.

Building a tiny checkpoint takes about a second; every test that needs a live model loads a
fresh copy from the saved folder (``policy_factory``), so a test may change weights freely.
Torch runs on one thread: these models are so small that a second thread only adds contention
(on a shared 2-core machine, 12 ms per tiny matmul with 2 threads against 0.1 ms with 1).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpg_vl.families import FAMILIES as _REGISTRY

REPO = Path(__file__).resolve().parents[1]
FAMILIES = tuple(_REGISTRY)  # the one list (gpg_vl.families): every family test runs for each


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    import torch

    torch.set_num_threads(int(os.environ.get("GPG_VL_TEST_THREADS", "1")))


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    """family name -> folder of a tiny random-weight checkpoint (model + processor)."""
    from gpg_vl.data.synthetic import tokenizer_corpus
    from gpg_vl.models.tiny import build_tiny

    root = tmp_path_factory.mktemp("tiny")
    return {fam: build_tiny(root / fam, family=fam, corpus=tokenizer_corpus()) for fam in FAMILIES}


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> dict[str, Path]:
    """The synthetic demo tasks, 8 train / 4 test rows per task: {"dir", "train", "test"}."""
    from gpg_vl.data.synthetic import make_synthetic

    root = tmp_path_factory.mktemp("synthetic")
    paths = make_synthetic(root, seed=0, n_train=8, n_test=4)
    return {"dir": root, "train": Path(paths["train"]), "test": Path(paths["test"])}


def scramble(model, seed: int = 0, text_std: float = 0.2, vision_std: float = 0.05) -> None:
    """Re-draw every matrix with a larger spread, in place.

    At the releases' init (std 0.02) a tiny random model is nearly uniform over its vocabulary
    and repeats one token forever, so a wrong position id or a row paired with the wrong image
    barely moves its outputs. Larger weights make every output depend visibly on its inputs.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2 or ".experts." in name:  # MoE experts: [experts, out, in] matrices
                param.normal_(0.0, vision_std if "visual" in name else text_std, generator=gen)


@pytest.fixture(scope="session")
def scrambler():
    """``scramble`` for fixtures wider than one test (policy_factory is per test)."""
    return scramble


@pytest.fixture(scope="session")
def vllm_python() -> str:
    """Python of a vLLM environment: $GPG_VL_VLLM_PYTHON or .venv-vllm (scripts/setup_vllm.sh,
    which scripts/test.sh runs, so CI has it); tests that need it skip without one."""
    path = os.environ.get("GPG_VL_VLLM_PYTHON") or str(REPO / ".venv-vllm" / "bin" / "python")
    if not Path(path).exists():
        pytest.skip(f"no vLLM environment at {path}: run scripts/setup_vllm.sh")
    return path


@pytest.fixture
def policy_factory(tiny_dirs):
    """``load(family, scrambled=True, seed=0) -> (model, processor, family)``, a fresh copy each call."""
    from gpg_vl.models import load_policy

    def load(family: str = "qwen2_vl", scrambled: bool = True, seed: int = 0, **kwargs):
        model, processor, fam = load_policy(str(tiny_dirs[family]), **kwargs)
        if scrambled:
            scramble(model, seed)
        return model, processor, fam

    return load

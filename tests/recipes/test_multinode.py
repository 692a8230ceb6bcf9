"""Issue 5: the multi-node launch path, really run.

One machine plays two nodes: train_counting.sh starts twice at once with NNODES=2, NODE_RANK=0/1,
MASTER_ADDR=127.0.0.1 and ``--cpu --num-gpus 1`` (one gloo process per node), i.e. the command
``accelerate launch --num_machines 2 --machine_rank R --main_process_ip A --main_process_port P``
that a GPU cluster gets, on configs/accelerate/cpu_ddp.yaml. Checked against one node running
``--num-gpus 2`` with the same seed, config and global batch:

(a) the two node processes form one process group of world size 2 (the trainer reports
    ``cpu, 2 processes (DDP``; each rank's reward calls record RANK / WORLD_SIZE / node, and the two
    ranks score disjoint prompts that together are the global batch of the one-node run);
(b) the final weights (and the logged metrics) equal the one-node run's;
(c) node 0 alone writes launch_command.sh, metrics, checkpoints and the export: node 1 gets its own
    output folder (standing for a disk only it sees), where the one thing that lands is its own
    RNG state (accelerate's save_state writes one file per rank); both nodes exit 0.

Every launch runs in its own session with a time limit; on a timeout (or any failure) the whole
process group of each launch is killed.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "distributed"))
from launch_helpers import final_weights, max_diff  # noqa: E402

SCRIPT = REPO / "scripts" / "train_counting.sh"
TRAIN_SCRIPTS = sorted((REPO / "scripts").glob("train_*.sh"))
VENV = Path(sys.executable).parent.parent
LAUNCH_ENV = ("MODEL", "DATA", "OUTPUT_DIR", "CONFIG", "NUM_GPUS", "NNODES", "NODE_RANK", "MASTER_ADDR",
              "MASTER_PORT", "DEEPSPEED", "ACCELERATE_CONFIG", "DEVICE", "DRY_RUN", "RESUME", "SUBSET")
TIMEOUT = 240  # seconds per launch; a normal one takes ~20 s here (torchrun + gloo once hung at exit)

# A reward that varies with the completion text (real updates from a random tiny policy) and
# records, per call, which rank of which node scored which prompts.
SHARD_REWARD = '''
import json, os

def shard_reward(prompts, completions, **columns):
    log = os.environ.get("GPG_VL_SHARD_LOG")
    if log:
        rank = int(os.environ["RANK"])
        with open(os.path.join(log, f"rank{rank}.jsonl"), "a") as f:
            f.write(json.dumps({"rank": rank, "world": int(os.environ["WORLD_SIZE"]),
                                "node": int(os.environ["GROUP_RANK"]), "ids": columns["id"]}) + "\\n")
    return [(len(c) % 5) / 4.0 for c in completions]
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def script_env(**env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}
    return {**base, "GPG_VL_VENV": str(VENV), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **env}


def run_together(launches: list[tuple[list[str], dict, Path]], timeout: float = TIMEOUT) -> list[int]:
    """Start every (argv, env, log file) at once, each in a new session; wait for all of them.

    On a timeout every session is killed and the test fails with the logs' tails; whatever
    happens, no process of these sessions outlives the call. Returns the exit codes."""
    procs = []
    try:
        for argv, env, log in launches:
            with open(log, "w") as out:
                procs.append(subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in procs):
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for _, _, log in launches)
                pytest.fail(f"timed out after {timeout}s; killed every launch\n{tails}")
            time.sleep(0.2)
        return [p.returncode for p in procs]
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the session: launcher, torchrun and its workers
            except ProcessLookupError:
                pass
            p.wait()


def write_config(folder: Path, reward: Path) -> Path:
    """A standalone config for 2 GPG steps of 4 prompts x G=4 on the tiny model (its own file, so
    that changes to the recipe configs do not move this test; the dry-run tests cover those)."""
    path = folder / "tiny_counting.yaml"
    path.write_text(f"""\
model: {{dtype: float32, min_pixels: 12544, max_pixels: 12544, attn_implementation: null}}
data: {{adapter: jsonl}}
rollout: {{num_generations: 4, max_new_tokens: 6, temperature: 1.0}}
rewards: [{{name: '{reward}:shard_reward', weight: 1.0}}]
algorithm: {{name: gpg, beta_th: null, aggregation: token-mean}}
warmup: {{steps: 0}}
train: {{seed: 42, steps: 2, prompts_per_step: 4, micro_batch_size: 4, lr: 1.0e-3, lr_schedule: constant,
        save_every: 2, tensorboard: false, eval_every: 0}}
""")
    return path


def train_argv(config: Path, tiny: Path, data: Path, out: Path, gpus: int) -> list[str]:
    return ["bash", str(SCRIPT), "--cpu", "--num-gpus", str(gpus), "--config", str(config),
            "--model", str(tiny), "--data", str(data), "--output-dir", str(out)]


def shard_calls(folder: Path) -> dict[int, list[dict]]:
    return {int(p.stem.removeprefix("rank")): [json.loads(line) for line in p.read_text().splitlines()]
            for p in sorted(folder.glob("rank*.jsonl"))}


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_nodes_of_one_process_match_one_node_of_two(tmp_path, tiny_dirs, synthetic_data):
    reward = tmp_path / "shard_reward.py"
    reward.write_text(SHARD_REWARD)
    config = write_config(tmp_path, reward)
    logs = {name: tmp_path / f"shards-{name}" for name in ("nodes", "single")}
    for folder in logs.values():
        folder.mkdir()
    tiny, data = tiny_dirs["qwen2_vl"], synthetic_data["train"]
    out0, out1, single = tmp_path / "node0", tmp_path / "node1", tmp_path / "single"

    # Two nodes x one process, launched together.
    port = str(free_port())
    node = dict(NNODES="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port, GPG_VL_SHARD_LOG=str(logs["nodes"]))
    started = time.perf_counter()
    codes = run_together([(train_argv(config, tiny, data, out0, 1), script_env(NODE_RANK="0", **node),
                           tmp_path / "node0.log"),
                          (train_argv(config, tiny, data, out1, 1), script_env(NODE_RANK="1", **node),
                           tmp_path / "node1.log")])
    nodes_seconds = time.perf_counter() - started
    log0, log1 = (tmp_path / "node0.log").read_text(), (tmp_path / "node1.log").read_text()
    assert codes == [0, 0], f"exit codes {codes}\n--- node 0\n{log0[-4000:]}\n--- node 1\n{log1[-4000:]}"

    # One node x two processes, same seed, config and global batch.
    codes = run_together([(train_argv(config, tiny, data, single, 2),
                           script_env(MASTER_PORT=str(free_port()), GPG_VL_SHARD_LOG=str(logs["single"])),
                           tmp_path / "single.log")])
    assert codes == [0], (tmp_path / "single.log").read_text()[-4000:]

    # (a) one process group of world size 2 over both nodes
    assert "engine     cpu, 2 processes (DDP" in log0, log0[-3000:]  # the start block
    assert "2 processes" not in log1  # node 1's only process is rank 1: it logs nothing
    calls, reference = shard_calls(logs["nodes"]), shard_calls(logs["single"])
    assert sorted(calls) == [0, 1]
    for rank, rows in calls.items():
        assert len(rows) == 2  # one reward call per step
        assert {(r["rank"], r["world"], r["node"]) for r in rows} == {(rank, 2, rank)}
    for step in range(2):
        ids0, ids1 = set(calls[0][step]["ids"]), set(calls[1][step]["ids"])
        assert len(ids0) == len(ids1) == 2 and not ids0 & ids1  # 2 prompts each, disjoint
        assert ids0 | ids1 == set(reference[0][step]["ids"]) | set(reference[1][step]["ids"])
        assert [calls[r][step]["ids"] for r in (0, 1)] == [reference[r][step]["ids"] for r in (0, 1)]

    # (b) the same training: weights and logged metrics
    from safetensors.torch import load_file

    two_nodes, one_node = final_weights(out0), final_weights(single)
    init = load_file(str(tiny / "model.safetensors"))
    assert max_diff(one_node, init) > 1e-3, "training did not move the weights: the comparison would be empty"
    diff = max_diff(two_nodes, one_node)
    print(f"\nmax |w(2 nodes x 1 process) - w(1 node x 2 processes)| = {diff:.3g}; "
          f"2-node launch {nodes_seconds:.1f} s")
    assert diff < 1e-4
    metrics = [[json.loads(line) for line in (o / "metrics.jsonl").read_text().splitlines()]
               for o in (out0, single)]
    for key in ("reward", "loss", "completion_len"):
        assert [r[key] for r in metrics[0]] == pytest.approx([r[key] for r in metrics[1]], abs=1e-6), key

    # (c) node 0 alone writes the launch command, logs, checkpoints and the export
    launched = shlex.split((out0 / "launch_command.sh").read_text())
    assert launched[launched.index("--num_machines") + 1] == "2"
    assert launched[launched.index("--machine_rank") + 1] == "0"
    assert launched[launched.index("--main_process_port") + 1] == port
    assert len(metrics[0]) == 2 and (out0 / "summary.json").is_file() and (out0 / "config.json").is_file()
    ckpt = out0 / "checkpoints" / "step-000002"
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "gpg_vl_state.json").is_file()
    assert (ckpt / "trainer_state" / "optimizer.bin").is_file()
    assert (ckpt / "trainer_state" / "random_states_0.pkl").is_file()
    assert {Path(f).name for f in files_under(out1)} <= {"random_states_1.pkl"}, sorted(files_under(out1))
    # with one shared folder (the one-node run) the checkpoint holds every rank's RNG state
    single_ckpt = single / "checkpoints"
    assert sorted(p.name for p in single_ckpt.iterdir()) == ["step-000002"]  # no .tmp left behind
    assert {"random_states_0.pkl", "random_states_1.pkl"} <= {p.name for p in (single_ckpt / "step-000002" /
                                                                                "trainer_state").iterdir()}


@pytest.mark.parametrize("script", TRAIN_SCRIPTS, ids=lambda p: p.name)
def test_two_nodes_without_master_addr_print_usage_and_exit_2(script, tmp_path):
    """Not a dry run: the real launch path stops before launching anything."""
    out = tmp_path / "run"
    extra = ["--data", "data/samples/virft_lisa.json"] if script.name == "train_grounding.sh" else []
    result = subprocess.run(["bash", str(script), "--cpu", "--num-gpus", "1",
                             "--model", "Qwen/Qwen2-VL-2B-Instruct", "--output-dir", str(out), *extra],
                            capture_output=True, text=True, cwd=REPO, env=script_env(NNODES="2", NODE_RANK="1"),
                            timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "NNODES=2 needs --master-addr (or MASTER_ADDR)" in result.stderr
    assert "Usage:" in result.stderr and "--master-addr HOST" in result.stderr
    assert result.stdout == "" and not out.exists()  # no command printed, nothing written

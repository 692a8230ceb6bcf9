"""``--extractor llm`` against a real ``vllm serve`` on 127.0.0.1, not a mock.

One server for the module: a tiny random-weight Qwen2-VL built here (``gpg_vl.models.tiny``, its
tokenizer trained locally), served by vLLM's CPU build from the vLLM environment (.venv-vllm;
scripts/test.sh runs this file there, and it skips where vLLM is not importable). It starts as
a subprocess in its own session, so the whole group (API server and engine core) is stopped at
the end. A random-weight judge says nothing useful: every reply must end up as the extractor's
documented garbage (counted in summary.json and report.md, the rules reading the response),
never as a score and never as a crash.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("vllm")
pytestmark = [pytest.mark.slow, pytest.mark.vllm]

from gpg_vl.eval.cli import add_arguments, run  # noqa: E402

START_TIMEOUT_S = 600  # vLLM's CPU build starts in about a minute on 2 busy cores
PARSER = add_arguments(argparse.ArgumentParser(prog="gpg-vl eval"))
# SuperCLEVR rows as R1-V releases them; the rules read 2 of the 3 responses right.
ROWS = [("How many cars are there?", "2", "Counting carefully.\n**2**"),
        ("How many spheres are there?", "3", "I see some.\nIt is 3"),
        ("How many buses are there?", "1", "Hmm.\nNone of them")]


def cli(*argv) -> int:
    return run(PARSER.parse_args([str(a) for a in argv]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, model_dir: Path, log: Path):
        self.port, self.log = _free_port(), log
        self.url = f"http://127.0.0.1:{self.port}/v1"
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
        # `vllm serve` itself: its CLI reads the version of a distribution named "vllm", which
        # the CPU build (distribution vllm-cpu) does not have; the module runs the same server
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
               "--host", "127.0.0.1", "--port", str(self.port), "--served-model-name", "judge",
               "--gpu-memory-utilization", "0.1", "--enforce-eager", "--max-model-len", "1024",
               "--max-num-seqs", "4"]
        with open(log, "w") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)

    def wait_ready(self) -> float:
        start = time.monotonic()
        while time.monotonic() - start < START_TIMEOUT_S:
            if self.proc.poll() is not None:
                pytest.fail(f"vllm serve exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=5) as reply:
                    if reply.status == 200:
                        return time.monotonic() - start
            except OSError:
                time.sleep(2)
        self.stop()
        pytest.fail(f"vllm serve not ready after {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def posts(self) -> int:
        """Chat requests the server logged as answered."""
        return sum('"POST /v1/chat/completions HTTP/1.1" 200' in line
                   for line in self.log.read_text(errors="replace").splitlines())

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server's own group, nothing else
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from gpg_vl.data.synthetic import tokenizer_corpus
    from gpg_vl.models.tiny import build_tiny

    root = tmp_path_factory.mktemp("vllm_judge")
    model_dir = build_tiny(root / "tiny", family="qwen2_vl", corpus=tokenizer_corpus())
    srv = Server(Path(model_dir), root / "vllm_serve.log")
    try:
        srv.ready_s = srv.wait_ready()
        print(f"vllm serve ready in {srv.ready_s:.0f} s")
        yield srv
    finally:
        srv.stop()


def _predictions(path: Path, tag: str = "") -> Path:
    path.write_text("".join(json.dumps({"image_path": f"superCLEVR_new_{i}{tag}.png", "question": q,
                                        "ground_truth": gt, "response": r + tag}) + "\n"
                            for i, (q, gt, r) in enumerate(ROWS)))
    return path


def _score(preds: Path, out: Path, url: str, *extra) -> int:
    return cli("score", "--benchmark", "superclevr", "--predictions", preds, "--out", out,
               "--extractor", "llm", "--judge-url", url, "--judge-model", "judge", *extra)


def test_requests_reach_vllm_and_garbage_falls_back_to_the_rules(server, tmp_path_factory):
    out = tmp_path_factory.mktemp("judged")
    preds = _predictions(out / "preds.jsonl")
    before = server.posts()
    assert _score(preds, out / "o", server.url) == 0
    summary = json.loads((out / "o" / "summary.json").read_text())
    assert server.posts() - before == 3  # each response was asked once, and answered
    cached = [json.loads(line) for line in (out / "o" / "judge_cache.jsonl").read_text().splitlines()]
    assert len(cached) == 3 and all(isinstance(row["answer"], str) and row["answer"] for row in cached)
    # random weights: the replies run to max_tokens or hold no count, so none is scored
    assert summary["judge"] == {"requests": 3, "cached": 0, "garbage": 3, "failures": 0}
    assert summary["correct"] == 2 and summary["count"] == 3  # the rules' reading of the responses
    assert "3 unusable (the rules read those responses)" in (out / "o" / "report.md").read_text()
    # the same questions again: the cache answers, the server sees nothing
    assert _score(preds, out / "o", server.url) == 0
    again = json.loads((out / "o" / "summary.json").read_text())
    assert again["judge"] == {"requests": 0, "cached": 3, "garbage": 3, "failures": 0}
    assert server.posts() - before == 3 and again["correct"] == 2


def test_a_judge_that_hangs_times_out_and_stops_with_one_line(server, tmp_path, capsys):
    """The server frozen (SIGSTOP to its own group): the kernel still accepts connections, no
    reply comes, every request runs into --judge-timeout; the server resumes afterwards."""
    preds = _predictions(tmp_path / "preds.jsonl", tag=" (new)")  # not in any cache
    os.killpg(server.proc.pid, signal.SIGSTOP)
    try:
        rc = _score(preds, tmp_path / "o", server.url, "--judge-timeout", "0.5")
    finally:
        os.killpg(server.proc.pid, signal.SIGCONT)
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"gpg-vl eval: error: judge {server.url}/chat/completions did not answer 3 "
                   "requests in a row (TimeoutError: timed out)"]


def test_a_judge_that_is_down_stops_with_one_line(server, tmp_path, capsys):
    server.stop()  # the last test of the module: the same URL, nothing listening any more
    preds = _predictions(tmp_path / "preds.jsonl", tag=" (down)")
    assert _score(preds, tmp_path / "o", server.url) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did not answer 3 requests in a row" in err[0]
    assert "Connection refused" in err[0] or "URLError" in err[0]

"""``--extractor llm`` against a real OpenAI-compatible HTTP server on 127.0.0.1 (a small
stdlib server speaking /v1/chat/completions; vLLM's CPU build was not started here: see the
report): the request, caching, garbage replies, time-outs and a server that is down."""
from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gpg_vl.eval.cli import add_arguments, run

PARSER = add_arguments(argparse.ArgumentParser(prog="gpg-vl eval"))


def cli(*argv) -> int:
    return run(PARSER.parse_args([str(a) for a in argv]))


class Judge(BaseHTTPRequestHandler):
    """Answers with the last line of the response it is shown, 'garbage' mode: not JSON,
    'slow' mode: sleeps past the client's time-out, 'cut' mode: the reply ran out of tokens
    (finish_reason length), 'words' mode: a reply with no number in it."""
    mode = "ok"
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Judge.seen.append(body)
        if Judge.mode == "slow":
            time.sleep(2)
        text = body["messages"][-1]["content"].split("Response:\n", 1)[1]
        answer = text.rsplit("\n\nExtracted answer:", 1)[0].strip().splitlines()[-1].strip("* ")
        answer = "I would say several of them" if Judge.mode == "words" else answer
        finish = "length" if Judge.mode == "cut" else "stop"
        payload = b"<html>oops" if Judge.mode == "garbage" else json.dumps({"choices": [
            {"message": {"role": "assistant", "content": answer}, "finish_reason": finish}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def judge_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Judge.mode, Judge.seen = "ok", []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _preds(tmp_path, superclevr_file):
    rows = [json.loads(line) for line in superclevr_file.read_text().splitlines()][:3]
    texts = [f"Counting carefully.\n**{rows[0]['ground_truth']}**",
             f"I see some.\nIt is {rows[1]['ground_truth']}", "Hmm.\nNone of them"]
    file = tmp_path / "p.jsonl"
    file.write_text("".join(json.dumps(dict(r, response=t)) + "\n" for r, t in zip(rows, texts)))
    return file


def test_judge_reads_answers_and_caches_them(tmp_path, superclevr_file, judge_url):
    file = _preds(tmp_path, superclevr_file)
    args = ("score", "--benchmark", "superclevr", "--predictions", file, "--out", tmp_path / "o",
            "--extractor", "llm", "--judge-url", judge_url, "--judge-model", "tiny")
    assert cli(*args) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["correct"] == 2 and summary["judge"]["requests"] == 3
    assert Judge.seen[0]["model"] == "tiny" and Judge.seen[0]["temperature"] == 0
    assert "How many" in Judge.seen[0]["messages"][-1]["content"]
    assert summary["run"]["extractor"] == "llm" and summary["run"]["judge_url"] == judge_url
    assert cli(*args) == 0  # cached: nothing asked again
    assert len(Judge.seen) == 3
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["judge"]["cached"] == 3


def test_garbage_replies_fall_back_to_the_rules(tmp_path, superclevr_file, judge_url):
    Judge.mode = "garbage"
    file = _preds(tmp_path, superclevr_file)
    assert cli("score", "--benchmark", "superclevr", "--predictions", file, "--out", tmp_path / "o",
               "--extractor", "llm", "--judge-url", judge_url, "--judge-model", "tiny") == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["judge"]["garbage"] == 3 and summary["correct"] == 2  # the rules read them


@pytest.mark.parametrize("mode", ["cut", "words"])
def test_cut_off_or_unreadable_replies_are_garbage_cached_and_reported(tmp_path, superclevr_file,
                                                                       judge_url, mode):
    """A reply cut at max_tokens, or one with no count in it, is not scored: the rules read the
    original response; the reply is cached all the same (a second run asks nothing)."""
    Judge.mode = mode
    file = _preds(tmp_path, superclevr_file)
    args = ("score", "--benchmark", "superclevr", "--predictions", file, "--out", tmp_path / "o",
            "--extractor", "llm", "--judge-url", judge_url, "--judge-model", "tiny")
    for run in range(2):
        assert cli(*args) == 0
        summary = json.loads((tmp_path / "o" / "summary.json").read_text())
        assert summary["judge"]["garbage"] == 3 and summary["correct"] == 2  # the rules' reading
        assert summary["judge"]["requests"] == (3 if run == 0 else 0)
        assert "3 unusable (the rules read those responses)" in (tmp_path / "o" / "report.md").read_text()
    assert len(Judge.seen) == 3


def test_an_unanswered_request_is_a_failure_not_garbage(tmp_path, judge_url):
    from gpg_vl.eval.llm_extract import LLMExtractor

    Judge.mode = "slow"
    extractor = LLMExtractor(judge_url, "tiny", tmp_path, timeout_s=0.3)
    assert extractor.extract("How many?", "It is 3") is None
    assert extractor.stats == {"requests": 1, "cached": 0, "garbage": 0, "failures": 1}


def test_a_judge_that_times_out_or_is_down_stops_with_one_line(tmp_path, superclevr_file, judge_url, capsys):
    Judge.mode = "slow"
    file = _preds(tmp_path, superclevr_file)
    assert cli("score", "--benchmark", "superclevr", "--predictions", file, "--out", tmp_path / "o",
               "--extractor", "llm", "--judge-url", judge_url, "--judge-model", "tiny",
               "--judge-timeout", "0.3") == 2
    assert "did not answer 3 requests in a row" in capsys.readouterr().err
    assert cli("score", "--benchmark", "superclevr", "--predictions", file, "--out", tmp_path / "o2",
               "--extractor", "llm", "--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "x") == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # (the slow server's own log above)
    assert last.startswith("gpg-vl eval: error: judge http://127.0.0.1:9/v1/chat/completions")

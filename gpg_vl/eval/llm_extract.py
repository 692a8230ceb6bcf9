"""``--extractor llm``: an LLM reads the answer out of each response, as MathVista's official
pipeline does with GPT (``extract_answer.py``), through any OpenAI-compatible endpoint
(``--judge-url http://127.0.0.1:8000/v1``, ``--judge-model NAME``: vLLM, llama.cpp, OpenAI).

- Requests go to ``{judge_url}/chat/completions`` with temperature 0, one per response, with
  the question (and its choices) and the response; the judge is asked for the bare answer.
- Replies are cached in ``DIR/judge_cache.jsonl`` keyed by model, question and response, the
  unusable ones too (a judge at temperature 0 says the same again): a re-run, or a resumed
  one, asks nothing twice.
- A reply that is not JSON, empty, over ``MAX_ANSWER_CHARS``, cut off at ``max_tokens``
  (``finish_reason: length``: not a bare answer), or that the benchmark's own reading finds no
  answer in (no number for a count, no option for a choice) counts as garbage: the rule
  extractor reads the original response and the item is counted (``judge.garbage`` in
  summary.json, "judge replies" in report.md). A random-weight judge gives only garbage.
- Each request has a time-out and ``RETRIES`` retries; a request still unanswered counts in
  ``failures`` (the rules read that response); a server that does not answer at all
  (``MAX_CONSECUTIVE_FAILURES`` requests in a row) stops the run with one line naming the URL.
"""
from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from gpg_vl.errors import BadRecord, InputError

MAX_ANSWER_CHARS = 200
MAX_RESPONSE_CHARS = 8000  # the judge reads the response's last 8,000 characters
RETRIES = 2
MAX_CONSECUTIVE_FAILURES = 3
CACHE_FILE = "judge_cache.jsonl"
INSTRUCTION = (
    "You read a model's response to a question and extract its final answer. Reply with the "
    "answer only: the option letter for a multiple-choice question, a number for a numeric "
    "question (no units), otherwise the shortest text of the answer. If the response gives no "
    "answer, reply N/A.")


NOT_JSON = object()  # a reply that is not the API's JSON: garbage, and not cached


class JudgeUnavailable(InputError):
    """The judge endpoint did not answer (down, wrong URL, timing out)."""


class LLMExtractor:
    def __init__(self, url: str, model: str, cache_dir: Path, timeout_s: float = 30.0):
        self.url = url.rstrip("/") + ("" if url.rstrip("/").endswith("/chat/completions")
                                      else "/chat/completions")
        self.model, self.timeout_s = model, timeout_s
        self.cache_path = Path(cache_dir) / CACHE_FILE
        self.cache = self._read_cache()
        self.stats = {"requests": 0, "cached": 0, "garbage": 0, "failures": 0}
        self._failures_in_a_row = 0

    def _read_cache(self) -> dict[str, tuple[str, bool]]:
        cache = {}
        if self.cache_path.is_file():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    cache[row["key"]] = (row["answer"], bool(row.get("cut", False)))
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a torn line from a killed run
        return cache

    def _key(self, question: str, response: str) -> str:
        raw = json.dumps([self.model, INSTRUCTION, question, response])
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()

    def _post(self, question: str, response: str):
        """(reply text, cut off at max_tokens); NOT_JSON for a reply that is not the API's JSON;
        None when the server did not answer (counted in ``failures``)."""
        body = {"model": self.model, "temperature": 0, "max_tokens": 64, "messages": [
            {"role": "system", "content": INSTRUCTION},
            {"role": "user", "content": f"Question:\n{question}\n\nResponse:\n"
                                        f"{response[-MAX_RESPONSE_CHARS:]}\n\nExtracted answer:"}]}
        data = json.dumps(body, ensure_ascii=True).encode()
        for attempt in range(RETRIES + 1):
            request = urllib.request.Request(self.url, data=data,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                    payload = json.loads(reply.read(1_000_000).decode("utf-8", "replace"))
                self._failures_in_a_row = 0
                choice = payload["choices"][0]
                return choice["message"]["content"], choice.get("finish_reason") == "length"
            except (json.JSONDecodeError, KeyError, IndexError, TypeError):
                self._failures_in_a_row = 0
                return NOT_JSON  # the server answered, with garbage
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
                last = err
                time.sleep(0.2 * (attempt + 1))
        self.stats["failures"] += 1
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
            raise JudgeUnavailable(f"judge {self.url} did not answer {MAX_CONSECUTIVE_FAILURES} "
                                   f"requests in a row ({type(last).__name__}: {last})")
        return None

    def extract(self, question: str, response: str) -> str | None:
        """The judge's answer, or None (garbage or no answer: the rules decide)."""
        key = self._key(question, response)
        if key in self.cache:
            self.stats["cached"] += 1
            answer, cut = self.cache[key]
        else:
            self.stats["requests"] += 1
            reply = self._post(question, response)
            if reply is None:
                return None  # unanswered: a failure, not garbage
            if reply is NOT_JSON:
                self.stats["garbage"] += 1
                return None
            answer, cut = self.cache[key] = reply
            with open(self.cache_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": key, "answer": answer, "cut": cut}) + "\n")
        answer = answer.strip() if isinstance(answer, str) else ""
        if cut or not answer or len(answer) > MAX_ANSWER_CHARS:
            self.stats["garbage"] += 1
            return None
        return answer

    def summary(self) -> str:
        """One line for report.md."""
        s = self.stats
        return (f"{s['requests']} asked, {s['cached']} from the cache, {s['garbage']} unusable "
                f"(the rules read those responses), {s['failures']} unanswered")


def apply_judge(bench, predictions: list[dict], extractor: LLMExtractor) -> list[dict]:
    """Predictions whose ``response`` the judge has read: the judge's answer becomes the text
    the rules score (``judged_response`` keeps the original) and MathVista's ``extraction``."""
    out = []
    for pred in predictions:
        response = pred.get("response")
        if not isinstance(response, str) or not response.strip():
            out.append(pred)
            continue
        try:
            question = bench.problem(pred)
        except (KeyError, TypeError, IndexError):
            question = ""
        answer = extractor.extract(question, response)
        if answer is None or answer.upper() == "N/A":
            out.append(pred)
            continue
        judged = {**pred, "response": answer, "judged_response": response, "extraction": answer}
        if not _readable(bench, judged, answer):
            extractor.stats["garbage"] += 1
            out.append(pred)
            continue
        out.append(judged)
    return out


def _readable(bench, record: dict, answer: str) -> bool:
    """Whether the benchmark's own reading finds an answer in the judge's reply. A record
    missing fields or malformed keeps the reply: scoring reports the record."""
    if bench.missing_fields(record):
        return True
    try:
        return bench.score(record, answer).prediction is not None
    except BadRecord:
        return True

"""Rows in TRL's / Hugging Face's conversational format -> schema samples; choices in the prompt.

TRL's GRPO data sets give a ``prompt`` list of messages (``{"role", "content"}``, content a
string or a list of ``{"type": "text" | "image", ...}`` parts) plus ``image``/``images`` and
answer columns; chat (SFT) sets give ``messages`` ending with the assistant's answer. Both are
read as they are: the last user message's text becomes ``problem``, the images stay in
``images`` (placed before the text by the chat template, as Qwen-VL expects), the answer comes
from ``answer``, ``solution`` or ``ground_truth`` (TRL's usual names), else from the final
assistant message, and the messages themselves stay in ``prompt``, so reward functions receive
TRL's conversational ``prompts`` and ``completions``.
"""
from __future__ import annotations

import json
import string

ANSWER_COLUMNS = ("answer", "solution", "ground_truth")


def is_conversational_row(row: dict) -> bool:
    """A row with a ``prompt`` or ``messages`` list of role/content messages."""
    for key in ("prompt", "messages"):
        value = row.get(key)
        if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m
                                                     for m in map(_decoded, value)):
            return True
    return False


def message_text(message: dict) -> str:
    """The text of one message (its text parts joined; image parts left out)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text") or "" for p in content
                         if isinstance(p, dict) and p.get("type") == "text" and p.get("text"))
    return ""


def _decoded(value):
    """``datasets`` stores parts of differing shapes as JSON strings (its ``Json`` feature)."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _clean(messages: list) -> list[dict]:
    """Plain messages: JSON-encoded parts decoded, Arrow's None padding (a struct column holds
    every key of every row) dropped."""
    out = []
    for m in map(_decoded, messages):
        content = _decoded(m.get("content"))
        if isinstance(content, list):
            content = [{k: v for k, v in p.items() if v is not None}
                       for p in map(_decoded, content) if isinstance(p, dict)]
        out.append({"role": m["role"], "content": content})
    return out


def read_row(row: dict) -> dict:
    """A row without an adapter: conversational rows converted, TRL's standard ``prompt`` string
    taken as ``problem``, anything else as it is (already in the schema)."""
    if is_conversational_row(row):
        return from_conversation(row)
    row = dict(row)
    if row.get("problem") is None and isinstance(row.get("prompt"), str):
        row["problem"] = row["prompt"]
    return row


def from_conversation(row: dict) -> dict:
    """A conversational row as a schema sample (see the module docstring); other columns pass through."""
    sample = {k: v for k, v in row.items() if k not in ("prompt", "messages")}
    messages = _clean(row.get("prompt") if isinstance(row.get("prompt"), list) else row["messages"])
    answer = next((row[c] for c in ANSWER_COLUMNS if row.get(c) is not None), None)
    if messages and messages[-1]["role"] == "assistant":  # a chat (SFT) row: the reply is the answer
        answer = answer if answer is not None else message_text(messages[-1])
        messages = messages[:-1]
    if sample.get("images") is None and sample.get("image") is None:  # images given inside the messages
        inline = [p.get("image") or p.get("url") or p.get("path") for m in messages
                  if isinstance(m["content"], list) for p in m["content"] if p.get("type") == "image"]
        if inline and all(isinstance(ref, str) for ref in inline):
            sample["images"] = inline
    users = [m for m in messages if m["role"] == "user"]
    if users:
        sample["problem"] = message_text(users[-1])
    if answer is not None:
        sample["answer"] = answer
    sample["prompt"] = messages
    return sample


LETTERS = string.ascii_uppercase


def with_choices(sample: dict) -> dict:
    """``problem`` followed by the options as ``A. ...`` lines (``data.choices_in_prompt``)."""
    choices = sample.get("choices")
    if not choices:
        return sample
    lines = [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices[:len(LETTERS)])]
    return {**sample, "problem": f"{sample.get('problem', '').rstrip()}\n" + "\n".join(lines)}

"""One answer-extraction layer for free-text responses, shared by every benchmark.

It reads a response as a careful grader would (the role GPT plays in MathVista's official
``extract_answer.py``):

1. **Explicit answer statements first**: ``<answer>`` tags, ``\\boxed{}``, "the answer is",
   "Answer:", "the correct option is", "B is the correct answer". The statement nearest the end
   wins ("The answer is 3 ... wait ... the answer is 4" gives 4); "the answer is:" with the
   answer on the next line reads that line.
2. **Several different answers score nothing**: two ``<answer>`` blocks that differ, "A or B",
   "3 or 4", two different boxes on the final line: a hedge (``Answer.hedge``), wrong everywhere.
3. **Without a statement**, a short response is the answer; a long one is read from its last
   line / last sentence only (a final letter, a choice text, "... = 14").
4. **Similarity is a last resort**: only a short response, not a refusal, close to exactly one
   choice text (never the edit distance over a whole chain of thought, which credits refusals).
5. **Reasoning-model markup**: the text after a closed ``<think>`` block is read (the block's
   guesses are scratch work); LaTeX answer markup reads as plain text (``\\text{B}``,
   ``45^\\circ``, ``1{,}200``); a single markdown-bold number answers an unstated response;
   tables and code after the conclusion are skipped; Chinese conclusions ("答案是 C", "选项为C").

Every function is linear in its input after capping it at ``MAX_RESPONSE_CHARS`` (the head and
the tail are kept: the answer is stated near one end), and the only quadratic step, the edit
distance, runs on strings of at most ``MAX_SIMILAR_CHARS`` characters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_RESPONSE_CHARS = 20_000
MAX_STATEMENT_CHARS = 400  # an answer statement's text is read up to this many characters
MAX_SIMILAR_CHARS = 120  # the similarity fallback only reads responses this short
MAX_DIGITS = 30  # a longer digit run is no answer; it reads as "inf"

# Unicode minus signs and full-width digits / punctuation read as ASCII (NFKC would also turn
# "cm²" into "cm2", changing the answer).
_MINUS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-",
                        "\uff0e": ".", "\u3002": ".", "\uff0c": ",", "\uff1b": ";", "\uff08": "(", "\uff09": ")",
                        **{chr(0xFF10 + i): str(i) for i in range(10)},
                        **{chr(0xFF21 + i): chr(65 + i) for i in range(26)}})
_TAG = re.compile(r"<(/?)answer>", re.IGNORECASE)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
# "the (final|correct) answer is", "Answer:", "the correct option is", "**Final Answer:**".
# Only literal words and bounded gaps, so matching is linear.
_STATEMENT = re.compile(
    r"(?:(?:答案|选项|選項)(?:选项|選項)?(?:应该是|應該是|应该为|应是|应为|是|为|為|选|選)[ \t]*[:：]?"
    r"|答案[ \t]*[:：]|\bfinal[ \t]+(?:value|result)[ \t]+(?:is|=)"  # "... and the final value is 2"
    r"|\b(?:(?:final|correct|right|best|most\s+likely)\s+)?"
    r"(?:answer|option|choice)(?:\s+letter)?\b\**[ \t]*"
    r"(?:(?:is|should\s+be|would\s+be|will\s+be|must\s+be|=|would\s+have\s+to\s+be)\b"
    r"(?:[ \t]+(?:therefore|thus|then|likely|probably|clearly|indeed|simply))?|[:：]))"
    r"[ \t*:]*", re.IGNORECASE)
# "B is the correct answer", "(B) is correct", "option B is right".
_LETTER_FIRST = re.compile(
    r"(?:\b(?:option|choice)[ \t]+)?(?<![\w(])\(?([A-Z])\)?[ \t]+is[ \t]+(?:the[ \t]+)?"
    r"(?:correct|right|best)\b"
    r"|(?:选项|選項)[ \t]*\(?([A-Z])\)?[ \t]*(?:是|为)?[ \t]*(?:正确|正確)"  # "选项A正确"
    r"|(?:^|(?<=[,.;:\s]))(?:选|選)[ \t]*\(?([A-Z])\)?(?![A-Za-z])")  # "..., 选 C"
_REFUSAL = re.compile(
    r"\b(?:cannot|can ?not|can't|unable to|not possible to|impossible to|insufficient|"
    r"not enough information|i'm sorry|i am sorry|sorry|none of the|not clear|unclear)\b",
    re.IGNORECASE)
_NUMBER = re.compile(
    r"(?<![\w.])(-)?[ \t]?(\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(\.\d+)?(?:[ \t]*/[ \t]*(\d+)(?![\d.]))?")
_FRAC = re.compile(r"(-)?\\[dt]?frac\{(-?\d+(?:\.\d+)?)\}\{(\d+(?:\.\d+)?)\}")
_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
          "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
          "nineteen": 19, "twenty": 20}
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.IGNORECASE)
_OR = re.compile(r"\b(?:or|and/or)\b|/", re.IGNORECASE)
# Where an answer clause ends: a new line, a sentence end, a reason.
_CLAUSE_END = re.compile(
    r"\n|\.(?:\s|$)|;|,?\s+(?:because|since|as|which|so|but|given|due|according|therefore|"
    r"this|that|where|while)\b|,\s", re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    """What a response states. ``text``: the answer text (None when nothing is stated);
    ``source``: tag | boxed | statement | response | last_line; ``hedge``: several different
    answers were given (then ``text`` is None and every benchmark scores the item wrong)."""

    text: str | None
    source: str = "none"
    hedge: bool = False


def clean(response) -> str:
    """The response as text, full-width digits and letters and Unicode minus signs as ASCII,
    and capped at MAX_RESPONSE_CHARS (its first quarter and last three quarters kept)."""
    if not isinstance(response, str):
        return ""
    if len(response) > MAX_RESPONSE_CHARS:
        head = MAX_RESPONSE_CHARS // 4
        response = response[:head] + "\n" + response[-(MAX_RESPONSE_CHARS - head):]
    return response.translate(_MINUS)


def _key(text: str) -> str:
    return re.sub(r"[\s*$`\"'.]+", "", text).casefold()


def tag_blocks(text: str) -> list[str]:
    """Contents of the complete ``<answer>...</answer>`` blocks, in order (one pass)."""
    blocks, start = [], None
    for m in _TAG.finditer(text):
        if not m.group(1):
            start = m.end()
        elif start is not None:
            blocks.append(text[start:m.start()].strip())
            start = None
    return blocks


def _boxes(text: str) -> list[tuple[int, str]]:
    """(position, content) of every ``\\boxed{}`` whose braces balance (one stack pass)."""
    starts = {m.end() - 1: m.start() for m in _BOXED.finditer(text)}
    if not starts:
        return []
    out, stack = [], []
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            open_at = stack.pop()
            if open_at in starts:
                out.append((starts[open_at], text[open_at + 1:i].strip()))
    return sorted(out)


def _line_after(text: str, pos: int) -> str:
    """The rest of the line from ``pos``; when that is empty, the next non-empty line."""
    end = text.find("\n", pos, pos + MAX_STATEMENT_CHARS)
    line = text[pos:end if end >= 0 else pos + MAX_STATEMENT_CHARS]
    if not line.strip(" \t*:") and end >= 0:
        rest = text[end + 1:end + 1 + MAX_STATEMENT_CHARS]
        line = next((ln for ln in rest.splitlines() if ln.strip()), "")
    return line[:MAX_STATEMENT_CHARS]


_LATEX_WRAP = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mathit|operatorname)\s*\{([^{}]*)\}")
_LATEX_PLAIN = [(re.compile(r"\^\s*\{?\\circ\}?|\\degree\b"), "°"), (re.compile(r"\\%"), "%"),
                (re.compile(r"\\[,;:! ]|\\(?:left|right)\b|\\(?:quad|qquad)\b"), " ")]


def plain_latex(text: str) -> str:
    """LaTeX answer markup as plain text: ``\\text{B}`` -> B, ``45^\\circ`` -> 45°, ``8\\%`` ->
    8%, spacing commands dropped (reasoning models box their answers this way)."""
    text = text.replace("{,}", ",")  # 1{,}200
    if "\\" not in text:
        return text
    for _ in range(3):  # nested wrappers: \textbf{\text{(B)}}
        text, n = _LATEX_WRAP.subn(r"\1", text)
        if not n:
            break
    for pattern, repl in _LATEX_PLAIN:
        text = pattern.sub(repl, text)
    return text


def _tidy(text: str) -> str:
    text = plain_latex(text).strip().strip("*").strip()
    if text.startswith("$") and text.count("$") == 2 and text.endswith(("$", "$.")):
        text = text.replace("$", "")
    return text.strip().rstrip(".").strip()


_NEXT_QUESTION = re.compile(r"\n\s*(?:Question|Q|Hint)\s*\d*\s*:", re.IGNORECASE)


_THINK_END = re.compile(r"</think>", re.IGNORECASE)
_THINK_START = re.compile(r"<think>", re.IGNORECASE)


def after_thinking(text: str) -> str:
    """The text after a closed ``<think>...</think>`` block when it says anything: the block
    is scratch work (guesses, "wait, no"), the answer follows it (Qwen3, R1-style models)."""
    ends = list(_THINK_END.finditer(text))
    if ends and text[ends[-1].end():].strip():
        return text[ends[-1].end():]
    return text


def unfinished_thinking(response) -> bool:
    """An opened ``<think>`` never closed: the response stopped while reasoning (the token
    limit), so only an explicit answer statement in it counts."""
    text = clean(response)
    return bool(_THINK_START.search(text)) and not _THINK_END.search(text)


def own_answer(response, whole: bool = False) -> str:
    """The response up to a new "Question:" it goes on to invent (base and few-shot models
    continue with made-up exercises; a grader reads the answer to the question asked).
    ``whole``: the text MathVista's GPT extractor reads instead (the official protocol's
    stand-in): the last exercise of the response that is answered, by an answer statement or a
    concluding "Therefore ... 541" (GPT reads the final answer given, measured on the released
    outputs: docs/benchmarks.md); the first when the invented ones are left unanswered."""
    text = after_thinking(clean(response))
    starts = [m.start() for m in _NEXT_QUESTION.finditer(text)]
    if not starts or not text[:starts[0]].strip():
        return text
    if not whole:
        return text[:starts[0]]
    segments = [text[a:b] for a, b in zip([0] + starts, starts + [len(text)])]
    for segment in reversed(segments[1:]):
        if _answered(segment):
            return segment
    return segments[0]


_CONCLUSION = re.compile(r"(?:^|\n|[.:]\s)[\s*\-]*(?:therefore|thus|hence|so|in total|total)\b[^\n]{0,200}?\d",
                         re.IGNORECASE)


def _answered(segment: str) -> bool:
    return find_answer(segment).text is not None or bool(_CONCLUSION.search(segment))


def find_answer(response, whole: bool = False) -> Answer:
    """The answer a response states (module docstring, steps 1-2); ``text`` None when none is."""
    text = own_answer(response, whole)
    if not text.strip():
        return Answer(None)
    blocks = tag_blocks(text)
    if blocks:
        if len({_key(b) for b in blocks}) > 1:
            return Answer(None, "tag", hedge=True)
        inner = find_answer(blocks[-1]) if ("answer" in blocks[-1].lower()
                                            or "boxed" in blocks[-1]) else None
        if inner is not None and (inner.text or inner.hedge):
            return Answer(inner.text, "tag", inner.hedge)
        return Answer(_tidy(blocks[-1]) or None, "tag")
    found: list[tuple[int, str, str]] = [(pos, "boxed", body) for pos, body in _boxes(text)]
    for m in _STATEMENT.finditer(text):
        found.append((m.start(), "statement", _line_after(text, m.end())))
    for m in _LETTER_FIRST.finditer(text):
        found.append((m.start(), "statement", next(g for g in m.groups() if g)))
    found = [f for f in found if _tidy(f[2])]
    if not found:
        return Answer(None)
    found.sort(key=lambda f: f[0])
    pos, source, body = found[-1]
    if source == "boxed":  # two different boxes on the final line: a hedge
        line_start = text.rfind("\n", 0, pos) + 1
        stated = [p for p, s, _ in found if s == "statement" and p < pos]
        start = max([line_start] + stated)  # "\boxed{3} ... final answer: \boxed{4}" is no hedge
        same_line = {_key(b) for p, s, b in found if s == "boxed" and p >= start}
        if len(same_line) > 1:
            return Answer(None, "boxed", hedge=True)
    elif "boxed" in body:
        boxed = _boxes(body)
        if boxed:
            body = boxed[-1][1]
    return Answer(_tidy(body), source)


def first_clause(text: str) -> str:
    """The answer clause of a statement: up to its first sentence end, reason or comma
    ("14 because the sides ... minus 2" -> "14"); reads at most MAX_STATEMENT_CHARS."""
    text = text[:MAX_STATEMENT_CHARS]
    m = _CLAUSE_END.search(text)
    return (text[:m.start()] if m else text).strip()


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text or ""))


# -- numbers ---------------------------------------------------------------------------------
def numbers_in(text: str, words: bool = False) -> list[tuple[int, float]]:
    """(position, value) of every number: digits with Unicode minus, thousands separators,
    decimals, a/b and ``\\frac{a}{b}``; units, '%' and '°' after them are ignored. ``words``:
    also "zero" ... "twenty"."""
    text = clean(text)
    out: list[tuple[int, float]] = []
    for m in _FRAC.finditer(text):
        den = float(m.group(3))
        if den:
            value = float(m.group(2)) / den
            out.append((m.start(), -value if m.group(1) else value))
    body = _FRAC.sub(lambda m: " " * len(m.group(0)), text) if out else text
    for m in _NUMBER.finditer(body):
        sign, whole, frac, den = m.groups()
        digits = whole.replace(",", "")
        if len(digits) > MAX_DIGITS:
            out.append((m.start(), float("inf")))
            continue
        value = float(digits + (frac or ""))
        if den is not None:
            if int(den) == 0 or len(den) > MAX_DIGITS:
                continue
            value /= int(den)
        out.append((m.start(), -value if sign else value))
    if words:
        out += [(m.start(), float(_WORDS[m.group(1).lower()])) for m in _WORD.finditer(text)]
    return sorted(out)


def _distinct(values: list[float]) -> list[float]:
    seen: list[float] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def stated_number(text: str) -> tuple[float | None, bool]:
    """(value, hedge) of the number an answer statement gives: in its first clause, the number
    after the last '=', else its first number; "3 or 4" is a hedge."""
    clause = first_clause(text) or text
    nums = numbers_in(clause, words=True) or numbers_in(text[:MAX_STATEMENT_CHARS], words=True)
    if not nums:
        return None, False
    eq = clause.rfind("=")
    after = [v for p, v in nums if p > eq] if eq >= 0 else []
    if after:
        return after[0], False
    if len(_distinct([v for _, v in nums])) > 1 and _OR.search(clause):
        return None, True
    return nums[0][1], False


def sentences(text: str) -> list[str]:
    """The sentences and lines of ``text``, in order."""
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


_BOLD = re.compile(r"\*\*([^*\n]{1,40})\*\*")
_SUPPORT = re.compile(r"```[^`]*(?:```|$)|^(?:[ \t]*\||[^\n]*[ \t]\|[ \t])[^\n]*$", re.MULTILINE)
_THERE_ARE = re.compile(r"(?:in the \w+,\s*)?there (?:are|were|is|was)\s+", re.IGNORECASE)


def unstated_number(text: str, whole: bool = False) -> float | None:
    """The number of a response that states no answer: a short response's only number, else
    from the last sentence holding a number: the one after its last '=' or ' is ', else its
    last number."""
    text = own_answer(text, whole)
    short = len(text) <= 2 * MAX_SIMILAR_CHARS
    nums = numbers_in(text, words=short)
    if not nums:
        return None
    if len(_distinct([v for _, v in nums])) == 1:
        return nums[0][1]
    bold = _distinct([v for m in _BOLD.finditer(text) for _, v in numbers_in(m.group(1))])
    if len(bold) == 1:  # "It is reached in the year **2009**." (markdown marks the answer)
        return bold[0]
    text = _SUPPORT.sub("\n", text)  # a table or code after the answer is no conclusion
    there = _THERE_ARE.match(text.strip())
    if there and short:  # "There are two bars with values smaller than 0."
        found = numbers_in(text.strip()[there.end():], words=True)
        if found and found[0][0] == 0:
            return found[0][1]
    for sentence in reversed(sentences(text[-4000:])):
        found = numbers_in(sentence, words=short)
        if not found:
            continue
        for mark in ("=", " is ", " are ", " be ", " equals ", " of "):
            at = sentence.rfind(mark)
            after = [v for p, v in found if p > at] if at >= 0 else []
            if after:
                return after[0]
        return found[-1][1]
    return None


def read_number(response, whole: bool = False) -> tuple[Answer, float | None]:
    """The answer and its number for a numeric question; None (wrong) on a hedge or nothing."""
    answer = find_answer(response, whole)
    if answer.hedge:
        return answer, None
    if answer.text is not None:
        value, hedge = stated_number(answer.text)
        return (Answer(None, answer.source, True), None) if hedge else (answer, value)
    if not whole and unfinished_thinking(response):
        return Answer(None, "response"), None
    if is_refusal(" ".join(sentences(own_answer(response, whole))[-2:])):
        return Answer(None, "response"), None  # "... so I cannot determine the exact value."
    value = unstated_number(response, whole)
    return Answer(clean(response).strip()[-MAX_STATEMENT_CHARS:] or None, "response"), value

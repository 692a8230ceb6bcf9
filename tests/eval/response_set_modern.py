"""A second hand-labelled MathVista response set: the free text of 2025-2026 reasoning models.

Qwen2.5-VL / Qwen3-VL / InternVL3 / R1-style models write long chains of thought, ``<think>``
blocks before the answer (with guesses they later drop), ``\\boxed{}`` (also in display math,
around ``\\text{}`` or ``\\textbf{}``), markdown ("**Answer:** B", "### Final Answer"), "Final
answer: (B) 3", LaTeX numbers (``\\frac{4}{5}``, ``45^\\circ``, ``12\\text{ cm}``, ``8\\%``,
``3.0`` for 3) and units. Each style below commits to one option or value; the verdict beside
it is written by hand: ``True`` when that option / value is the record's answer, ``False`` when
it is another one, or when the text hedges between several, stops before concluding, or
refuses. The verdict depends only on what the text commits to, never on gpg-vl's code.
Built on real testmini records, seeded (``build``), in the same form as ``response_set``.
"""
from __future__ import annotations

import random
from fractions import Fraction

# -- multiple choice: fmt(letter, text, other_letter, other_text, latex_text) -> response --------
MC_STYLES = {
    "think_then_bold_letter": lambda L, T, O, OT, X: (
        f"<think>\nOkay, let me look at the figure. Option {O} says {OT}, which looked right at "
        f"first. Hmm, maybe {O}? Wait, no: the scale says otherwise. Checking again, {T} fits.\n"
        f"</think>\n\n**{L}**"),
    "think_statement_other_then_letter": lambda L, T, O, OT, X: (
        f"<think>\nFirst guess: the answer is {O}. Wait, that ignores the scale of the axis. "
        f"Recomputing with the scale, the value is {T}.\n</think>\n\n{L}"),
    "answer_bold_label": lambda L, T, O, OT, X: (
        f"To solve this, compare each option with the figure.\n\n- ({O}) {OT}: does not match "
        f"the figure.\n- ({L}) {T}: matches.\n\n**Answer:** {L}"),
    "final_answer_paren_text": lambda L, T, O, OT, X: (
        f"Step 1: read the figure.\nStep 2: eliminate ({O}).\n\nFinal answer: ({L}) {T}"),
    "boxed_display_heading": lambda L, T, O, OT, X: (
        f"### Step 1: Analyse the figure\nOption ({O}) is too large.\n\n### Final Answer\n"
        f"\\[\n\\boxed{{{L}}}\n\\]"),
    "boxed_text_letter": lambda L, T, O, OT, X: (
        f"Comparing the options, ({O}) can be ruled out.\n\nThe final answer is "
        f"$\\boxed{{\\text{{{L}}}}}$."),
    "boxed_textbf_paren": lambda L, T, O, OT, X: (
        f"Hence the correct choice is \\(\\boxed{{\\textbf{{({L})}}}}\\)."),
    "correct_option_bold_paren": lambda L, T, O, OT, X: (
        f"Option ({O}) would need a larger angle. Thus, the correct option is **({L})**."),
    "answer_bold_letter_text": lambda L, T, O, OT, X: f"**Answer: {L}. {T}**",
    "markdown_heading_letter": lambda L, T, O, OT, X: (
        f"## Reasoning\nThe figure rules out ({O}).\n\n## Answer\n\n{L}"),
    "plain_letter": lambda L, T, O, OT, X: f"{L}",
    "think_answer_tags": lambda L, T, O, OT, X: (
        f"<think>\nThe options are {O} and {L} mostly. {OT} is wrong.\n</think>\n<answer>{L}</answer>"),
    "boxed_choice_latex": lambda L, T, O, OT, X: (
        f"Working through the figure step by step, the result is {X}.\n\nTherefore, the answer "
        f"is $\\boxed{{{X}}}$."),
    "think_long_then_correct_answer_colon": lambda L, T, O, OT, X: (
        "<think>\n" + "Let me measure each part of the figure again. " * 6 +
        f"So it is not {O}.\n</think>\n\nThe correct answer is **{L}**: {T}."),
    "chinese_answer_colon": lambda L, T, O, OT, X: f"由图可知，选项{O}不符合。\n\n答案：{L}",
    "qwen_therefore_bold_text": lambda L, T, O, OT, X: (
        f"Looking at the image, ({O}) {OT} does not fit.\n\nTherefore, the correct answer is:\n\n"
        f"**({L}) {T}**"),
    "final_answer_bold_boxed": lambda L, T, O, OT, X: (
        f"Eliminating ({O}), one option remains.\n\n**Final Answer:** $\\boxed{{{L}}}$"),
    "answer_is_letter_then_why": lambda L, T, O, OT, X: (
        f"The answer is **{L}**.\n\n**Why not {O}?** Because {OT} contradicts the figure."),
    "qwen3_display_final": lambda L, T, O, OT, X: (
        f"</think>\n\nTo determine the answer, we analyse the figure.\n\n### Step 1: Compare\n"
        f"({O}) {OT} is inconsistent with the labels.\n\n---\n\n### \u2705 Final Answer:\n"
        f"$$\n\\boxed{{{L}}}\n$$"),
    "answer_is_option_bold": lambda L, T, O, OT, X: f"After comparing, the answer is option **{L}**.",
    "boxed_mathrm": lambda L, T, O, OT, X: f"Hence $\\boxed{{\\mathrm{{{L}}}}}$.",
    "boxed_then_text": lambda L, T, O, OT, X: f"The answer is $\\boxed{{{L}}}$ ({T}).",
    "boxed_letter_dot_text": lambda L, T, O, OT, X: f"So we get\n\n\\boxed{{{L}. {T}}}",
    "minerva_final": lambda L, T, O, OT, X: (
        f"Option {O} is too small.\nFinal Answer: The final answer is $\\boxed{{{L}}}$. I hope it "
        f"is correct."),
    "chinese_full_sentence": lambda L, T, O, OT, X: f"经过计算，选项{O}不成立。\n\n因此，正确答案是 {L}。",
    "bold_choice_text_last_line": lambda L, T, O, OT, X: (
        "Let me reason about the figure. " * 8 + f"\n\nSo the right option is the one that "
        f"reads {T}.\n\n**{T}**"),
    "option_colon_text": lambda L, T, O, OT, X: f"Answer: Option {L}: {T}",
}
# Styles that commit to nothing or to several options: a careful grader credits none.
MC_NO_CREDIT = {
    "think_unfinished": lambda L, T, O, OT, X: (
        f"<think>\nThe options are {L} and {O}. Let me compare them with the scale of the "
        f"figure; I need to check the axis labels first before deciding anything"),
    "bold_two_letters": lambda L, T, O, OT, X: f"**Answer:** {L} or {O}",
    "boxed_two_letters": lambda L, T, O, OT, X: f"The answer could be $\\boxed{{{L}}}$ or $\\boxed{{{O}}}$.",
    "modern_refusal": lambda L, T, O, OT, X: (
        "I'm unable to determine this from the image provided, since the relevant values are "
        "not legible."),
}

# -- free form: fmt(value, latex_value, wrong_value) -> response ------------------------------
NUM_STYLES = {
    "boxed_latex_value": lambda v, X, w: f"Adding the parts gives the result.\n\n$\\boxed{{{X}}}$",
    "think_then_answer_is": lambda v, X, w: (
        f"<think>\nLet me count. I get {w}? No, I counted one twice. So {v}.\n</think>\n\n"
        f"The answer is {v}."),
    "think_statement_other_then_bold": lambda v, X, w: (
        f"<think>\nFirst estimate: the answer is {w}. Hmm, recount the bars carefully...\n"
        f"</think>\n\n**{v}**"),
    "integer_as_decimal": lambda v, X, w: f"Therefore the value is $\\boxed{{{v}.0}}$." if "." not in v
    else f"Therefore the value is $\\boxed{{{v}}}$.",
    "degrees_latex": lambda v, X, w: f"So the measure of the angle is $\\boxed{{{v}^\\circ}}$.",
    "units_text_boxed": lambda v, X, w: f"The length is therefore \\(\\boxed{{{v}\\text{{ cm}}}}\\).",
    "final_answer_units": lambda v, X, w: (
        f"1. Read the scale: 1 unit = 2 m.\n2. Multiply by the count.\n\nFinal answer: {v} meters"),
    "display_boxed": lambda v, X, w: f"Thus,\n\\[\n\\boxed{{{v}}}\n\\]",
    "mathbf": lambda v, X, w: f"Putting it together, the answer is \\(\\mathbf{{{v}}}\\).",
    "percent_latex": lambda v, X, w: f"The share is $\\boxed{{{v}\\%}}$.",
    "approx_latex": lambda v, X, w: f"Using the formula, the length is approximately \\( {v} \\).",
    "heading_bold": lambda v, X, w: (
        f"### Step 1\nFind the base: 12.\n### Step 2\nFind the height: 7.\n\n### Final Answer\n"
        f"The value is **{v}**."),
    "steps_thus_final": lambda v, X, w: (
        f"1. The first bar is 12 and the second 7, so 12 + 7 = 19.\n2. Subtract the overlap.\n\n"
        f"Thus, the final answer is {v}."),
    "answer_then_verification": lambda v, X, w: (
        f"**Answer:** {v}\n\n**Verification:** 12 + 7 = 19 and 19 - 7 = 12, consistent."),
    "boxed_text_number": lambda v, X, w: f"Final Answer: $\\boxed{{\\text{{{v}}}}}$",
    "qwen_final_bold_latex": lambda v, X, w: (
        f"We have $a = 3$ and $b = 4$, so the requested quantity follows.\n\n"
        f"**Final Answer:** $\\boxed{{{X}}}$"),
    "chinese_answer": lambda v, X, w: f"由图可知，共有 3 组，每组若干。\n\n答案：{v}",
    "think_answer_tags": lambda v, X, w: f"<think>\nMaybe {w}. No: {v}.\n</think>\n<answer>{v}</answer>",
    "display_dollars_boxed": lambda v, X, w: f"Therefore:\n\n$$\n\\boxed{{{v}}}\n$$",
    "boxed_units_squared": lambda v, X, w: f"The area is $\\boxed{{{v} \\, \\text{{cm}}^2}}$.",
    "boxed_latex_thousands": lambda v, X, w: (
        f"Summing the four bars gives the total.\n\n$\\boxed{{{_latex_thousands(v)}}}$"),
    "answer_in_parens_latex": lambda v, X, w: f"So, the answer is \\( {v} \\).",
    "final_answer_check_mark": lambda v, X, w: (
        f"---\n\n\u2705 **Final Answer:** $\\boxed{{{v}}}$\n\n**Note:** the earlier estimate "
        f"of {w} counted the axis label."),
    "bold_answer_units": lambda v, X, w: f"**Answer: {v} cm\u00b2**",
    "approx_sign": lambda v, X, w: f"The length is $AB \\approx {v}$.",
    "think_then_boxed_with_recheck": lambda v, X, w: (
        f"<think>\nThe total might be {w}. Let me recheck: no, it is {v}.\n</think>\n\n"
        f"Adding the values carefully gives $\\boxed{{{v}}}$."),
}
NUM_NO_CREDIT = {
    "boxed_two": lambda v, X, w: f"It is either $\\boxed{{{v}}}$ or $\\boxed{{{w}}}$.",
    "think_unfinished": lambda v, X, w: (
        f"<think>\nThe bars show {v} and {w}. I need to check which one the question asks "
        f"about, so let me reread the question and the legend before I"),
    "modern_refusal": lambda v, X, w: (
        "I'm unable to read the exact values from this image, so I can't give a number."),
}


def _latex_thousands(v: str) -> str:
    """``1200`` as LaTeX writes thousands: ``1{,}200`` (``v`` unchanged below 1000)."""
    whole, _, frac = v.lstrip("-").partition(".")
    if len(whole) <= 3:
        return v
    grouped = f"{int(whole):,}".replace(",", "{,}")
    return ("-" if v.startswith("-") else "") + grouped + (f".{frac}" if frac else "")


def _letter(i: int) -> str:
    return chr(ord("A") + i)


def latex_choice(text: str) -> str | None:
    """An option's text as a reasoning model writes it inside ``\\boxed{}``, or None where the
    rendering would be ambiguous (then the style is not built for that record)."""
    t = text.strip()
    if t.endswith("°") and t[:-1].replace(".", "", 1).isdigit():
        return t[:-1] + "^\\circ"
    if t.startswith("\\frac") or t.replace(".", "", 1).isdigit():
        return t
    if t.replace(" ", "").replace("'", "").isalpha() and len(t) <= 40:
        return f"\\text{{{t}}}"
    return None


def latex_value(answer: str) -> str:
    """A float answer as a fraction where one with a small denominator is exact (0.8 ->
    ``\\frac{4}{5}``), else the number as written."""
    value = Fraction(answer)
    if value.denominator in (2, 4, 5, 8) and "." in answer:
        sign = "-" if value < 0 else ""
        return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"
    return answer


def mc_items(record: dict, rng: random.Random) -> list[dict]:
    choices = [str(c) for c in record["choices"]]
    gold = choices.index(record["answer"])
    wrong = rng.choice([i for i, c in enumerate(choices) if c != record["answer"]])
    other_for = {gold: wrong, wrong: gold}
    items = []
    for name, fmt in MC_STYLES.items():
        target = rng.choice([gold, gold, wrong])
        o = other_for[target]
        latex = latex_choice(choices[target])
        if name == "boxed_choice_latex" and (latex is None or choices.count(choices[target]) > 1):
            continue
        response = fmt(_letter(target), choices[target], _letter(o), choices[o], latex)
        items.append({"pid": record["pid"], "style": name, "response": response,
                      "label": choices[target] == record["answer"]})
    for name, fmt in MC_NO_CREDIT.items():
        response = fmt(_letter(gold), choices[gold], _letter(wrong), choices[wrong], None)
        items.append({"pid": record["pid"], "style": name, "response": response, "label": False})
    return items


def _value(answer: str, offset: int) -> str:
    decimals = len(answer.split(".")[1]) if "." in answer else 0
    return f"{float(answer) + offset:.{decimals}f}"


def num_items(record: dict, rng: random.Random) -> list[dict]:
    answer = str(record["answer"])
    items = []
    for name, fmt in NUM_STYLES.items():
        wrong = rng.random() < 1 / 3
        v = _value(answer, rng.choice([1, 2, 5]) if wrong else 0)
        w = _value(answer, 3)
        items.append({"pid": record["pid"], "style": name, "label": not wrong,
                      "response": fmt(v, latex_value(v), w)})
    for name, fmt in NUM_NO_CREDIT.items():
        items.append({"pid": record["pid"], "style": name, "label": False,
                      "response": fmt(answer, latex_value(answer), _value(answer, 3))})
    return items


def build(records: list[dict], per_kind: int = 60, seed: int = 1) -> list[dict]:
    """``per_kind`` multiple-choice and ``per_kind`` numeric records, every style on each."""
    rng = random.Random(seed)
    mc = [r for r in records if r["question_type"] == "multi_choice"]
    num = [r for r in records if r["answer_type"] in ("integer", "float")]
    items = []
    for record in rng.sample(mc, per_kind):
        items += mc_items(record, rng)
    for record in rng.sample(num, per_kind):
        items += num_items(record, rng)
    return items

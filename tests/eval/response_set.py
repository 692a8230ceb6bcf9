"""A realistic, hand-labelled MathVista response set built on the real testmini records.

Each style below is free text of a kind published models write (chat models, chain-of-thought
models, R1-style tagged models), with the verdict a careful grader gives it written beside the
style by hand: ``True`` when the text states the record's answer, ``False`` when it states
another one, hedges between several, or refuses. The verdict depends only on what the style
says (the option or value it commits to), never on gpg-vl's code. Deterministic (seeded).

``python tests/eval/response_set.py OUT.jsonl`` writes the set; ``scripts/mathvista_agreement.sh``
scores it with both protocols and prints the agreement per style.
"""
from __future__ import annotations

import json
import random
import sys

# -- multiple choice: fmt(letter, text, other_letter, other_text) -> response --------------------
# The committed option is (letter, text); `other` is a different option mentioned on the way.
MC_STYLES = {
    "answer_is_letter_comma": lambda L, T, O, OT: f"The answer is {L}, as the figure shows {T}.",
    "letter_because": lambda L, T, O, OT: f"{L} because the figure clearly shows it.",
    "letter_is_correct": lambda L, T, O, OT: f"Looking at the image carefully, {L} is the correct answer.",
    "answer_colon_newline": lambda L, T, O, OT: f"Let me look at the chart.\nThe answer is:\n{L}",
    "paren_letter_text": lambda L, T, O, OT: f"({L}) {T}",
    "correct_option_paren": lambda L, T, O, OT: f"The correct option is ({L}) {T}.",
    "choice_text_only": lambda L, T, O, OT: f"{T}",
    "cot_mentions_other": lambda L, T, O, OT: (
        f"Let's examine each option. Option ({O}) {OT} does not match what we see, because the "
        f"values differ. Looking again at the figure, the best match is {T}.\n"
        f"Therefore, the answer is {L}."),
    "markdown_answer": lambda L, T, O, OT: f"**Step 1:** Read the figure.\n\n**Answer:** {L}",
    "answer_letter_text": lambda L, T, O, OT: f"Answer: {L}. {T}",
    "boxed_letter": lambda L, T, O, OT: (
        f"We compare the options. ({O}) is too small, so it is ruled out.\n"
        f"Final Answer: The final answer is $\\boxed{{{L}}}$"),
    "tagged": lambda L, T, O, OT: f"<think>Option {O} is unlikely. {T} fits.</think> <answer>{L}</answer>",
    "answer_is_text": lambda L, T, O, OT: f"Based on the image, the answer is {T}.",
    "letter_dot": lambda L, T, O, OT: f"{L}.",
    "paren_letter": lambda L, T, O, OT: f"({L})",
    "so_option_end": lambda L, T, O, OT: (
        f"The figure shows several parts. Comparing them with the choices, only one fits, "
        f"so the correct option is {L}."),
    "last_line_bold": lambda L, T, O, OT: f"Reasoning about the figure, the value is {T}.\n\n**{L}**",
    "tag_with_text": lambda L, T, O, OT: f"<think>Compare.</think><answer>({L}) {T}</answer>",
    "lowercase_statement": lambda L, T, O, OT: f"the answer is {L.lower()}",
    "changed_mind": lambda L, T, O, OT: (
        f"At first glance the answer is {O}. However, looking more closely at the scale, "
        f"that is wrong. The answer is {L}."),
    "bold_statement": lambda L, T, O, OT: f"The correct answer is: **({L}) {T}**",
    "paren_close": lambda L, T, O, OT: f"{L}) {T}",
    "i_think": lambda L, T, O, OT: f"From the picture, I think it's {L}.",
    "boxed_text_paren": lambda L, T, O, OT: f"Solution: compare ({O}) with the rest.\nThe answer is $\\boxed{{\\text{{({L})}}}}$.",
    "correct_choice_colon": lambda L, T, O, OT: f"Therefore, the correct choice is {L}: {T}.",
    "answer_colon_no_is": lambda L, T, O, OT: f"The answer: {L}",
    "my_answer": lambda L, T, O, OT: f"After checking option {O} and the others, my answer is {L}.",
    "its_text": lambda L, T, O, OT: f"It's {T}.",
    "correct_answer_label": lambda L, T, O, OT: f"Correct answer: ({L})",
    "explanation_after": lambda L, T, O, OT: (
        f"Answer: {L}\n\nExplanation: option {O} ({OT}) cannot be right because the figure "
        f"shows otherwise."),
}
# Styles that commit to nothing or to several options: a careful grader credits none.
MC_NO_CREDIT = {
    "refusal": lambda L, T, O, OT: "I'm sorry, but I cannot determine the answer from this image.",
    "hedge_letters": lambda L, T, O, OT: f"The answer is either {L} or {O}.",
    "hedge_tags": lambda L, T, O, OT: f"<answer>{L}</answer><answer>{O}</answer>",
    "hedge_boxes": lambda L, T, O, OT: f"It could be \\boxed{{{L}}} or \\boxed{{{O}}}.",
    "no_answer_cot": lambda L, T, O, OT: (
        "To solve this, we need to look at the image and the values shown in it. The figure "
        "is not clear enough to read the exact values, so more information would be needed."),
}

# -- free form: fmt(value_text) -> response; the value is the one committed to ---------------
NUM_STYLES = {
    "answer_is_because": lambda v: f"The answer is {v} because the two sides differ by 2 and 2 minus 2 is 0.",
    "plain": lambda v: f"{v}",
    "answer_colon": lambda v: f"Answer: {v}",
    "boxed_cot": lambda v: (f"First, the base is 3 and the height is 8. Adding the 2 parts "
                            f"gives the result.\n\\boxed{{{v}}}"),
    "tagged": lambda v: f"<think>We count 2 groups of 3 and some more.</think><answer>{v}</answer>",
    "equation_end": lambda v: f"We add the parts: 12 + 7 = 19, then adjust.\nSo x = {v}.",
    "final_sentence": lambda v: (f"The chart shows 4 bars. The tallest bar reaches 60 and the "
                                 f"shortest 10. Therefore, the value is {v}."),
    "units": lambda v: f"The length is {v} cm.",
    "final_answer_bold": lambda v: f"Step 1: measure.\nStep 2: compute.\n**Final Answer:** {v}",
    "there_are": lambda v: f"There are {v} objects in the image.",
    "changed_mind": lambda v: (f"The answer is 1000. Wait, that counts the axis label. "
                               f"Recounting carefully, the answer is {v}."),
    "dollar": lambda v: f"The total cost is ${v}.",
    "approximately": lambda v: f"The value is approximately {v}.",
    "answer_after_expl": lambda v: f"The answer is {v}.\n\nExplanation: there are 3 red and 2 blue items, 7 in all.",
    "difference": lambda v: f"Reading the bars: 12 and 7. The difference between the two bars is {v}.",
    "degrees": lambda v: f"The measure of angle ABC is {v}°.",
    "percent": lambda v: f"The share of the largest group is {v}%.",
    "x_equals_unit": lambda v: f"Solving the equation gives x = {v} cm",
    "bold_number": lambda v: f"Counting each one carefully:\n\n**{v}**",
}
NUM_NO_CREDIT = {
    "refusal": lambda v: "I cannot determine the exact value from the image provided.",
    "hedge_or": lambda v: f"The answer is {v} or 1000.",
    "hedge_tags": lambda v: f"<answer>{v}</answer><answer>1000</answer>",
}


def _letter(i: int) -> str:
    return chr(ord("A") + i)


def _minus(text: str) -> str:
    return text.replace("-", "\u2212")  # the Unicode minus sign models often write


def mc_items(record: dict, rng: random.Random) -> list[dict]:
    choices = [str(c) for c in record["choices"]]
    gold = choices.index(record["answer"])
    wrong = rng.choice([i for i, c in enumerate(choices) if c != record["answer"]])
    other_for = {gold: wrong, wrong: gold}
    items = []
    for name, fmt in MC_STYLES.items():
        target = rng.choice([gold, gold, wrong])  # two thirds right, one third wrong
        o = other_for[target]
        response = fmt(_letter(target), choices[target], _letter(o), choices[o])
        items.append({"pid": record["pid"], "style": name, "response": response,
                      "label": choices[target] == record["answer"]})
    for name, fmt in MC_NO_CREDIT.items():
        response = fmt(_letter(gold), choices[gold], _letter(wrong), choices[wrong])
        items.append({"pid": record["pid"], "style": name, "response": response, "label": False})
    return items


def _value_text(answer: str, wrong: bool, rng: random.Random) -> str:
    value = float(answer) + (rng.choice([1, 2, 5]) if wrong else 0)
    decimals = len(answer.split(".")[1]) if "." in answer else 0
    text = f"{value:.{decimals}f}"
    if abs(value) >= 10000 and decimals == 0:
        text = f"{int(value):,}"  # thousands separators
    return _minus(text) if text.startswith("-") else text


def num_items(record: dict, rng: random.Random) -> list[dict]:
    items = []
    for name, fmt in NUM_STYLES.items():
        wrong = rng.random() < 1 / 3
        response = fmt(_value_text(str(record["answer"]), wrong, rng))
        items.append({"pid": record["pid"], "style": name, "response": response, "label": not wrong})
    for name, fmt in NUM_NO_CREDIT.items():
        response = fmt(_value_text(str(record["answer"]), False, rng))
        items.append({"pid": record["pid"], "style": name, "response": response, "label": False})
    return items


def build(records: list[dict], per_kind: int = 60, seed: int = 0) -> list[dict]:
    """``per_kind`` multiple-choice and ``per_kind`` numeric records, every style on each."""
    rng = random.Random(seed)
    mc = [r for r in records if r["question_type"] == "multi_choice"]
    num = [r for r in records if r["answer_type"] in ("integer", "float")]
    negative = [r for r in num if str(r["answer"]).startswith("-")]
    picked_num = negative + rng.sample([r for r in num if r not in negative], per_kind - len(negative))
    items = []
    for record in rng.sample(mc, per_kind):
        items += mc_items(record, rng)
    for record in picked_num:
        items += num_items(record, rng)
    return items


if __name__ == "__main__":
    from gpg_vl.eval.benchmarks import get_benchmark

    testmini = sys.argv[2] if len(sys.argv) > 2 else "../shared/benchmarks/mathvista/testmini.json"
    rows = build(get_benchmark("mathvista").load(testmini))
    with open(sys.argv[1], "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} responses to {sys.argv[1]}")

"""A reward that varies with the completion text, so a random tiny policy gets non-degenerate groups."""


def text_length_reward(prompts, completions, **columns):
    return [(len(c) % 5) / 4.0 for c in completions]


def sparse_length_reward(prompts, completions, **columns):
    """1 for about one completion in seven: many groups are all zero (degenerate)."""
    return [1.0 if len(c) % 7 == 0 else 0.0 for c in completions]

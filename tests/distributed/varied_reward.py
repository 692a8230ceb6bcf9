"""A reward that varies with the completion text, so a random tiny policy gets non-degenerate groups."""


def text_length_reward(prompts, completions, **columns):
    return [(len(c) % 5) / 4.0 for c in completions]

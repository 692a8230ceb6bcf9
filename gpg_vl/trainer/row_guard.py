"""A row that passed the up-front checks but still fails mid-run is skipped by name; the run goes on.

The checks before training (``data/validate.py``, ``data/images.py``) cover what is known to
break a row; a file changed on disk mid-run, or a processor rule nobody listed, can still break
one. When encoding a batch fails, each row is encoded alone: a row that fails alone is named
(file, row id, the error), counted in ``bad_rows_midrun`` and replaced by a row of the same batch
that encodes, so the batch keeps its size (every rank stays in step) and the run goes on. When
every row encodes alone, the failure is not the data's: it is raised with its traceback. The
decision depends only on the data, so a resumed run takes it again instead of crashing.
"""
from __future__ import annotations

import warnings

from gpg_vl.errors import DataError


class UnusableBatch(DataError):
    """Every row of a batch failed to encode: there is nothing to train on."""


def encode_guarded(counters: dict, source: str, samples: list[dict], encode) -> tuple[dict, list[dict]]:
    """``encode(samples)``, replacing rows that fail alone: (batch, the samples actually encoded).

    ``counters`` gets ``bad_rows_midrun``; ``source`` names the data in the warning.
    """
    try:
        return encode(samples), samples
    except Exception as batch_error:  # noqa: BLE001 -- narrowed below: only rows failing alone are skipped
        failed = {}
        for i, sample in enumerate(samples):
            try:
                encode([sample])
            except Exception as exc:  # noqa: BLE001
                failed[i] = exc
        if not failed:
            raise batch_error
    good = [s for i, s in enumerate(samples) if i not in failed]
    if not good:
        raise UnusableBatch("every row of this batch failed to encode: " + "; ".join(
            f"row id {samples[i].get('id')!r}: {type(e).__name__}: {e}" for i, e in list(failed.items())[:3]))
    for i, exc in failed.items():
        counters["bad_rows_midrun"] = counters.get("bad_rows_midrun", 0) + 1
        warnings.warn(f"skipping row id {samples[i].get('id')!r} of {source} "
                      f"this step (it failed to encode: {type(exc).__name__}: {exc}); "
                      f"{counters['bad_rows_midrun']} skipped so far", RuntimeWarning, stacklevel=2)
    replaced = [good[i % len(good)] if i in failed else s for i, s in enumerate(samples)]
    return encode(replaced), replaced

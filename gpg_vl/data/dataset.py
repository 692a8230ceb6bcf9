"""Load a data set into schema samples, and check all of it before training starts.

:func:`load_samples` reads a hub id, a local folder (``load_dataset`` folder or
``save_to_disk`` output) or a local JSONL/JSON/Parquet/CSV file through ``datasets``, turns every
row into schema samples (an adapter, a column mapping, or rows already in the schema), and then
scans the whole set up front: required fields, well-formed boxes, unique ids, and (by default)
that every referenced image exists and opens. A data bug therefore stops the run in seconds with
a message naming the file, the row and the field or image path, instead of hours into training
or, worse, as a silently wrong reward.

The result, :class:`SampleSet`, is a read-only sequence backed by the Arrow table: samples are
built again when read (adapters are pure), so embedded images stay compressed on disk instead of
filling memory (CLEVR-70k embeds ~10 GB of PNGs).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from gpg_vl.console import ProgressLine, is_main_process
from gpg_vl.data.conversational import read_row, with_choices
from gpg_vl.data.adapters import AdapterContext, adapter_for_source, get_adapter
from gpg_vl.data.images import (DEFAULT_MAX_PIXELS, BadImageCounter, ImageLoadError, describe_ref,
                                open_image, probe_image, resolve_ref)
from gpg_vl.data.long_prompts import LongPromptCounter, PromptLength
from gpg_vl.data.schema import (FIELDS, OPTIONAL_FIELDS, MissingColumnError, SchemaError, column,
                                format_row, validate_sample)
from gpg_vl.errors import ConfigError, DataError, MissingInputError
from gpg_vl.data.validate import BadRowCounter, check_columns, check_sample, read_jsonl

logger = logging.getLogger(__name__)

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
CHECK_MODES = (True, False, "header")
SCAN_BATCH = 256  # rows per Arrow batch while scanning


def _looks_local(name: str) -> bool:
    """A name that is meant as a local path: a typo there must not turn into a hub download."""
    return (name.startswith(("/", "./", "../", "~")) or Path(name).suffix.lower() in FILE_BUILDERS
            or name.count("/") > 1)


def _load_table(name: str, split: str, data_files, cache_dir, bad_rows: BadRowCounter | None = None):
    """(datasets.Dataset, display name, id prefix, folder relative image paths resolve against)."""
    import datasets  # heavy: imported only when loading, so the schema/image helpers stay cheap

    path = Path(name).expanduser().resolve()  # absolute: samples keep working after a chdir
    if path.is_file():
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise DataError(f"{name}: unsupported file type {path.suffix!r}; expected {sorted(FILE_BUILDERS)}")
        if data_files is not None:
            raise DataError(f"{name}: data_files only applies to a folder or hub id, not a single file")
        good = read_jsonl(path, bad_rows or BadRowCounter("error")) if builder == "json" else None
        if good is not None:  # bad lines were skipped: build the table from the good ones
            return datasets.Dataset.from_list(good), name, path.name, str(path.parent)
        ds = datasets.load_dataset(builder, data_files={split: str(path)}, split=split, cache_dir=cache_dir)
        return ds, name, path.name, str(path.parent)
    if path.is_dir():
        if any((path / f).exists() for f in ("dataset_dict.json", "dataset_info.json", "state.json")):
            ds = datasets.load_from_disk(str(path))  # save_to_disk output (Visual-RFT ships these)
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise DataError(f"{name}: no split {split!r}; splits: {sorted(ds)}")
                ds = ds[split]
        else:
            ds = datasets.load_dataset(str(path), data_files=data_files, split=split, cache_dir=cache_dir)
        return ds, name, path.name, str(path)
    if _looks_local(name):
        raise MissingInputError(f"data file or folder not found: {name}")
    ds = datasets.load_dataset(name, data_files=data_files, split=split, cache_dir=cache_dir)
    return ds, name, name, None


def apply_column_map(row: dict, column_map: dict) -> dict:
    """The row with ``row[source]`` copied to each ``field`` of ``column_map`` (field -> source)."""
    out = dict(row)
    for field, source in column_map.items():
        out[field] = column(row, source)
    return out


def _check_column_map(column_map: dict) -> None:
    """A misspelt field would silently map nothing: unknown fields are an error."""
    known = set(FIELDS) | set(OPTIONAL_FIELDS) | {"image"}
    unknown = sorted(set(column_map) - known)
    if unknown:
        raise ConfigError(f"data.column_map has unknown schema field(s) {unknown}; fields: {sorted(known)}")


def _as_answer(value: Any) -> Any:
    """Answers are strings: 3 -> "3", 3.0 -> "3" (counts often arrive as floats from pandas)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _normalize(sample: dict, base_dir: str | None) -> dict:
    """Schema shapes: single ``image`` -> ``images``, None optionals dropped, numbers typed."""
    sample = dict(sample)
    if "image" in sample and sample.get("images") is None:
        sample["images"] = sample.pop("image")
    images = sample.get("images")
    if images is not None:
        images = list(images) if isinstance(images, (list, tuple)) else [images]
        sample["images"] = [resolve_ref(ref, base_dir) for ref in images]
    for key in OPTIONAL_FIELDS:
        if key in sample and sample[key] is None:
            del sample[key]
    if isinstance(sample.get("aliases"), dict):  # Arrow unifies struct keys across rows
        sample["aliases"] = {k: list(v) for k, v in sample["aliases"].items() if v is not None}
    if "answer" in sample:
        sample["answer"] = _as_answer(sample["answer"])
    if isinstance(sample.get("bbox"), (list, tuple)):
        sample["bbox"] = [float(v) if isinstance(v, (int, float)) else v for v in sample["bbox"]]
    if sample.get("id") is not None and not isinstance(sample["id"], str):
        sample["id"] = str(sample["id"])
    return sample


class RowMapper:
    """One source row -> its schema samples: mapping, adapter, defaults, resolved image paths."""

    def __init__(self, adapter: Callable | None, column_map: dict | None, ctx: AdapterContext,
                 id_prefix: str, default_task: str | None, choices_in_prompt: bool = False):
        self.adapter, self.column_map, self.ctx = adapter, column_map or {}, ctx
        self.id_prefix, self.default_task = id_prefix, default_task
        self.choices_in_prompt = choices_in_prompt

    def __call__(self, row: dict, index: int) -> list[dict]:
        if self.column_map:
            row = apply_column_map(row, self.column_map)
        out = self.adapter(row, self.ctx) if self.adapter else read_row(row)  # schema or TRL rows
        outs = out if isinstance(out, list) else [out]
        samples = []
        for k, sample in enumerate(outs):
            sample = _normalize(sample, self.ctx.base_dir)
            if sample.get("id") is None:
                sample["id"] = f"{self.id_prefix}:{index}" + (f":{k}" if len(outs) > 1 else "")
            elif len(outs) > 1:
                sample["id"] = f"{sample['id']}:{k}"
            if sample.get("task") is None and self.default_task:
                sample["task"] = self.default_task
            if self.choices_in_prompt:
                sample = with_choices(sample)
            if sample.get("bbox") is not None and sample.get("image_size") is None \
                    and len(sample.get("images") or []) == 1:
                sample["image_size"] = self.ctx.image_size(sample["images"][0])
            samples.append(sample)
        return samples


def _class_names(table) -> dict[str, list[str]]:
    """ClassLabel columns -> their names: Arrow stores the index, a label answer needs the name."""
    import datasets

    return {col: feature.names for col, feature in table.features.items()
            if isinstance(feature, datasets.ClassLabel)}


def _with_names(row: dict, names: dict[str, list[str]]) -> dict:
    for col, labels in names.items():
        if isinstance(row.get(col), int) and 0 <= row[col] < len(labels):
            row[col] = labels[row[col]]
    return row


def _arrow_rows(table) -> Any:
    """Rows as plain Python without decoding images (Image features stay {"bytes", "path"})."""
    names = _class_names(table)
    for batch in table.with_format("arrow").iter(batch_size=SCAN_BATCH):
        for row in batch.to_pylist():
            yield _with_names(row, names)


def _check_images(sample: dict, mode, max_pixels: int) -> list[tuple[int, int]]:
    """Every image exists and opens (``mode`` True) or has a sane header ("header", or False:
    sizes only); a given ``image_size`` must match the image, or boxes would be mapped with the
    wrong size. Returns the images' upright (W, H)."""
    sizes = []
    for ref in sample["images"]:
        if mode in ("header", False):
            sizes.append(list(probe_image(ref, max_pixels=max_pixels)))
        else:
            sizes.append(list(open_image(ref, max_pixels=max_pixels).size))
    size = sample.get("image_size")
    if size is not None and len(sizes) == 1 and [int(v) for v in size] != sizes[0]:
        raise SchemaError(f"field 'image_size' {list(size)} does not match the image "
                          f"{describe_ref(sample['images'][0])}, which is {sizes[0]} (W, H, EXIF applied)")
    return [tuple(s) for s in sizes]


class SampleSet(Sequence):
    """The checked samples of one data set: ``len``, indexing, slicing and iteration.

    Backed by the Arrow table; ``samples[i]`` re-runs the row mapping (cheap) and returns a
    fresh dict. ``skipped`` counts rows dropped for bad images (``on_bad_image="skip"``),
    ``long_prompts.skipped`` those dropped for prompts over ``max_prompt_length``.
    ``list(samples)`` materialises everything (fine for path-based data; embedded images then
    sit in memory as compressed bytes).
    """

    def __init__(self, table, mapper: RowMapper, index: list[tuple[int, int]], source: str,
                 labels: list[str] | None = None, bad_images: BadImageCounter | None = None,
                 long_prompts: LongPromptCounter | None = None):
        self._rows = table.with_format("arrow")
        self._names = _class_names(table)
        self._mapper, self._index, self.source = mapper, index, source
        self.labels = labels
        self.bad_images = bad_images or BadImageCounter()
        self.long_prompts = long_prompts or LongPromptCounter()

    @property
    def skipped(self) -> int:
        return self.bad_images.skipped

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        row_index, k = self._index[i]
        row = _with_names(self._rows[row_index].to_pylist()[0], self._names)
        sample = self._mapper(row, row_index)[k]
        if self.labels and sample.get("task") == "classification" and "labels" not in sample:
            sample["labels"] = list(self.labels)
        return sample

    def __repr__(self) -> str:
        return (f"SampleSet({self.source!r}, {len(self)} samples, {self.skipped} skipped, "
                f"{self.long_prompts.skipped} long prompts skipped)")


def _locate(error: SchemaError, display: str, row_index: int, row: dict, what: str) -> SchemaError:
    """A SchemaError raised while mapping a row, with the data, row and an example row added."""
    if isinstance(error, MissingColumnError):
        reset = (" (rows already in gpg-vl's schema or TRL's conversational format need no adapter: "
                 "data.adapter=null)" if what.startswith("adapter") else "")
        return SchemaError(f"{display}: {what} needs column {error.column!r}, which the data lacks{reset}; "
                           f"columns present: {error.available}; example row {row_index}: {format_row(row)}")
    return SchemaError(f"{display}, row {row_index}: {error}; row: {format_row(row)}")


def _scan(table, mapper: RowMapper, display: str, what: str, check_images, max_pixels: int,
          counter: BadImageCounter, prompts: LongPromptCounter,
          bad_rows: BadRowCounter) -> tuple[list[tuple[int, int]], list[str]]:
    """Map, validate, image-check and length-check every row; (kept (row, sub-sample) pairs, class labels)."""
    index, seen, labels = [], {}, set()
    # Progress only for a check that takes a while (large sets, slow disks): after 2 s.
    progress = ProgressLine(f"checking {display}", len(table), delay=2.0, every=max(1, len(table) // 10),
                            enabled=is_main_process())
    for row_index, row in enumerate(_arrow_rows(table)):
        progress.update(row_index, f"{len(index)} kept")
        try:
            samples = mapper(row, row_index)
        except SchemaError as exc:
            raise _locate(exc, display, row_index, row, what) from None
        except ImageLoadError as exc:  # an adapter read an image size
            counter.record(exc.at(display, row_index))
            continue
        for k, sample in enumerate(samples):
            check_columns(sample, display)
            try:
                validate_sample(sample, source=display, index=row_index)
            except SchemaError as exc:
                bad_rows.record(str(exc))
                continue
            problem = check_sample(sample)
            if problem is not None:
                bad_rows.record(f"{display}, row {row_index} (id {sample.get('id')!r}): {problem}")
                continue
            if check_images or prompts.active:
                try:
                    sizes = _check_images(sample, check_images, max_pixels)
                except ImageLoadError as exc:
                    counter.record(exc.at(display, row_index))
                    continue
                except SchemaError as exc:
                    raise SchemaError(f"{display}, row {row_index}: {exc}") from None
            if sample["id"] in seen:
                raise SchemaError(f"{display}, row {row_index}: duplicate id {sample['id']!r} "
                                  f"(first used in row {seen[sample['id']]})")
            seen[sample["id"]] = row_index
            try:
                if prompts.active and not prompts.keep(sample, sizes, display, row_index):
                    continue
            except ImageLoadError as exc:  # the encoder's resize rule refuses an image
                counter.record(exc.at(display, row_index))
                continue
            if sample["task"] == "classification" and sample.get("answer") is not None:
                labels.add(sample["answer"])
            index.append((row_index, k))
    progress.update(len(table), f"{len(index)} kept")
    progress.close()
    return index, sorted(labels)


def _resolve_adapter(adapter, adapter_options: dict | None, name: str) -> tuple[Callable | None, str]:
    """(adapter function or None, a description for messages)."""
    if adapter is None:
        adapter = adapter_for_source(name)
        if adapter is not None:
            logger.info("%s: using adapter %r (known source)", name, adapter)
    if adapter is None:
        if adapter_options:
            raise ConfigError("data.adapter_options given without an adapter")
        return None, "the project schema"
    if callable(adapter):
        return adapter, f"adapter {getattr(adapter, '__name__', adapter)!r}"
    return get_adapter(adapter, **(adapter_options or {})), f"adapter {adapter!r}"


def load_samples(path_or_hub_id: str | os.PathLike, *, split: str = "train",
                 adapter: str | Callable | None = None, adapter_options: dict | None = None,
                 column_map: dict | None = None, image_root: str | os.PathLike | None = None,
                 data_files=None, task: str | None = None, check_images: bool | str = True,
                 on_bad_image: str = "error", max_pixels: int = DEFAULT_MAX_PIXELS,
                 limit: int | None = None, cache_dir: str | None = None,
                 prompt_length: PromptLength | None = None, max_prompt_length: int | None = None,
                 on_long_prompt: str = "skip", on_bad_row: str = "error",
                 choices_in_prompt: bool = False) -> SampleSet:
    """Load and check a data set; see the module docstring and data/README.md.

    - ``adapter``: registered name (see ``adapters.ADAPTERS``) or ``fn(row, ctx)``; None uses the
      adapter of a known hub id, else rows must already be in the schema.
      ``adapter_options`` are bound to it (e.g. ``{"box_frame": "pixels"}``).
    - ``column_map``: schema field -> source column, applied before the adapter.
    - ``image_root``: folder relative image paths resolve against (default: the data file's
      folder, or the folder given; a hub data set has none).
    - ``task``: the task of rows that name none.
    - ``choices_in_prompt``: append a row's ``choices`` to its problem as ``A. ...`` lines.
    - Without an adapter, TRL / Hugging Face conversational rows (``prompt`` or ``messages``
      lists) and TRL's standard ``prompt`` strings are read as such (``gpg_vl.data.conversational``).
    - ``check_images``: True opens every image up front, "header" only reads headers (fast, for
      large sets), False checks nothing. ``on_bad_image``: "error" stops at the first bad image;
      "skip" drops its row and counts it (``SampleSet.skipped``).
    - ``limit``: read at most this many source rows.
    - ``on_bad_row``: a malformed JSONL line, a mistyped field, a row failing the schema or
      holding a vision special token (``data/validate.py``) stops loading ("error") or is skipped
      and counted (``SampleSet.bad_rows``, "skip").
    - ``max_prompt_length`` with ``prompt_length(sample, image_sizes) -> tokens``: a sample whose
      prompt is longer is dropped and counted (``on_long_prompt="skip"``, ``SampleSet.long_prompts``)
      or stops loading with an error naming the row ("error"); never truncated.
    """
    if check_images not in CHECK_MODES:
        raise ValueError(f"check_images={check_images!r}; expected one of {CHECK_MODES}")
    counter = BadImageCounter(on_bad_image)
    prompts = LongPromptCounter(length=prompt_length, max_length=max_prompt_length, policy=on_long_prompt)
    bad_rows = BadRowCounter(on_bad_row)
    name = os.fspath(path_or_hub_id)
    if column_map:
        _check_column_map(column_map)
    adapter_fn, what = _resolve_adapter(adapter, adapter_options, name)
    table, display, id_prefix, source_dir = _load_table(name, split, data_files, cache_dir, bad_rows)
    if limit is not None:
        table = table.select(range(min(int(limit), len(table))))
    base_dir = os.path.abspath(os.path.expanduser(image_root)) if image_root is not None else source_dir
    ctx = AdapterContext(source=display, base_dir=base_dir, max_pixels=max_pixels)
    mapper = RowMapper(adapter_fn, column_map, ctx, id_prefix, task, choices_in_prompt)
    index, labels = _scan(table, mapper, display, what, check_images, max_pixels, counter, prompts, bad_rows)
    for skips in (counter, prompts, bad_rows):
        if skips.skipped:
            logger.warning("%s: %s (kept %d)", display, skips.summary(), len(index))
    if not index:
        raise SchemaError(f"{display}: no usable samples ({len(table)} rows; {counter.summary()}; "
                          f"{prompts.summary()}; {bad_rows.summary()}; first: {bad_rows.messages[:1]})")
    samples = SampleSet(table, mapper, index, display, labels or None, counter, prompts)
    samples.bad_rows = bad_rows
    return samples

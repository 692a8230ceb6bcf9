"""Data: the sample schema, defensive image opening, dataset adapters and the checked loader.

Importing this package is cheap (``datasets`` is imported only when :func:`load_samples` runs).
"""
from gpg_vl.data.adapters import (ADAPTERS, KNOWN_SOURCES, AdapterContext, adapter_for_source,
                                  answer_text, get_adapter, register_adapter)
from gpg_vl.data.dataset import SampleSet, apply_column_map, load_samples
from gpg_vl.data.images import (DEFAULT_MAX_PIXELS, BadImageCounter, ImageLoadError, open_image,
                                probe_image, resolve_ref, to_rgb)
from gpg_vl.data.schema import (FIELDS, OPTIONAL_FIELDS, TASK_REQUIRED, MissingColumnError,
                                SchemaError, required_fields, validate_sample)

__all__ = [
    "ADAPTERS", "KNOWN_SOURCES", "AdapterContext", "adapter_for_source", "answer_text",
    "get_adapter", "register_adapter", "SampleSet", "apply_column_map", "load_samples",
    "DEFAULT_MAX_PIXELS", "BadImageCounter", "ImageLoadError", "open_image", "probe_image",
    "resolve_ref", "to_rgb", "FIELDS", "OPTIONAL_FIELDS", "TASK_REQUIRED", "MissingColumnError",
    "SchemaError", "required_fields", "validate_sample",
]

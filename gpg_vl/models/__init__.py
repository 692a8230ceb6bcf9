"""Policy models: loading (hub id or folder), tiny local builds, and the log-prob forward."""
from gpg_vl.models.loading import ModelLoadError, load_policy, load_processor

__all__ = ["ModelLoadError", "load_policy", "load_processor"]

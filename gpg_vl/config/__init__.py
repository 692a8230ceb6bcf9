"""Typed configuration (schema) and its YAML / dotted-override loader."""
from gpg_vl.config.loader import ConfigError, build, describe, load_config, to_dict
from gpg_vl.config.schema import (AlgorithmConfig, Config, DataConfig, LoraConfig, ModelConfig, RewardSpec,
                                  RolloutConfig, TrainConfig, WarmupConfig)

__all__ = ["ConfigError", "build", "describe", "load_config", "to_dict", "Config", "ModelConfig",
           "DataConfig", "LoraConfig", "RolloutConfig", "RewardSpec", "AlgorithmConfig", "WarmupConfig", "TrainConfig"]

"""Store every command's schema in Hydra's ConfigStore (each is owned by its own layer)."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from subalign.align.config import AlignConfig
from subalign.experiments.config import ExperimentConfig
from subalign.simulation.simulate import SimulateConfig
from subalign.workflows.config import BatchConfig
from subalign.workflows.refine_config import AverageConfig, ClassifyConfig

__all__ = ["store_schemas"]


def store_schemas(config_store: ConfigStore | None = None) -> None:
    """Store ``align_schema``, ``simulate_schema``, ``experiment_schema``, ``batch_schema``,
    ``average_schema`` and ``classify_schema``."""
    store = config_store or ConfigStore.instance()
    store.store(name="align_schema", node=AlignConfig)
    store.store(name="simulate_schema", node=SimulateConfig)
    store.store(name="experiment_schema", node=ExperimentConfig)
    store.store(name="batch_schema", node=BatchConfig)
    store.store(name="average_schema", node=AverageConfig)
    store.store(name="classify_schema", node=ClassifyConfig)

"""Store the commands' schemas in Hydra's ConfigStore (each is owned by its own layer).

Each primary config (``conf/<name>.yaml``) starts from one schema. Only the schemas a
composition needs are imported and stored, once per process: storing converts a
dataclass to a structured config (tenths of a second for all six), and importing the
experiment or workflow schemas loads the simulator and the workflows.
"""

from __future__ import annotations

from importlib import import_module

__all__ = ["SCHEMAS", "store_schemas"]

#: Primary config -> its schema's name in the ConfigStore, and where the schema lives.
SCHEMAS = {
    "align": ("align_schema", "subalign.align.config", "AlignConfig"),
    "simulate": ("simulate_schema", "subalign.simulation.simulate", "SimulateConfig"),
    "run_experiment": ("experiment_schema", "subalign.experiments.config", "ExperimentConfig"),
    "batch": ("batch_schema", "subalign.workflows.batch.config", "BatchConfig"),
    "average": ("average_schema", "subalign.workflows.rounds.config", "AverageConfig"),
    "classify": ("classify_schema", "subalign.workflows.rounds.config", "ClassifyConfig"),
}

_stored: set[tuple[int, str]] = set()


def store_schemas(configs=None, config_store=None) -> None:
    """Store the schemas of primary ``configs`` (default: all of :data:`SCHEMAS`) in
    ``config_store`` (default: Hydra's instance), each once."""
    from hydra.core.config_store import ConfigStore

    store = config_store or ConfigStore.instance()
    for config in SCHEMAS if configs is None else configs:
        name, module, schema = SCHEMAS[config]
        if (id(store), name) not in _stored:
            store.store(name=name, node=getattr(import_module(module), schema))
            _stored.add((id(store), name))

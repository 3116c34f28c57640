"""The model zoo: the catalog (a leaf), pretrained weights, and Auto select.

Building a network from an entry is training's job (training/backbones.py).
"""

from __future__ import annotations

from .catalog import UnknownModel, ZooEntry, catalog, get, is_known, query
from .select import Recommendation, has_gpu, recommend
from .weights import (
    PACKAGE_WEIGHTS,
    PretrainSource,
    WeightSource,
    WeightsUnavailable,
    cache_dir,
    entry_summary,
    is_offline,
    load_pretrained_state,
    map_in_order,
    offline_entries,
    pretrain_sources,
    register_source,
    registered_sources,
    weight_source,
    where_to_put,
)

__all__ = [
    "PACKAGE_WEIGHTS",
    "PretrainSource",
    "Recommendation",
    "UnknownModel",
    "WeightSource",
    "WeightsUnavailable",
    "ZooEntry",
    "cache_dir",
    "catalog",
    "entry_summary",
    "get",
    "has_gpu",
    "is_known",
    "is_offline",
    "load_pretrained_state",
    "map_in_order",
    "offline_entries",
    "pretrain_sources",
    "query",
    "recommend",
    "register_source",
    "registered_sources",
    "weight_source",
    "where_to_put",
]

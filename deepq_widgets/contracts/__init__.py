"""What crosses processes, as types: events, data statistics, metrics, the evaluation, the model card.

The worker writes these, the store keeps them as JSON, and the widgets, the report and the
CLI read them back as the same types. One definition each: a field added here is a field
every reader sees. Pure (pydantic only): the dashboard kernel imports this without torch.
The types live in three modules by what they describe (`base`: the JSON model and the metrics;
`run`: what a run reports while it runs; `results`: what it leaves and what a model says);
import them from here.
"""

from __future__ import annotations

from .base import Contract, Metrics, Number
from .results import (
    Calibration,
    CaseScores,
    Chart,
    ChartSeries,
    Curve,
    DatasetEvaluation,
    Evaluation,
    FoundBox,
    Gallery,
    InferenceRun,
    LabelIssue,
    LabelIssues,
    ModelCard,
    PerClassRow,
    Prediction,
    ReliabilityBin,
    Subgroup,
    TrainingManifest,
)
from .run import (
    EVENT_ADAPTER,
    AnyEvent,
    CheckpointInfo,
    DataEvent,
    DataProblemsEvent,
    DataStatistics,
    EarlyStopEvent,
    EpochEvent,
    Event,
    ModelEvent,
    Plan,
    PlanEvent,
    Progress,
    SearchTrialEvent,
    StateEvent,
    StatusEvent,
    StopRequestedEvent,
    event_kind,
    ran_as,
)

__all__ = [
    "EVENT_ADAPTER",
    "AnyEvent",
    "Calibration",
    "CaseScores",
    "Chart",
    "ChartSeries",
    "CheckpointInfo",
    "Contract",
    "Curve",
    "DataEvent",
    "DataProblemsEvent",
    "DataStatistics",
    "DatasetEvaluation",
    "EarlyStopEvent",
    "EpochEvent",
    "Evaluation",
    "Event",
    "FoundBox",
    "Gallery",
    "InferenceRun",
    "LabelIssue",
    "LabelIssues",
    "Metrics",
    "ModelCard",
    "ModelEvent",
    "Number",
    "PerClassRow",
    "Plan",
    "PlanEvent",
    "Prediction",
    "Progress",
    "ReliabilityBin",
    "SearchTrialEvent",
    "StateEvent",
    "StatusEvent",
    "StopRequestedEvent",
    "Subgroup",
    "TrainingManifest",
    "event_kind",
    "ran_as",
]

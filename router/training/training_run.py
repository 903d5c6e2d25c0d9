"""``switchboard router train``: labels -> the shipped predictor and its evaluation.

Every labelled model is fitted jointly (``train``); when the labels come from two or
more sources, the leave-one-source-out evaluation (``generalisation``) is written to the
report first, and the artifact itself is trained on all sources.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.classifier.artifact import PredictorArtifact
from router.classifier.encoders import load_encoder
from router.classifier.text import unique_texts
from router.training.generalisation import SourceResult, leave_one_source_out
from router.training.labels import LabelledPrompt, read_labels
from router.training.report import write_report
from router.training.train import LabelledModels, embed_records, fit_artifact, source_provenance

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRequest:
    labels: Path
    out: Path
    report_dir: Path
    models: LabelledModels
    encoder: str
    command: str  # as shown in the report
    label_hours: float | None = None


def run_training(request: TrainingRequest) -> tuple[PredictorArtifact, list[SourceResult]]:
    records = usable(read_labels(request.labels), request.models)
    encoder = load_encoder(request.encoder)
    x = embed_records(encoder, records)
    provenance: dict[str, Any] = {
        **source_provenance(request.labels, request.models, request.encoder),
        "prompts": len(records),
        "label_hours": request.label_hours,
    }
    results: list[SourceResult] = []
    if len({r.source for r in records}) > 1:
        results = leave_one_source_out(records, x, request.models, request.encoder)
        write_report(results, records, provenance, request.command, request.report_dir)
    else:
        logger.warning("one source only: no leave-one-source-out evaluation is written")
    artifact = fit_artifact(records, x, request.models, request.encoder, provenance)
    artifact.save(request.out)
    return artifact, results


def usable(records: Sequence[LabelledPrompt], models: LabelledModels) -> list[LabelledPrompt]:
    """Prompts that every labelled model answered, each routing text once."""
    return unique_texts([r for r in records if all(m in r.answers for m in models.ids)])

"""``switchboard router label|train``: the offline half of the classifier."""

import argparse
import asyncio
import logging
import random
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from router.classifier.artifact import SHIPPED_ARTIFACT
from router.classifier.labels import Answer, answer_all, label, read_labels, write_labels
from router.classifier.sources import EVALS_DISTRIBUTION, GradablePrompt, read_evals_registry
from router.config_loader import load_config
from serving.config import LocalModelConfig
from serving.weights import prepared_dir

if TYPE_CHECKING:
    from router.classifier.evaluate import Evaluation

logger = logging.getLogger(__name__)
DATA_DIR = Path(__file__).parent / "data"
DEFAULT_LABELS = DATA_DIR / "labels.jsonl.gz"
_DOWNLOADS = Path.home() / ".cache" / "switchboard" / "routing-data"


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    router = commands.add_parser("router", help="label data for, train and evaluate the classifier")
    actions = router.add_subparsers(required=True, metavar="ACTION")
    make_labels = actions.add_parser(
        "label",
        help="answer gradable prompts with the small and large model and grade them",
        description="Download the OpenAI Evals registry wheel (PyPI, MIT) if needed, take "
        "--per-task prompts from every match-graded eval, answer each with both models "
        "and write one graded record per prompt.",
    )
    make_labels.add_argument("--config", type=Path, default=DATA_DIR / "label-fleet.vllm-cpu.yaml")
    make_labels.add_argument("--models-dir", type=Path, default=None)
    make_labels.add_argument("--small", default="smollm2-135m")
    make_labels.add_argument("--large", default="qwen2.5-coder-0.5b")
    make_labels.add_argument("--per-task", type=int, default=5)
    make_labels.add_argument("--seed", type=int, default=0)
    make_labels.add_argument("--out", type=Path, default=DEFAULT_LABELS)
    make_labels.set_defaults(func=_label)
    _add_train(actions)


def _add_train(actions: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    make_classifier = actions.add_parser(
        "train",
        help="train the classifier on graded labels and write its held-out evaluation",
        description="Hold out a share of whole tasks, fit both heads on the rest, save the "
        "artifact and write routing_eval_<date>.{json,md,png} (RouteLLM's APGR and CPT "
        "on the held-out tasks, against random and prompt-length routing).",
    )
    make_classifier.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    make_classifier.add_argument("--out", type=Path, default=SHIPPED_ARTIFACT)
    make_classifier.add_argument("--report-dir", type=Path, default=Path("bench/results"))
    make_classifier.add_argument("--seed", type=int, default=0)
    make_classifier.add_argument("--held-out-share", type=float, default=0.25)
    make_classifier.add_argument("--small", default="smollm2-135m", help="the labels' small model")
    make_classifier.add_argument(
        "--large", default="qwen2.5-coder-0.5b", help="the labels' large model"
    )
    make_classifier.set_defaults(func=_train)


def _label(args: argparse.Namespace) -> int:
    from serving.weights import default_models_dir

    config = load_config(args.config)
    models_dir = args.models_dir or default_models_dir()
    prompts = list(read_evals_registry(_evals_wheel(), args.per_task, random.Random(args.seed)))
    logger.info("%d prompts from %d tasks", len(prompts), len({p.task for p in prompts}))
    answers = [
        asyncio.run(_answers(_local(config.local_model(model_id), model_id), models_dir, prompts))
        for model_id in (args.small, args.large)
    ]
    records = label(prompts, *answers)
    write_labels(args.out, records)
    small = sum(r.small_correct for r in records)
    large = sum(r.large_correct for r in records)
    print(f"{len(records)} labels -> {args.out}: small correct {small}, large correct {large}")
    return 0


def _train(args: argparse.Namespace) -> int:
    # Imported here: scikit-learn, matplotlib and torch take seconds to load.
    from router.classifier.artifact import ClassifierArtifact
    from router.classifier.embedder import Embedder, packaged_model_dir
    from router.classifier.evaluate import held_out_evaluation
    from router.classifier.model import RoutingClassifier
    from router.classifier.report import write_report
    from router.classifier.train import source_provenance, train

    embedder = Embedder(packaged_model_dir())
    trained = train(
        read_labels(args.labels),
        embedder,
        seed=args.seed,
        held_out_share=args.held_out_share,
        provenance=source_provenance(args.labels, args.small, args.large),
    )
    trained.artifact.save(args.out)
    shipped = ClassifierArtifact.load(args.out)  # evaluate the file, not the object
    held_out = trained.split
    evaluation = held_out_evaluation(
        RoutingClassifier(shipped, embedder), held_out.held_out, trained.held_out_embeddings
    )
    paths = write_report(
        evaluation, shipped.provenance, held_out.held_out_tasks, _command(args), args.report_dir
    )
    print(f"artifact -> {args.out}; report -> {paths[0]}\n{_summary(evaluation)}")
    return 0


def _summary(evaluation: "Evaluation") -> str:
    routers = evaluation.routers
    classifier = routers["classifier"]
    return (
        f"held-out {evaluation.prompts} prompts: AUC {evaluation.roc_auc:.3f}, "
        f"accuracy {evaluation.accuracy:.3f}, APGR {classifier.apgr:.3f} "
        f"(random {routers['random'].apgr:.3f}, length {routers['prompt length'].apgr:.3f}), "
        f"CPT(50%) {classifier.cpt[0.5]:.3f}, CPT(80%) {classifier.cpt[0.8]:.3f}"
    )


def _command(args: argparse.Namespace) -> str:
    return (
        f"switchboard router train --labels {_shown(args.labels)} --out {_shown(args.out)} "
        f"--report-dir {_shown(args.report_dir)} --seed {args.seed} "
        f"--held-out-share {args.held_out_share} --small {args.small} --large {args.large}"
    )


def _shown(path: Path) -> str:
    """Relative to the working directory when inside it: reports must not carry one
    machine's absolute paths."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _local(model: LocalModelConfig | None, model_id: str) -> LocalModelConfig:
    if model is None:
        raise SystemExit(f"switchboard: {model_id!r} is not a local model of the config")
    return model


async def _answers(
    model: LocalModelConfig, models_dir: Path, prompts: list[GradablePrompt]
) -> list[Answer]:
    # Imported here: serving.deployment pulls in Ray.
    from serving.deployment import load_engine

    engine = load_engine(model, prepared_dir(model, models_dir))
    try:
        return await answer_all(engine, prompts)
    finally:
        engine.close()  # type: ignore[attr-defined]


def _evals_wheel() -> Path:
    found = sorted(_DOWNLOADS.glob("evals-3.0.1.post1-*.whl"))
    if found:
        return found[0]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            EVALS_DISTRIBUTION,
            "-d",
            str(_DOWNLOADS),
        ],
        check=True,
    )
    return sorted(_DOWNLOADS.glob("evals-3.0.1.post1-*.whl"))[0]

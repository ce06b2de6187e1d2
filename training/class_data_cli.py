"""``python -m training class-data ...``: the class datasets of the model store (``CONVSCOPE_MODELS``) from a terminal.

``list``; ``show NAME`` (with the classes that have too few drawings to train on); ``create NAME --classes A B ...``
(or ``--kind digits``); ``add NAME --label L FILE.png ...`` (each picture read as an upload is, then prepared as the
Draw page prepares a drawing); ``export NAME --out DIR`` (MNIST's IDX files, class names, ``.npz``); ``import FILE
[--name NAME]``; ``train NAME --from MODEL [--save NAME]`` (``training/fine_tune.py``; digits with MNIST from
``python -m training --data DIR``); ``delete NAME``. One JSON line per result; a refusal is a JSON line with
``"error"`` (a sentence) and
``"reason"`` (a code from ``model_store.refusal``), and the exit status is then 1. ``add`` is not rate-limited: it is
for scripts and benchmarks, not for pupils.
"""

from __future__ import annotations

import functools
import json

from model_store import class_data
from model_store.class_data import ClassDatasets
from model_store.images import read_image
from model_store.preprocess import POLARITIES
from model_store.refusal import Refusal


def _print(record: dict) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)


def _refusals_as_json(command):
    """A refusal of the whole command (an unknown dataset, a bad name) as one JSON line and exit status 1."""
    @functools.wraps(command)
    def run(args) -> int:
        try:
            return command(args)
        except Refusal as exc:
            _print(exc.as_record())
            return 1
    return run


@_refusals_as_json
def cmd_list(args) -> int:
    for info in ClassDatasets().list():
        _print(info.as_record())
    return 0


@_refusals_as_json
def cmd_show(args) -> int:
    datasets = ClassDatasets()
    info = datasets.get(args.name)
    short = datasets.too_few(args.name, args.minimum)
    _print({**info.as_record(), "too_few": {name: count for name, count in short}, "minimum": args.minimum})
    return 0


@_refusals_as_json
def cmd_create(args) -> int:
    _print(ClassDatasets().create(args.name, args.classes, args.kind).as_record())
    return 0


@_refusals_as_json
def cmd_add(args) -> int:
    """Each file on a line of its own, in order, whatever is wrong with any one of them."""
    datasets = ClassDatasets()
    info = datasets.get(args.name)
    class_data.label_index(info.classes, args.label, info.name)  # an unknown label is refused once, not per file
    status = 0
    for path in args.files:
        record: dict = {"file": path, "dataset": info.name}
        try:
            drawing = datasets.add(info.name, args.label, picture=read_image(path), polarity=args.polarity,
                                   pupil=args.pupil)
            record.update({"id": drawing.id, "label": drawing.label, "class": drawing.class_name})
        except Refusal as exc:
            record.update(exc.as_record())
            status = 1
        except Exception as exc:  # a bug on one file must not stop the files after it
            record["error"] = f"unexpected error: {type(exc).__name__}: {exc}"
            status = 1
        _print(record)
    return status


@_refusals_as_json
def cmd_export(args) -> int:
    datasets = ClassDatasets()
    paths = datasets.export(args.name, args.out)
    _print({"name": datasets.get(args.name).name, "files": [str(p) for p in paths]})
    return 0


@_refusals_as_json
def cmd_import(args) -> int:
    _print({"file": args.file, **ClassDatasets().import_file(args.file, args.name).as_record()})
    return 0


@_refusals_as_json
def cmd_delete(args) -> int:
    datasets = ClassDatasets()
    name = datasets.get(args.name).name
    datasets.delete(name)
    _print({"deleted": name})
    return 0


@_refusals_as_json
def cmd_train(args) -> int:
    """Fine-tune a stored model on a class dataset (``training.fine_tune``); a base model that cannot be fine-tuned
    this way (no flatten layer, not ten outputs for digits) is said in one JSON line too."""
    from training.fine_tune import train_on_class_data
    from training.progress import ProgressBar

    try:
        result, entry = train_on_class_data(args.name, args.base, save=args.save, data_dir=args.data,
                                            callbacks=[ProgressBar()], seed=args.seed)
    except Refusal:
        raise
    except ValueError as exc:  # a base model without a flatten layer, a digits model without ten outputs
        raise Refusal("fine_tune_impossible", problem=str(exc)) from exc
    _print({**result.as_record(), "saved": entry.name if entry else None})
    return 0


def add_commands(sub) -> None:
    """Add ``class-data`` and its subcommands to ``python -m training``'s subcommands."""
    parser = sub.add_parser("class-data", help="class datasets: drawings a class collects (a JSON line per result)",
                            description=__doc__)
    commands = parser.add_subparsers(dest="class_data_command", required=True)
    ls = commands.add_parser("list", help="every class dataset with its counts per class")
    ls.set_defaults(func=cmd_list)
    show = commands.add_parser("show", help="one class dataset, and its classes with too few drawings to train on")
    show.add_argument("name")
    show.add_argument("--minimum", type=int, default=class_data.MIN_PER_CLASS,
                      help="drawings a class needs (default %(default)s)")
    show.set_defaults(func=cmd_show)
    create = commands.add_parser("create", help="a new, empty class dataset")
    create.add_argument("name")
    create.add_argument("--classes", nargs="+", metavar="CLASS",
                        help=f"{class_data.MIN_CLASSES} to {class_data.MAX_CLASSES} class names (none: digits 0-9)")
    create.add_argument("--kind", choices=class_data.KINDS,
                        help="digits (classes 0-9, can be mixed with MNIST) or custom (default: from --classes)")
    create.set_defaults(func=cmd_create)
    add = commands.add_parser("add", help="add pictures of one class (PNG, JPEG, ...), each prepared as a drawing")
    add.add_argument("name")
    add.add_argument("--label", required=True, help="the class name of every picture given")
    add.add_argument("--polarity", choices=POLARITIES, default="auto",
                     help="light-on-dark (a canvas) or dark-on-light (ink on paper); auto: decide per file")
    add.add_argument("--pupil", help="who drew them (kept with each drawing)")
    add.add_argument("files", nargs="+")
    add.set_defaults(func=cmd_add)
    export = commands.add_parser("export", help="write IDX images and labels, the class names and an .npz")
    export.add_argument("name")
    export.add_argument("--out", required=True, metavar="DIR")
    export.set_defaults(func=cmd_export)
    imp = commands.add_parser("import", help="a new class dataset from an exported .npz or IDX file (or MNIST's)")
    imp.add_argument("file")
    imp.add_argument("--name", help="name of the new class dataset (default: from the file's name)")
    imp.set_defaults(func=cmd_import)
    train = commands.add_parser("train", help="fine-tune a stored model on a class dataset (held-out part kept aside)")
    train.add_argument("name")
    train.add_argument("--from", dest="base", required=True, metavar="MODEL", help="the stored model to start from")
    train.add_argument("--save", metavar="NAME", help="store the result under this name (checked before training)")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=cmd_train)
    delete = commands.add_parser("delete", help="delete a class dataset and its drawings")
    delete.add_argument("name")
    delete.set_defaults(func=cmd_delete)

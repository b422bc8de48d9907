"""The `lookinside` command: parses arguments and calls library functions, nothing more.

Exit codes: 0 done; 2 bad usage, bad input or a failed write (one sentence on stderr); 3 a
training run stopped by a non-finite loss; 130 interrupted; 1 a bug (with its traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from . import __version__
from .errors import Interrupted, LookinsideError

if TYPE_CHECKING:
    from .config import TrainConfig
    from .train import TrainResult

EXIT_USAGE = 2
EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130
TRAINING_COMMANDS = ("train", "lr-find", "ablate", "fix")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one sentence (no usage dump) and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)


def _arch(text: str) -> tuple[int, ...]:
    try:
        chans = tuple(int(c) for c in text.split(","))
    except ValueError:
        msg = f"expected channel counts like 8,16,32,32, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not chans or min(chans) < 1:
        raise argparse.ArgumentTypeError(f"channel counts must be positive, got {text!r}")
    return chans


def _lr(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` shows each option's default, where it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is argparse.SUPPRESS:
            return action.help
        if isinstance(action.default, bool):  # a switch: off unless given
            return action.help
        if isinstance(action.default, tuple):  # --arch: as it is typed
            return f"{action.help} (default: {','.join(map(str, action.default))})"
        return super()._get_help_string(action)


def _add_model_and_data_flags(p: argparse.ArgumentParser) -> None:
    """The flags of the model and its data: `train` and `lr-find` both take them."""
    from .config import DEVICES, NORM_NAMES, PRECISIONS, RECIPES, TrainConfig
    from .models import INITS
    from .nn.layers import ACTIVATIONS

    d = TrainConfig()
    p.add_argument(
        "--data", default=d.data, help="'mnist' (embedded) or a directory of MNIST IDX files"
    )
    p.add_argument("--subset", type=int, help="train on the first N training images only")
    p.add_argument("--bs", type=int, default=d.bs, help="batch size")
    p.add_argument(
        "--arch", type=_arch, default=d.arch, help="channels per conv block, e.g. 8,16,32,32"
    )
    p.add_argument("--act", choices=list(ACTIVATIONS), default=d.act, help="activation")
    p.add_argument("--norm", choices=NORM_NAMES, default=d.norm, help="norm after each activation")
    p.add_argument("--init", choices=list(INITS), default=d.init, help="weight initialisation")
    p.add_argument("--device", choices=DEVICES, default=d.device, help="where to train")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of every random generator")
    p.add_argument("--recipe", choices=("none", *RECIPES), default=d.recipe,
                   help="fast: the fast MNIST recipe (sets its own model, optimizer, bs, lr, "
                   "schedule and epochs)")  # fmt: skip
    p.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="autocast dtype (fp16 adds a gradient scaler); auto: bf16 for the fast "
                   "recipe on a GPU, else fp32")  # fmt: skip
    p.add_argument("--channels-last", action="store_true",
                   help="conv weights and image batches in channels-last memory order")  # fmt: skip


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    """The flags of training itself: `train` only (the lr finder sweeps the lr alone)."""
    from .config import SCHEDS, TrainConfig

    d = TrainConfig()
    p.add_argument("--epochs", type=int, default=d.epochs, help="epochs to train")
    p.add_argument("--lr", type=_lr, default=d.lr, help="learning rate, or 'auto' (lr_find)")
    p.add_argument("--sched", choices=SCHEDS, default=d.sched, help="lr schedule")
    p.add_argument("--cuda-graph", action="store_true",
                   help="replay each training step from a CUDA graph (GPU only)")  # fmt: skip
    p.add_argument(
        "--no-telemetry",
        dest="telemetry",
        action="store_false",
        help="do not record activation statistics (no diagnosis, no telemetry plots)",
    )
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard events into the run's tensorboard/ "
                   "(needs the tensorboard package)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The `lookinside` argument parser with one sub-parser per command."""
    parser = _Parser(prog="lookinside", description="Train a model and look inside it.")
    parser.add_argument("--version", action="version", version=f"lookinside {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = sub.add_parser("train", help="train the lesson's CNN and write a run directory",
                           formatter_class=_HelpFormatter)  # fmt: skip
    _add_model_and_data_flags(train)
    _add_training_flags(train)
    train.add_argument("--out", help="run directory (default: runs/train-<date>-<time>)")
    train.add_argument("--clip", type=float, help="clip the gradients' global norm to this value")
    train.add_argument("--resume", metavar="RUN_DIR",
                       help="continue an interrupted run from its last checkpoint (other options "
                       "come from its config.json)")  # fmt: skip
    train.set_defaults(func=cmd_train)
    lr_find = sub.add_parser("lr-find", help="sweep the learning rate and suggest one",
                             formatter_class=_HelpFormatter)  # fmt: skip
    _add_model_and_data_flags(lr_find)
    lr_find.add_argument("--out", help="run directory (default: runs/lr-find-<date>-<time>)")
    lr_find.set_defaults(func=cmd_lr_find)
    ablate = sub.add_parser("ablate", help="run a study of variants x seeds and summarise it",
                            formatter_class=_HelpFormatter)  # fmt: skip
    ablate.add_argument("study", metavar="STUDY.toml")
    ablate.add_argument("--quick", action="store_true", help="1 epoch on 5,000 images, 2 seeds")
    ablate.add_argument("--out", help="study directory (default: runs/study-<name>)")
    jobs_help = "runs at a time, in processes (with GPUs: each process the next GPU)"
    ablate.add_argument("--jobs", type=int, default=1, help=jobs_help)
    only_help = "run only the K-th variant (0-based): one task of a cluster job array"
    ablate.add_argument("--only", type=int, metavar="K", help=only_help)
    ablate.add_argument("--yes", action="store_true", help="run a study of more than 500 runs")
    ablate.set_defaults(func=cmd_ablate)
    fix = sub.add_parser("fix", help="try each remedy of a run's diagnosis as a study, and "
                         "say which works", formatter_class=_HelpFormatter)  # fmt: skip
    fix.add_argument("run_dir", metavar="RUN_DIR")
    fix.add_argument("--quick", action="store_true", help="1 epoch on 5,000 images, 2 seeds")
    fix.add_argument("--out", help="trial directory (default: RUN_DIR/fix, or fix-quick)")
    seeds_help = "seeds per variant, from the run's own (default: 3; 2 with --quick)"
    fix.add_argument("--seeds", type=int, help=seeds_help)
    fix.add_argument("--jobs", type=int, default=1, help=jobs_help)
    fix.set_defaults(func=cmd_fix)
    report = sub.add_parser("report", help="re-render report.html of a run or study directory")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.set_defaults(func=cmd_report)
    inspect = sub.add_parser("inspect", help="say what a run, lr-find or study directory holds: "
                             "its numbers and its diagnosis")  # fmt: skip
    inspect.add_argument("run_dir", metavar="RUN_DIR")
    inspect.set_defaults(func=cmd_inspect)
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    """`lookinside train`: run, print one row per epoch, then the accuracy and the run dir."""
    try:
        from .diagnosis import format_findings  # seconds of imports, where a Ctrl-C may land
        from .train import train

        result = _resume(args) if args.resume else train(_config(args))
    except Interrupted as stop:
        sys.stderr.write(f"lookinside train: interrupted; checkpoint: {stop.checkpoint}.\n")
        sys.stderr.write(f"Resume with: lookinside train --resume {stop.run_dir}\n")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # before the fit began (loading, building, the lr finder)
        sys.stderr.write(f"lookinside train: interrupted before the first step; {_again(args)}\n")
        return EXIT_INTERRUPTED
    if result.rank != 0:  # under torchrun only rank 0 reports
        return 0
    if result.findings is not None:
        print(format_findings(result.findings))
    epochs = len(result.history)
    print(f"valid accuracy {result.valid_accuracy:.4f} after {epochs} epoch(s)")
    print(f"run directory: {result.run_dir}")
    if result.stopped:  # a non-finite loss: the run's outputs are written, but it failed
        sys.stderr.write(f"lookinside train: stopped early: {result.stopped}.\n")
        return EXIT_NON_FINITE
    return 0


def _resume(args: argparse.Namespace) -> TrainResult:
    """`train --resume RUN_DIR`: the run goes on as it was configured, so an option given
    beside it that differs from the run's is refused (only `--epochs` may extend it)."""
    from .config import TrainConfig
    from .runs import open_run
    from .train import resume

    run = open_run(args.resume)
    run_dir, options = run.path, run.options()
    defaults = TrainConfig()
    given = {name: getattr(args, name) for name in _option_names(args)
             if getattr(args, name) != getattr(defaults, name)}  # fmt: skip
    if given.get("out") not in (None, str(run_dir), args.resume):
        raise LookinsideError("--out cannot be used with --resume: a run continues in its own "
                              "directory.")  # fmt: skip
    for name, value in given.items():
        if name in ("out", "epochs"):
            continue
        theirs = options.get(name)
        theirs = tuple(theirs) if isinstance(theirs, list) else theirs
        if value != theirs:
            flag = "--" + name.replace("_", "-")
            raise LookinsideError(
                f"{flag} {_shown(value)} differs from the run's {_shown(theirs)} "
                f"({run.config}): --resume continues a run as it was "
                "configured; start a new run to change it."
            )
    return resume(run_dir, epochs=given.get("epochs"))


def _again(args: argparse.Namespace) -> str:
    """What a run stopped before its first step kept, and the command that goes on: a resume
    where its directory holds its config.json (the same `--out` would be refused)."""
    from .runs import RunDir

    run_dir = args.resume or args.out
    if run_dir and RunDir(run_dir).config.is_file():
        resume = shlex.join(["lookinside", "train", "--resume", run_dir])
        return f"the run directory is as it was.\nResume with: {resume}"
    return f"nothing was saved.\nStart again with: {shlex.join(['lookinside', *args.argv])}"


def _shown(value: object) -> str:
    """An option's value as it is typed on the command line."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def cmd_lr_find(args: argparse.Namespace) -> int:
    """`lookinside lr-find`: print the suggestion, save the plot in a run directory."""
    from .runs import RunDir
    from .train import lr_find_run

    run_dir, _ = lr_find_run(_config(args))
    print(f"plot: {RunDir(run_dir).plot('lr_find')}")
    print(f"run directory: {run_dir}")
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    """`lookinside ablate STUDY.toml`: run or resume the study, print its summary table."""
    from .ablate import run_study
    from .runs import StudyDir
    from .study import load_study

    study = load_study(args.study, many=args.yes)
    if args.quick:
        study = study.quick()
    if args.jobs < 1:
        raise LookinsideError(f"--jobs must be at least 1, not {args.jobs}.")
    out = Path(args.out or f"runs/{study.directory}" + ("-quick" if args.quick else ""))
    try:
        results = run_study(study, out, jobs=args.jobs, only=args.only)
    except (KeyboardInterrupt, Interrupted):  # between runs, or inside one
        again = " ".join(["lookinside ablate", shlex.quote(args.study), "--out",
                          shlex.quote(str(out))] + (["--quick"] if args.quick else [])
                         + (["--yes"] if args.yes else []))  # fmt: skip
        sys.stderr.write("lookinside ablate: interrupted; the finished runs are kept.\n")
        sys.stderr.write(f"Resume with: {again}\n")
        return EXIT_INTERRUPTED
    if args.only is not None:
        print(f"variant {args.only} done; gather with: lookinside ablate {args.study} --out {out}")
        return 0
    print(StudyDir(out).summary.read_text())
    failed = sum(r.status != "done" for r in results)
    if failed:
        print(f"{failed} run(s) failed: see results.csv and each run's result.json")
    print(f"study directory: {out}")
    return 0


def cmd_fix(args: argparse.Namespace) -> int:
    """`lookinside fix RUN_DIR`: run or resume the trial of the run's remedies, print its table
    and the command it recommends."""
    from .fix import fix_run
    from .runs import TRIAL_DIRS, StudyDir

    if args.jobs < 1:
        raise LookinsideError(f"--jobs must be at least 1, not {args.jobs}.")
    try:
        _, out = fix_run(args.run_dir, args.out, args.quick, args.seeds, args.jobs)
    except (KeyboardInterrupt, Interrupted):  # between runs, or inside one
        where = args.out or str(Path(args.run_dir) / TRIAL_DIRS[args.quick])
        again = ["lookinside fix", shlex.quote(args.run_dir), "--out", shlex.quote(where)]
        again += (["--seeds", str(args.seeds)] if args.seeds is not None else []) + (
            ["--quick"] if args.quick else [])  # fmt: skip
        sys.stderr.write("lookinside fix: interrupted; the finished runs are kept.\n")
        sys.stderr.write(f"Resume with: {' '.join(again)}\n")
        return EXIT_INTERRUPTED
    print(StudyDir(out).trial_markdown.read_text(), end="")
    print(f"trial directory: {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """`lookinside report DIR`: write report.html from the recorded files alone."""
    from .finish import render_directory

    print(f"report: {render_directory(args.run_dir)}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """`lookinside inspect DIR`: what the directory is, its numbers and its diagnosis."""
    from .describe import describe_directory

    print(describe_directory(args.run_dir))
    return 0


def _option_names(args: argparse.Namespace) -> list[str]:
    """The `TrainConfig` fields the parsed command has flags for."""
    from .config import TrainConfig

    return [f.name for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)]


def _config(args: argparse.Namespace) -> TrainConfig:
    from .config import TrainConfig

    return TrainConfig(**{name: getattr(args, name) for name in _option_names(args)})


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops a run the way Ctrl-C does: checkpoint, report, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lookinside` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    stopped: list[bool] = []
    try:
        with _ctrl_c_deferred(stopped):  # the imports: torch, numpy, matplotlib (seconds)
            args = build_parser().parse_args(argv)
            if args.command in TRAINING_COMMANDS:  # and what training needs (matplotlib, ...)
                importlib.import_module(".train", __package__)
    except KeyboardInterrupt:  # outside the main thread, nothing defers it
        stopped.append(True)
    if stopped:
        sys.stderr.write("lookinside: interrupted before it began; nothing was saved.\n")
        sys.stderr.write(f"Start again with: {shlex.join(['lookinside', *argv])}\n")
        return EXIT_INTERRUPTED
    args.argv = argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        code: int = args.func(args)
        return code
    except LookinsideError as e:
        sys.stderr.write(f"lookinside {args.command}: {e}\n")
        return EXIT_USAGE
    except OSError as e:  # the machine's, not a bug: a full disk, a missing permission
        where = f" ({e.filename})" if e.filename else ""
        sys.stderr.write(f"lookinside {args.command}: {e.strerror or e}{where}.\n")
        return EXIT_USAGE
    except (KeyboardInterrupt, Interrupted):
        sys.stderr.write(f"lookinside {args.command}: interrupted.\n")
        return EXIT_INTERRUPTED


@contextlib.contextmanager
def _ctrl_c_deferred(stopped: list[bool]) -> Iterator[None]:
    """Inside the block a Ctrl-C is noted in `stopped`, not raised: raised inside an import,
    it can be swallowed by the library being imported (torch goes on with a half-imported
    numpy) and leave the process broken. Outside the main thread, where no handler can be
    set, or where Ctrl-C is ignored (a background job), the block runs as it is."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (
        signal.SIG_IGN,
        None,
    ):
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, frame: stopped.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run() -> NoReturn:
    """The `lookinside` console script: `main`, then exit with its code. Once the command is
    done, a Ctrl-C (while the interpreter shuts down) no longer interrupts it."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if code == EXIT_INTERRUPTED:
        # A Ctrl-C that landed while C code ran Python (torch's imports do) marks CPython to
        # die by SIGINT at exit, whatever the code: the interruption is handled and said, so
        # leave now, with the code.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()

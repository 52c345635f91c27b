"""One vocabulary across the command line (docs/cli.md): every sub-command says what it does and every option what
it means and its default; the renamed flags' old spellings still parse, into the new flag, with one line on stderr
naming it; one flag, --out-dir, for an output folder."""
import argparse

import pytest

from tspsis.cli import build_parser
from tspsis.cli.options import DeprecatedAlias

# sub-command -> the arguments it needs besides the one tested
COMMANDS = {"data synth": [], "run-notebooks": [], "pretrain": [], "train": ["c.py"], "test": ["c.py", "k.pth"],
            "predict": ["c.py", "k.pth", "img.png"]}
OUTPUT_FOLDER = {"data synth", "run-notebooks", "predict", "train", "test"}  # what writes a folder
OLD_SPELLINGS = [  # (sub-command, old flag, value, new flag, destination, parsed value)
    ("data synth", "--out", "d", "--out-dir", "out_dir", "d"),
    ("data synth", "--seed", "3", "--data-seed", "data_seed", 3),
    ("run-notebooks", "--out", "r", "--out-dir", "out_dir", "r"),
    ("run-notebooks", "--seed", "3", "--data-seed", "data_seed", 3),
    ("pretrain", "--seed", "3", "--data-seed", "data_seed", 3),
    ("train", "--seed", "3", "--train-seed", "train_seed", 3),
]


def _subparsers(parser: argparse.ArgumentParser, prefix: str = ""):
    """(name, parser) of every command and sub-command, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield f"{prefix}{name}", child
                yield from _subparsers(child, f"{prefix}{name} ")


def _parser(command: str) -> argparse.ArgumentParser:
    return dict(_subparsers(build_parser()))[command]


def _required(command: str, out_dir: bool = True) -> list[str]:
    """What ``command`` needs to parse: its positional arguments and (``out_dir``) its output folder if required."""
    needs_out_dir = out_dir and command in OUTPUT_FOLDER - {"run-notebooks"}
    return [*command.split(), *COMMANDS[command], *(["--out-dir", "o"] if needs_out_dir else [])]


def test_every_command_has_a_description_and_every_option_a_help_with_its_default():
    parsers = [("tspsis", build_parser()), *_subparsers(build_parser())]
    assert {"data synth", "data stats", "split", "eval", "train", "test", "predict", "pretrain", "run-notebooks",
            "doctor"} <= {name for name, _ in parsers}
    for name, parser in parsers:
        assert parser.description and parser.description.strip(), name
        assert issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter), name
        text = " ".join(parser.format_help().split())  # as wrapped, on one line
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help.strip(), (name, action.option_strings or action.dest)
            if action.default not in (None, [], False, argparse.SUPPRESS):
                assert f"(default: {action.default})" in text, (name, action.option_strings, action.default)


@pytest.mark.parametrize("command, old, value, new, dest, parsed", OLD_SPELLINGS)
def test_an_old_spelling_parses_into_the_new_flag_with_one_line_naming_it(command, old, value, new, dest, parsed,
                                                                          capsys):
    argv = _required(command, out_dir=old != "--out")
    args = build_parser().parse_args([*argv, old, value])
    assert str(getattr(args, dest)) == str(parsed)
    err = capsys.readouterr().err
    assert err.splitlines() == [f"tspsis {command}: {old} is deprecated, use {new}"]
    assert str(getattr(build_parser().parse_args([*argv, new, value]), dest)) == str(parsed)  # the new one, quiet
    assert capsys.readouterr().err == ""
    assert old not in _parser(command).format_help().replace(new, "")  # hidden from the help


def test_an_old_spelling_satisfies_a_required_flag_and_cannot_be_given_with_the_new_one(capsys):
    assert build_parser().parse_args(["data", "synth", "--out", "d"]).out_dir.name == "d"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["data", "synth", "--out", "d", "--out-dir", "e"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["data", "synth"])
    assert "--out-dir" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(OUTPUT_FOLDER))
def test_every_command_that_writes_a_folder_takes_out_dir(command):
    parser = _parser(command)
    flags = {flag: action for action in parser._actions for flag in action.option_strings}
    assert "--out-dir" in flags and not isinstance(flags["--out-dir"], DeprecatedAlias)
    args = build_parser().parse_args([*command.split(), *COMMANDS[command], "--out-dir", "o"])
    assert str(getattr(args, flags["--out-dir"].dest)) == "o"


def test_train_and_test_take_work_dir_as_the_same_flag():
    for command in ("train", "test"):
        argv = [command, *COMMANDS[command]]
        assert build_parser().parse_args([*argv, "--work-dir", "w"]).work_dir.name == "w"
        assert "MMDetection" in _parser(command).format_help()


def test_an_output_file_is_out():
    for command in ("split", "eval"):
        flags = {flag: action for action in _parser(command)._actions for flag in action.option_strings}
        assert flags["--out"].metavar == "FILE" and "--out-dir" not in flags


def test_gpus_counts_processes_and_predict_takes_a_device():
    for command in ("train", "test", "pretrain", "run-notebooks"):
        args = build_parser().parse_args([*_required(command), "--gpus", "2"])
        assert args.gpus == 2 and build_parser().parse_args(_required(command)).gpus is None
    assert "--gpus" not in {f for a in _parser("predict")._actions for f in a.option_strings}
    assert build_parser().parse_args([*_required("predict"), "--device", "cuda:0"]).device == "cuda:0"


def test_pretrain_gpus_unset_means_every_visible_gpu_as_in_train(monkeypatch):
    """pretrain resolves --gpus as train does (None: every visible GPU, else the CPU), not 'unset = CPU'."""
    from tspsis import lab
    from tspsis.cli import commands

    seen = {}

    class Run:
        final_checkpoint = "w.pth"

        def train(self):
            pass

    monkeypatch.setattr(lab, "require_device", lambda profile, gpus: seen.setdefault("asked", gpus) or 3)
    monkeypatch.setattr(lab, "prepare_data", lambda profile, root, seed: {"root": root})
    monkeypatch.setattr(lab, "pretraining", lambda profile, root, gpus: seen.setdefault("gpus", gpus) and Run())
    assert commands.main(["pretrain", "--profile", "tiny", "--data-root", "d"]) == 0
    assert seen == {"asked": None, "gpus": 3}

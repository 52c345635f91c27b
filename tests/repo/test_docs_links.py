"""The docs cannot go stale: what README.md, docs/*.md, configs/*/README.md and the notebooks' markdown cells name
exists.

From every inline code span, every line of a ``bash`` / ``sh`` code block and every relative link, the checker takes:

1. repository paths (``configs/...py``, ``docs/foo.md``, ``../_base_/x.py``; links ``[x](docs/foo.md)`` relative to
   the file that gives them) and checks that they exist;
2. config names: a bare ``*.py`` named like a config or script, and composed names
   (``leaf+mixin+...+500it``, ``tspsis.engine.config.composed_name``): leaf and mixins exist under configs/;
3. make targets (``make X``): a target of the Makefile;
4. ``tspsis SUB ...`` commands: the subcommand exists in ``tspsis.cli.commands.build_parser`` and every ``--flag``
   after it is an option of that subcommand;
5. dotted ``tspsis.*`` names resolve (the rule of test_dotted_names.py, reused here for the planted-error test;
   test_dotted_names.py checks the real files).

Placeholders (``<run>``, ``*``, ``{a,b}``, ``…``, ``$OUT``) and output folders (``work_dirs/``, ``data/``) are not
checked; spans that quote an error message (``error:``) name files that do not exist on purpose."""
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from test_dotted_names import (  # tests/repo is on sys.path (pytest's rootdir-relative import)
    DOTTED_NAME,
    resolves,
)

REPO = Path(__file__).resolve().parents[2]
TOP = {"tspsis", "configs", "docs", "notebooks", "scripts", "benchmarks", "tests", "papermill_runs", ".ci",
       "Makefile", "pyproject.toml", "environment.yml", "README.md"}
PLACEHOLDER = re.compile(r"[<>*{}…$]|\.\.\.|::|https?:")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
COMPOSED = re.compile(r"^[\w.-]+(?:\+[\w.-]+)+$")
MAKE = re.compile(r"(?<![\w-])make\s+([a-z][\w-]*)")
CLI = re.compile(r"(?<![\w.-])tspsis\s+(?:--debug\s+)?([a-z][\w-]*)(.*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")


def documents() -> Iterator[tuple[str, Path, str]]:
    """(label, the folder its links are relative to, text) of every document checked."""
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted(REPO.glob("configs/*/README.md"))]:
        yield path.relative_to(REPO).as_posix(), path.parent, path.read_text(encoding="utf-8")
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for number, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] == "markdown":
                yield f"{path.relative_to(REPO).as_posix()}:cell {number}", path.parent, "".join(cell["source"])


def code_pieces(text: str) -> list[str]:
    """The inline code spans of ``text`` and the logical lines of its bash / sh code blocks."""
    pieces = []
    for language, body in FENCE.findall(text):
        if language in ("bash", "sh"):
            pieces += [line for line in body.replace("\\\n", " ").splitlines() if line.strip()]
    prose = FENCE.sub("", text)
    pieces += [" ".join(span.split()) for _, span in SPAN.findall(prose)]
    return pieces


@lru_cache(maxsize=1)
def _files() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(names of the .py files of the repository's code folders, leaf config stems, mixin stems)."""
    names = {p.name for top in ("configs", "scripts", "benchmarks", "tspsis", "tests")
             for p in (REPO / top).rglob("*.py")}
    configs = list((REPO / "configs").rglob("*.py"))
    leaves = {p.stem for p in configs if "_base_" not in p.parts}
    mixins = {p.stem for p in configs if "_base_" in p.parts}
    return frozenset(names), frozenset(leaves), frozenset(mixins)


@lru_cache(maxsize=1)
def make_targets() -> frozenset[str]:
    return frozenset(re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(), re.MULTILINE))


@lru_cache(maxsize=1)
def _parser():
    from tspsis.cli.commands import build_parser
    return build_parser()


def _subparsers(parser) -> dict:
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            return action.choices
    return {}


def cli_problems(command: str, rest: str) -> list[str]:
    """What is wrong with ``tspsis COMMAND REST``: an unknown subcommand or an option it does not have."""
    parser, subs = _parser(), _subparsers(_parser())
    if command not in subs:
        return [f"tspsis {command}: no such command"]
    sub, name = subs[command], f"tspsis {command}"
    deeper = _subparsers(sub)
    if deeper:
        word = re.match(r"\s+([a-z][\w-]*)", rest)
        if word:
            if word[1] not in deeper:
                return [f"{name} {word[1]}: no such command"]
            sub, name = deeper[word[1]], f"{name} {word[1]}"
    rest = re.split(r"\s#|\||&&|;", rest)[0]
    known = set(sub._option_string_actions) | set(parser._option_string_actions)
    return [f"{name}: no option {flag}" for flag in FLAG.findall(rest) if flag not in known]


def _path_problem(token: str, base: Path) -> str | None:
    first = token.split("/")[0]
    if first in ("..", "."):
        candidates = [base / token]
    elif first in TOP:
        candidates = [REPO / token]
    elif first == "_base_":
        candidates = [REPO / "configs" / token, base / token]
    else:
        return None  # an output folder (work_dirs/, data/, preds/) or a name the user chooses
    return None if any(c.exists() for c in candidates) else f"{token}: no such file or folder"


def _name_problem(token: str) -> str | None:
    names, leaves, mixins = _files()
    if token.endswith(".py") and "/" not in token and "+" not in token:
        if not re.search(r"[_-]", token):
            return None  # setup.py and the like: other projects' files
        return None if token in names else f"{token}: no such config or script"
    if COMPOSED.match(token):
        leaf, *rest = token.split("+")
        if rest and re.fullmatch(r"\d+it", rest[-1]):
            rest = rest[:-1]
        wrong = [leaf] * (leaf not in leaves) + [m for m in rest if m not in mixins]
        return f"{token}: composed name with unknown parts {wrong}" if wrong else None
    return None


def problems(text: str, base: Path = REPO, dotted: bool = True) -> list[str]:
    """Everything ``text`` (markdown; its links relative to ``base``) names that does not exist."""
    found = []
    for url in LINK.findall(FENCE.sub("", text)):
        url = url.split("#")[0]
        if url and not re.match(r"[a-z]+:", url) and not (base / url).exists():
            found.append(f"link {url}: no such file or folder")
    for piece in code_pieces(text):
        for match in CLI.finditer(piece):
            if not piece[:match.start()].endswith(("from ", "import ")):  # `from tspsis import lab`: Python
                found += cli_problems(match[1], match[2])
        found += [f"make {t}: no such target" for t in MAKE.findall(piece) if t not in make_targets()]
        if "error:" in piece:
            continue  # an error message quotes a file that does not exist
        for token in re.split(r"[\s'\"(),=;\[\]]+", piece):
            token = token.rstrip(".,:;")
            if not token or PLACEHOLDER.search(token) or token.startswith(("-", "+")):
                continue
            problem = _path_problem(token, base) if "/" in token else _name_problem(token)
            if problem:
                found.append(problem)
    if dotted:
        found += [f"{name}: does not resolve" for name in DOTTED_NAME.findall(text) if not resolves(name)]
    return found


# ------------------------------------------------------------------------------------------------- the real docs


def test_the_docs_name_only_what_exists():
    """Dotted names are test_dotted_names.py's (it reads the same files)."""
    wrong = {label: found for label, base, text in documents() if (found := problems(text, base, dotted=False))}
    assert not wrong, "the docs name what does not exist:\n" + "\n".join(
        f"  {label}: {item}" for label, found in wrong.items() for item in found)


def test_the_checker_reads_every_kind_of_document():
    labels = [label for label, _, _ in documents()]
    assert "README.md" in labels and "docs/installation.md" in labels and "configs/boxinst/README.md" in labels
    assert any(label.startswith("notebooks/02_") for label in labels)


def test_the_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    head = "\n".join(lines[:40])
    assert "make setup" in head and "make demo" in head and "make test" in head and ".venv/bin/activate" in head
    results = next(i for i, line in enumerate(lines) if line == "## Results")
    table1 = next(i for i, line in enumerate(lines) if line.startswith("| Mask R-CNN (class-agnostic baseline)"))
    assert results < table1 < 120  # Table 1 within the first 120 lines
    text = "\n".join(lines)
    assert not re.search(r"/work/|\.\./shared|session", text)


# ------------------------------------------------------------------------------- the checker fails where it must


def test_a_correct_text_has_no_problem():
    text = ("Run `tspsis train configs/mask_rcnn_ts/ts-mask-rcnn_r50_fpn_coco-voc2nonvoc.py --work-dir W --gpus 8` "
            "(`make test`), read [the pages](docs/README.md), merge `box-cpu_1xb16.py`: "
            "`ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc+box-conditioned+box-cpu_1xb16+500it`; "
            "`tspsis.engine.config.composed_name`.")
    assert problems(text) == []


def test_a_planted_broken_path_fails():
    found = problems("See [the page](docs/no_such_page.md) and `scripts/no_such_script.py`.")
    assert "link docs/no_such_page.md: no such file or folder" in found
    assert "scripts/no_such_script.py: no such file or folder" in found


def test_a_wrong_config_name_fails():
    assert problems("`ts-mask-rcnn_r18_fpn_synth-voc2nonvoc.py`") == [
        "ts-mask-rcnn_r18_fpn_synth-voc2nonvoc.py: no such config or script"]
    assert problems("`ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc+box-conditioned+no-such-mixin+500it`") == [
        ("ts-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc+box-conditioned+no-such-mixin+500it: composed name with "
         "unknown parts ['no-such-mixin']")]


def test_a_removed_dotted_name_fails():
    assert problems("`tspsis.lab.no_such_name` and `tspsis.core.splits`") == [
        "tspsis.lab.no_such_name: does not resolve"]


def test_a_wrong_make_target_or_cli_option_fails():
    assert problems("`make no-such-target`") == ["make no-such-target: no such target"]
    assert problems("```bash\ntspsis train CONFIG --work-dir W \\\n    --no-such-flag 1\ntspsis nope\n```\n") == [
        "tspsis train: no option --no-such-flag", "tspsis nope: no such command"]

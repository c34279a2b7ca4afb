import subprocess
import sys

import pytest

from bench.cli import main
from tests.conftest import REPO


def test_help_lists_verbs_and_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "bench demo" in out


def test_every_verb_has_help_with_examples(capsys):
    from bench.cli import build_parser

    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    assert verbs, "no verbs registered"
    for verb, sub in verbs.items():
        text = sub.format_help()
        assert "examples:" in text, f"bench {verb} --help has no examples"


def test_bad_option_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--no-such-option"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]


def test_python_dash_m_bench_runs_from_checkout():
    proc = subprocess.run([sys.executable, "-m", "bench", "--version"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "motionbench" in proc.stdout

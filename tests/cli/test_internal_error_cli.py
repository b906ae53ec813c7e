"""A ppikit bug reached from the CLI ends in one line and exit 70, never a traceback (unless asked)."""

from click.testing import CliRunner

import ppikit.cli.aml
from ppikit.cli import EXIT_INTERNAL_ERROR, cli


def _broken_builder(*_args, **_kwargs):
    raise RuntimeError("boom\nsecond line")


def test_unexpected_exception_is_one_line_and_exit_70(monkeypatch, tmp_path):
    monkeypatch.setattr(ppikit.cli.aml, "build_tpm2", _broken_builder)
    monkeypatch.delenv("PPIKIT_TRACEBACK", raising=False)
    result = CliRunner().invoke(cli, ["tpm2-table", "--interface", "tis", "-o", str(tmp_path / "t.aml")])
    assert (result.exit_code, result.stdout) == (EXIT_INTERNAL_ERROR, "")
    assert result.stderr == ("ppikit: internal error: RuntimeError: boom second line "
                             "(a ppikit bug; PPIKIT_TRACEBACK=1 shows the traceback)\n")
    assert not (tmp_path / "t.aml").exists()


def test_traceback_env_lets_the_exception_through(monkeypatch, tmp_path):
    monkeypatch.setattr(ppikit.cli.aml, "build_tpm2", _broken_builder)
    monkeypatch.setenv("PPIKIT_TRACEBACK", "1")
    result = CliRunner().invoke(cli, ["tpm2-table", "--interface", "tis", "-o", str(tmp_path / "t.aml")])
    assert (type(result.exception), str(result.exception)) == (RuntimeError, "boom\nsecond line")

"""Property: whatever arguments a user types, the CLI answers 0, 1 or 2 -- never a traceback.

Hypothesis builds argument lists for the commands that take files, numbers and names, mixing valid
values with the ones users get wrong (huge, negative, malformed numbers; odd text; missing, short,
random, endless and directory paths). The contract (README, docs/architecture.md): exit 0 success,
1 "checked and found a problem", 2 bad input with exactly one line on stderr; exit 70 (an internal
error) or an exception escaping the CLI is a ppikit bug this test exists to find.
"""

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppikit.aml.golden import default_root
from ppikit.cli import cli
from ppikit.ppi.page import PpiPage

GOLDEN = default_root() / "tis-tpm2-ppi-qemu"

#: Files every path argument draws from (made once per module).
FILES = {
    "page.bin": PpiPage.blank().build(),
    "short.bin": bytes.fromhex("0050d4fe02"),  # 5 bytes: one short of etc/tpm/config
    "cfg.bin": bytes.fromhex("0050d4fe0201"),  # QEMU 7.2 etc/tpm/config, TPM 2.0 + PPI 1.30
    "ssdt.aml": (GOLDEN / "ssdt.aml").read_bytes(),
    "tpm2.aml": (GOLDEN / "TPM2.aml").read_bytes(),
    "noise.bin": bytes(range(256)) * 3,
    "text.txt": b"DSDT @ 0x0000000000000000\n  0000: 44 53 44 54\n",  # acpidump-looking, truncated
}
JUNK_PATHS = st.sampled_from([*FILES, "missing.bin", "adir", "/dev/zero", "/dev/null", ""])
JUNK_NUMBERS = st.one_of(
    st.integers(2**32, 2**70).map(hex),
    st.integers(-2**40, -1).map(str),
    st.sampled_from(["0x", "1e3", "five", "0b102", " 7 ", "1_000", "0o777", "--1", "\u0663", ""]),
)
JUNK_WORDS = st.one_of(st.sampled_from(["", "\u00e9", "\\", "\\_SB..X", "TPMX9", "1.3", "TIS"]), st.text(max_size=12))


def mostly(valid: st.SearchStrategy[str], junk: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Valid about three times in four, so most examples get past argument parsing and the junk
    lands in one field at a time (where a missing range check hides)."""
    return st.one_of(valid, valid, valid, junk)


def choice(*values: str) -> st.SearchStrategy[str]:
    return mostly(st.sampled_from(values), JUNK_WORDS)


def path(*valid: str) -> st.SearchStrategy[str]:
    return mostly(st.sampled_from(valid), JUNK_PATHS)


NUMBER = mostly(st.one_of(st.integers(0, 300).map(str), st.integers(0, 2**32 - 1).map(hex),
                          st.sampled_from(["0xFED45000", "0xFED40000", "0x10000", "0x1000"])), JUNK_NUMBERS)
U64 = mostly(st.integers(0, 2**64 - 1).map(hex), JUNK_NUMBERS)
ASSIGNMENT = st.tuples(choice("ppin", "ppip", "pprp", "pprq", "pprm", "lppr", "fret", "next_step", "movv"),
                       NUMBER).map("=".join)
FUNC = st.tuples(NUMBER, NUMBER).map("=".join)


def _command(words: list[str], positional: list[st.SearchStrategy[str]],
             required: dict[str, st.SearchStrategy[str]],
             optional: dict[str, st.SearchStrategy[str] | None]) -> st.SearchStrategy[list[str]]:
    """``words``, the positional arguments, every required option, then some optional ones (a
    None value: a flag); a required option is left out once in a while."""
    def flat(pairs: list[tuple[str, str | None]]) -> list[str]:
        return [item for name, value in pairs for item in ([name] if value is None else [name, value])]

    def pair(name: str, values: st.SearchStrategy[str] | None) -> st.SearchStrategy[tuple[str, str | None]]:
        return st.just((name, None)) if values is None else values.map(lambda v: (name, v))

    required_pairs = st.tuples(*[st.one_of(pair(n, v), pair(n, v), pair(n, v), st.just(None))
                                 for n, v in required.items()])
    optional_pairs = st.lists(st.one_of(*[pair(n, v) for n, v in optional.items()]), max_size=4) \
        if optional else st.just([])
    return st.tuples(st.tuples(*positional), required_pairs, optional_pairs).map(
        lambda parts: words + list(parts[0]) + flat([p for p in parts[1] if p is not None]) + flat(parts[2]))


OUTPUT = {"-o": mostly(st.just("out.bin"), st.sampled_from(["adir", "missing-dir/out.bin", ""]))}
JSON: dict[str, st.SearchStrategy[str] | None] = {"--json": None}
COMMANDS = st.one_of(
    _command(["region", "decode"], [path("page.bin")], {}, {"--tpm": choice("1.2", "2.0"), **JSON}),
    _command(["region", "encode"], [], OUTPUT, {"--set": ASSIGNMENT, "--func": FUNC, "--base": path("page.bin")}),
    _command(["fwcfg", "decode"], [path("cfg.bin")], {}, JSON),
    _command(["fwcfg", "encode"], [], {"--ppi-address": NUMBER, "--tpm": choice("1.2", "2.0"), **OUTPUT},
             {"--ppi-version": choice("none", "1.30")}),
    _command(["ops"], [], {}, {"--tpm": choice("1.2", "2.0"), **JSON}),
    _command(["table", "decode"], [path("tpm2.aml")], {}, {**JSON, "--no-verify": None}),
    _command(["tpm2-table"], [], {"--interface": choice("tis", "crb"), **OUTPUT},
             {"--lasa": U64, "--laml": NUMBER, "--mmio-base": NUMBER, "--oem-id": choice("ACME", "BOCHS ")}),
    _command(["tcpa-table"], [], OUTPUT, {"--lasa": U64, "--laml": NUMBER, "--oem-table-id": choice("TPMTBL")}),
    _command(["ssdt"], [], {"--interface": choice("tis", "crb"), "--tpm": choice("1.2", "2.0"), **OUTPUT},
             {"--profile": choice("qemu", "strict"), "--ppi-address": NUMBER, "--no-ppi": None,
              "--scope": choice("\\_SB", "\\_SB.PCI0.ISA", "\\_SB.PCI0"), "--device-name": choice("TPM", "TPM0"),
              "--mmio-base": NUMBER, "--mmio-size": NUMBER, "--oem-id": choice("ACME")}),
    _command(["snapshot", "inspect"], [path("noise.bin")], {}, JSON),
    _command(["dsm"], [path("ssdt.aml"), NUMBER], {},
             {"--rev": NUMBER, "--arg": NUMBER, "--uuid": choice("ppi", "mor", "3dddfaa6-361b-4eb4-a424-8d10089d1653"),
              "--page": path("page.bin"), **JSON}),
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    for name, data in FILES.items():
        (root / name).write_bytes(data)
    (root / "adir").mkdir()
    return root


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=COMMANDS)
def test_any_arguments_end_in_0_1_or_2_with_one_error_line(workdir, monkeypatch, argv):
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("PPIKIT_TRACEBACK", raising=False)
    result = CliRunner().invoke(cli, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), (argv, result.exception)
    assert result.exit_code in (0, 1, 2), (argv, result.exit_code, result.stderr)
    if result.exit_code == 2:
        assert len(result.stderr.splitlines()) == 1, (argv, result.stderr)

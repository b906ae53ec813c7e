"""The parts of the Linux client that are pure logic: the kernel's sscanf, acpi_check_dsm, argument
building. The AML side of every rule is exercised with real acpiexec in the sibling test modules;
here a Python function stands in for ``_DSM`` only to reach inputs no table can produce cheaply."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ppikit.ppi.os_linux import CallableDsm, DsmCall, LinuxPpiSysfs, acpi_check_dsm, kernel_sscanf

U64 = st.integers(0, 2**64 - 1)


def test_kernel_sscanf_examples():
    assert kernel_sscanf(b"23 3\n", 2) == [23, 3]
    assert kernel_sscanf(b"\t 23\n\v3", 2) == [23, 3]  # any white space, including newlines
    assert kernel_sscanf(b"23,3", 2) == [23]  # a non-space separator ends the scan
    assert kernel_sscanf(b"0x17", 2) == [0]  # %llu is decimal: stops at 'x'
    assert kernel_sscanf(b"-5", 1) == []  # %llu takes no sign
    assert kernel_sscanf(b"-5", 1, signed=True) == [-5]  # %d does
    assert kernel_sscanf(b"+5", 1, signed=True) == []
    assert kernel_sscanf(b"18446744073709551617", 1) == [1]  # wraps modulo 2**64
    assert kernel_sscanf(b"5\x007", 2) == [5]  # a C string ends at NUL
    assert kernel_sscanf(b"\xa05", 1) == [5]  # Latin-1 NBSP is white space in lib/ctype.c


def test_acpi_check_dsm_examples():
    assert acpi_check_dsm(b"\xff\x01", 1 << 8)  # QEMU: functions 0..8
    assert not acpi_check_dsm(b"\xfe\x01", 1 << 1)  # bit 0 clear
    assert acpi_check_dsm(0x183, 1 << 7 | 1 << 8)  # an Integer bitmap
    assert not acpi_check_dsm(b"\x83" + bytes(7) + b"\x01", 1 << 8)  # only 8 bytes count
    assert not acpi_check_dsm("\xff\x01", 1 << 1)  # a String is no bitmap
    assert not acpi_check_dsm(None, 1 << 1)
    assert not acpi_check_dsm(b"\xff\x01", 0)  # funcs == 0 is always false


def recording_sysfs(version: str) -> LinuxPpiSysfs:
    """A client whose _DSM accepts everything (fn 0: all functions; fn 2/7: 0)."""
    return LinuxPpiSysfs(CallableDsm(lambda rev, fn, arg: b"\xff\x01" if fn == 0 else 0), version)


@settings(max_examples=200)
@given(op=U64, param=U64, gap=st.sampled_from([" ", "\t", "  ", "\n"]))
def test_two_numbers_become_the_argument_each_ppi_version_sends(op, param, gap):
    text = f"{op}{gap}{param}\n"
    expected = {
        "1.3": DsmCall(2, 7, (op, param), 0),
        "1.2": DsmCall(1, 7, (op,), 0),
        "1.0": DsmCall(1, 7, (op & 0xFFFFFFFF).to_bytes(4, "little"), 0),
        "2.0": DsmCall(1, 7, (op,), 0),  # > "1.3" but not "1.3": the 1.2 path
    }
    for version, call in expected.items():
        sysfs = recording_sysfs(version)
        assert sysfs.write_request(text) == len(text.encode())
        assert sysfs.calls == [DsmCall(1, 0, (), b"\xff\x01"), call]


def test_empty_write_reaches_no_acpi():
    sysfs = recording_sysfs("1.3")
    assert sysfs.write_request("") == 0
    assert sysfs.calls == []

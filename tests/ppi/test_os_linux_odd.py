"""Linux's errno and text for every odd ``_DSM`` answer, from a hand-written table (real iasl + acpiexec).

``data/odd_dsm.asl`` answers each function in a shape chosen through test-control bytes in the
unused part of the PPI page (see its header), so one warm acpiexec session covers every case; it
also records what the AML received for the last request submission (fn 2/7), which checks the
argument shapes from the AML's side. Expected results: tpm_ppi.c as in firmware-and-os.md §5.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ppikit.aml.iasl import compile_asl
from ppikit.aml.runtime import AcpiRuntime
from ppikit.ppi.os_linux import (
    DsmCall,
    LinuxPpiSysfs,
    NoPpiDirectory,
    OperationsFormat,
    TPM_DEVICE_IDS,
    SysfsError,
    attach,
    find_tpm_devices,
)
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE

ASL = Path(__file__).resolve().parent / "data" / "odd_dsm.asl"
CONTROL = 0x200  # page offset of M0..M8; V1..V3 at +0x10; the recorder at +0x30
RECORDER = TPM_PPI_ADDR_BASE + CONTROL + 0x30
ACPI_TYPE_BUFFER, ACPI_TYPE_PACKAGE = 3, 4  # ObjectType() results


@pytest.fixture(scope="module")
def odd_runtime():
    with AcpiRuntime([compile_asl(ASL.read_text(), name=ASL.name)]) as runtime:
        yield runtime


def configure(runtime: AcpiRuntime, *, modes: dict[int, int] | None = None, v: tuple[int, int, int] = (0, 0, 0),
              func: dict[int, int] | None = None) -> None:
    """Write the whole page: func[] bytes, answer modes per function, the values V1..V3."""
    page = bytearray(TPM_PPI_ADDR_SIZE)
    for op, value in (func or {}).items():
        page[op] = value
    for fn, mode in (modes or {}).items():
        page[CONTROL + fn] = mode
    page[CONTROL + 0x10:CONTROL + 0x28] = struct.pack("<3Q", *v)
    runtime.write_memory(TPM_PPI_ADDR_BASE, bytes(page))


def boot(runtime: AcpiRuntime, fmt: OperationsFormat = OperationsFormat.CLASSIC, **config) -> LinuxPpiSysfs:
    configure(runtime, **config)
    return attach(runtime, operations_format=fmt)


def recorded(runtime: AcpiRuntime) -> tuple[int, ...]:
    """(revision, function, ObjectType(Arg3), SizeOf(Arg3), first, second) of the last fn 2/7 call."""
    return struct.unpack("<6Q", runtime.read_memory(RECORDER, 48))


def errno_of(read, *args) -> str:
    with pytest.raises(SysfsError) as info:
        read(*args)
    return info.value.errno_name


def outcome_of(read) -> str:
    """The text a read returns, or its errno name."""
    try:
        return read()
    except SysfsError as exc:
        return exc.errno_name


# -- registration: fn 0 (acpi_check_dsm) and fn 1 ----------------------------------------------------

def test_device_found_by_cid_eisa_id_and_absent_ones_skipped(odd_runtime):
    configure(odd_runtime)
    assert odd_runtime.find_devices(TPM_DEVICE_IDS) == ["\\_SB.GONE", "\\_SB.ODD"]
    assert find_tpm_devices(odd_runtime) == ["\\_SB.ODD"]
    assert attach(odd_runtime).dsm.device == "\\_SB.ODD"


def test_device_without_sta_is_present():
    asl = 'DefinitionBlock ("", "DSDT", 2, "PPIKIT", "NOSTA", 1) { Device (\\_SB.NOST) { Name (_HID, "MSFT0101") } }'
    with AcpiRuntime([compile_asl(asl)]) as runtime:
        assert find_tpm_devices(runtime) == ["\\_SB.NOST"]
        with pytest.raises(NoPpiDirectory, match=r"\\_SB.NOST: _DSM fn 0 .* it answered nothing"):
            attach(runtime)  # no _DSM at all


@pytest.mark.parametrize(("mode", "why"), [
    (3, "fn 0 answers a String: no bitmap"),
    (4, "Buffer{0xFE, 0x01}: bit 0 clear"),
])
def test_no_ppi_directory_when_fn0_probe_fails(odd_runtime, mode, why):
    configure(odd_runtime, modes={0: mode})
    with pytest.raises(NoPpiDirectory):
        attach(odd_runtime)


def test_integer_bitmap_is_accepted(odd_runtime):
    sysfs = boot(odd_runtime, modes={0: 1}, v=(0, 0, 0x183))  # Integer 0x183: fns 0, 1, 7, 8
    sysfs.write_request("5\n")
    assert recorded(odd_runtime)[:2] == (1, 7)
    assert sysfs.read_tcg_operations() == ""  # every func[] byte is 0


def test_integer_bitmap_without_bit1_means_no_directory(odd_runtime):
    configure(odd_runtime, modes={0: 1}, v=(0, 0, 0x181))
    with pytest.raises(NoPpiDirectory):
        attach(odd_runtime)


def test_buffer_bitmap_reads_at_most_8_bytes(odd_runtime):
    # Buffer{0x83, 0 x 7, 0x01}: fns 0, 1, 7 in byte 0; fn 8's bit sits in byte 9, which is ignored
    sysfs = boot(odd_runtime, modes={0: 2})
    assert errno_of(sysfs.read_tcg_operations) == "EPERM"
    assert errno_of(sysfs.read_vs_operations) == "EPERM"
    sysfs.write_request("5\n")
    assert recorded(odd_runtime)[:2] == (1, 7)


def test_fn2_is_used_when_fn7_is_not_advertised(odd_runtime):
    sysfs = boot(odd_runtime, modes={0: 5})  # Buffer{0x03}: fns 0 and 1 only
    assert sysfs.write_request("21\n") == 3
    assert recorded(odd_runtime) == (1, 2, ACPI_TYPE_PACKAGE, 1, 21, 2**64 - 1)
    assert errno_of(sysfs.read_tcg_operations) == "EPERM"


@pytest.mark.parametrize(("mode", "version"), [(0, "1.3\n"), (1, "1.2\n"), (2, "1.0\n"), (3, "1.3\n"), (4, "\n")])
def test_version_is_fn1_string_cut_to_3_chars_or_empty(odd_runtime, mode, version):
    # mode 3 answers "1.30" (strscpy into char[4]); mode 4 an Integer: version stays empty, the
    # directory is still created
    assert boot(odd_runtime, modes={1: mode}).read_version() == version


# -- request write: argument shapes per PPI version -------------------------------------------------

def test_ppi_1_2_sends_package_of_op_even_with_two_numbers(odd_runtime):
    sysfs = boot(odd_runtime, modes={1: 1})
    assert sysfs.write_request("23 3\n") == 5
    assert sysfs.calls[-1] == DsmCall(1, 7, (23,), 0)
    assert recorded(odd_runtime) == (1, 7, ACPI_TYPE_PACKAGE, 1, 23, 2**64 - 1)


def test_ppi_1_3_two_numbers_send_rev2_package_of_two(odd_runtime):
    sysfs = boot(odd_runtime)
    sysfs.write_request("23 3\n")
    assert recorded(odd_runtime) == (2, 7, ACPI_TYPE_PACKAGE, 2, 23, 3)


def test_64_bit_table_receives_64_bit_request_numbers(odd_runtime):
    sysfs = boot(odd_runtime)
    sysfs.write_request("18446744073709551615 18446744073709551616\n")  # the second wraps to 0
    assert recorded(odd_runtime) == (2, 7, ACPI_TYPE_PACKAGE, 2, 2**64 - 1, 0)


@pytest.mark.parametrize(("text", "op"), [("5\n", 5), ("-1\n", 0xFFFFFFFF), ("  7 8\n", 7)])
def test_ppi_below_1_2_sends_a_4_byte_buffer(odd_runtime, text, op):
    sysfs = boot(odd_runtime, modes={1: 2})  # version "1.0"
    sysfs.write_request(text)
    assert sysfs.calls[-1] == DsmCall(1, 7, op.to_bytes(4, "little"), 0)
    assert recorded(odd_runtime) == (1, 7, ACPI_TYPE_BUFFER, 4, op, 2**64 - 1)


def test_empty_version_behaves_as_below_1_2(odd_runtime):
    sysfs = boot(odd_runtime, modes={1: 4})
    sysfs.write_request("5\n")
    assert sysfs.calls[-1].argument == b"\x05\x00\x00\x00"
    sysfs.read_transition_action()
    assert sysfs.calls[-1] == DsmCall(1, 4, b"", 0)  # empty Buffer instead of an empty Package
    sysfs.read_request()
    assert sysfs.calls[-1].revision == 1


@pytest.mark.parametrize(("answer", "outcome"), [(0, 2), (1, "EPERM"), (2, "EFAULT"), (3, "EFAULT")])
def test_write_answer_to_errno(odd_runtime, answer, outcome):
    sysfs = boot(odd_runtime, v=(answer, 0, 0))
    if isinstance(outcome, int):
        assert sysfs.write_request("5\n") == outcome
    else:
        assert errno_of(sysfs.write_request, "5\n") == outcome


def test_write_answer_of_wrong_type_is_enxio(odd_runtime):
    sysfs = boot(odd_runtime, modes={7: 1})  # fn 7 answers the String "0"
    assert errno_of(sysfs.write_request, "5\n") == "ENXIO"


@pytest.mark.parametrize("text", ["clear\n", "+5\n", "\n", "0x5zz"])
def test_unparsable_write_is_einval(odd_runtime, text):
    # "0x5zz" parses as 0 in the kernel (%llu stops at 'x'), so it is *not* EINVAL: checked below
    sysfs = boot(odd_runtime)
    if text.startswith("0x"):
        assert sysfs.write_request(text) == len(text)
        assert sysfs.calls[-1] == DsmCall(1, 7, (0,), 0)
    else:
        assert errno_of(sysfs.write_request, text) == "EINVAL"


# -- request read (fn 3) --------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "values", "outcome"), [
    (0, (0, 23, 3), "23 3\n"),
    (0, (0, 5, 9), "5\n"),  # only op 23 prints its parameter
    (0, (1, 5, 0), "EFAULT"),
    (1, (0, 7, 0), "7\n"),  # the pre-2018 two-element package
    (1, (2, 7, 0), "EFAULT"),
    (2, (0, 5, 0), "EINVAL"),  # 4 elements
    (3, (0, 5, 0), "ENXIO"),  # an Integer, not a Package
    (4, (0, 5, 0), "EINVAL"),  # a String element
    (5, (0, 5, 0), "EINVAL"),  # 1 element
    (6, (0, 5, 0), "EINVAL"),  # a Buffer element
    (7, (0, 5, 0), "EINVAL"),  # element 2 uninitialized
    (0, (0, 2**64 - 1, 0), "18446744073709551615\n"),  # %llu of a 64-bit Integer
])
def test_request_read(odd_runtime, mode, values, outcome):
    assert outcome_of(boot(odd_runtime, modes={3: mode}, v=values).read_request) == outcome


# -- transition_action (fn 4) ---------------------------------------------------------------------

@pytest.mark.parametrize(("value", "text"), [
    (0, "0: None\n"), (1, "1: Shutdown\n"), (2, "2: Reboot\n"), (3, "3: OS Vendor-specific\n"),
    (4, "4: Error\n"), (0xFFFFFFFF, "-1: Error\n"),  # u32 printed with %d
    (0x100000002, "2: Reboot\n"),  # cut to u32
])
def test_transition_action(odd_runtime, value, text):
    assert boot(odd_runtime, v=(value, 0, 0)).read_transition_action() == text


def test_transition_action_wrong_type_is_enxio(odd_runtime):
    assert errno_of(boot(odd_runtime, modes={4: 1}).read_transition_action) == "ENXIO"


# -- response (fn 5) ------------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "values", "outcome"), [
    (0, (0, 5, 0), "5 0: Success\n"),
    (0, (0, 0, 7), "0: No Recent Request\n"),
    (0, (2, 5, 0), "EFAULT"),
    (0, (0, 5, 0x1FFFFFFF0), "5 8589934576: Error\n"),  # u64: not cut to 32 bits
    (1, (0, 5, 0), "EINVAL"),  # 2 elements
    (2, (0, 5, 0xFFFFFFF0), "5 0xFFFFFFF0: User Abort\n"),  # 4 elements: extra ones ignored
    (3, (0, 5, 0), "ENXIO"),  # a Buffer
    (4, (0, 5, 0), "EINVAL"),  # third element a String
])
def test_response(odd_runtime, mode, values, outcome):
    assert outcome_of(boot(odd_runtime, modes={5: mode}, v=values).read_response) == outcome


# -- tcg_operations / vs_operations (fn 8) --------------------------------------------------------

ODD_FUNC = {0: 4, 1: 1, 2: 2, 3: 5, 4: 0xFF, 101: 3, 102: 3, 128: 7, 255: 1}


def test_classic_operations_print_1_to_4_unmasked(odd_runtime):
    sysfs = boot(odd_runtime, func=ODD_FUNC)
    assert sysfs.read_tcg_operations() == (
        "0 4: User not required\n1 1: BIOS only\n2 2: Blocked for OS by BIOS\n101 3: User required\n")
    assert sysfs.read_vs_operations() == "255 1: BIOS only\n"


def test_cached_operations_print_0_to_4(odd_runtime):
    sysfs = boot(odd_runtime, OperationsFormat.CACHED, func=ODD_FUNC)
    lines = sysfs.read_tcg_operations().splitlines()
    assert lines[:3] == ["0 4: User not required", "1 1: BIOS only", "2 2: Blocked for OS by system firmware"]
    assert lines[3] == "5 0: Not implemented"  # 3 (value 5) and 4 (value 0xFF) omitted
    assert lines[-1] == "101 3: User required" and len(lines) == 102 - 2
    vs = sysfs.read_vs_operations().splitlines()
    assert vs[0] == "129 0: Not implemented" and vs[-1] == "255 1: BIOS only" and len(vs) == 127


def test_wrong_type_for_one_op_is_enomem_classic(odd_runtime):
    sysfs = boot(odd_runtime, modes={8: 1}, v=(0, 50, 0), func=ODD_FUNC)  # op 50 answers a String
    assert errno_of(sysfs.read_tcg_operations) == "ENOMEM"
    assert sysfs.calls[-1] == DsmCall(1, 8, (50,), "3")  # Linux stops at the failing op
    assert sysfs.read_vs_operations() == "255 1: BIOS only\n"


def test_wrong_type_is_enomem_for_both_files_cached_until_it_succeeds(odd_runtime):
    sysfs = boot(odd_runtime, OperationsFormat.CACHED, modes={8: 1}, v=(0, 200, 0), func=ODD_FUNC)
    assert errno_of(sysfs.read_tcg_operations) == "ENOMEM"  # op 200 fails while filling the cache
    assert errno_of(sysfs.read_vs_operations) == "ENOMEM"
    configure(odd_runtime, func=ODD_FUNC)
    assert sysfs.read_vs_operations().endswith("255 1: BIOS only\n")

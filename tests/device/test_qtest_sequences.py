"""QEMU's own TIS and CRB qtests (tests/qtest/tpm-tis-util.c, tpm-crb-test.c), replayed step by
step against the models with the same fake backend QEMU uses (tpm-emu.c)."""

from __future__ import annotations

from device_model_support import TPM2_ERROR_REPLY, TPM2_STARTUP_CLEAR, CrbHarness, TisHarness

ACCESS, INTF_CAP, STS, FIFO, IFACE_ID, DID_VID, RID = 0x00, 0x14, 0x18, 0x24, 0x30, 0xF00, 0xF04
VALID, ACTIVE, BEEN_SEIZED, SEIZE, PENDING, REQUEST_USE, ESTABLISHMENT = 0x80, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01
IDLE_ACCESS = VALID | ESTABLISHMENT  # 0x81


def test_check_localities(tis2: TisHarness) -> None:
    for locty in range(5):
        assert tis2.access(locty) == 0x81
        assert tis2.read(locty, INTF_CAP) == 0x30000697
        assert tis2.read(locty, IFACE_ID) == 0x00002100
        assert tis2.read(locty, DID_VID) not in (0, 0xFFFFFFFF)
        assert tis2.read(locty, RID) not in (0, 0xFFFFFFFF)


def test_check_access_reg(tis2: TisHarness) -> None:
    for locty in range(4):
        assert tis2.access(locty) == 0x81
        tis2.write(locty, ACCESS, REQUEST_USE)
        assert tis2.access(locty) == 0xA1
        tis2.write(locty, ACCESS, ACTIVE)
        assert tis2.access(locty) == 0x81


def test_check_access_reg_seize(tis2: TisHarness) -> None:
    h = tis2
    for locty in range(4):
        pending = 0
        assert h.access(locty) == IDLE_ACCESS
        h.write(locty, ACCESS, REQUEST_USE)
        assert h.access(locty) == IDLE_ACCESS | ACTIVE
        for l in range(locty):  # lower localities can neither request nor seize
            assert h.access(l) == IDLE_ACCESS | pending
            h.write(l, ACCESS, REQUEST_USE)
            assert h.access(l) == IDLE_ACCESS | REQUEST_USE | pending
            assert h.access(locty) == IDLE_ACCESS | ACTIVE | PENDING
            h.write(l, ACCESS, SEIZE)
            assert h.access(l) == IDLE_ACCESS | REQUEST_USE | pending
            assert h.access(locty) == IDLE_ACCESS | ACTIVE | PENDING
            pending = PENDING
        l = locty
        for l in range(locty + 1, 4):  # higher localities can seize, one after the other
            h.write(l, ACCESS, REQUEST_USE)
            assert h.access(l) == IDLE_ACCESS | REQUEST_USE | pending
            assert h.access(l - 1) == IDLE_ACCESS | ACTIVE | PENDING
            h.write(l, ACCESS, SEIZE)
            assert h.access(l) == IDLE_ACCESS | ACTIVE | pending
            assert h.access(l - 1) == IDLE_ACCESS | BEEN_SEIZED | pending
            h.write(l - 1, ACCESS, BEEN_SEIZED)
            assert h.access(l - 1) == IDLE_ACCESS | pending
        if locty <= 1:
            pending = 0
        h.write(l, ACCESS, ACTIVE)  # the top locality relinquishes
        assert h.access(l) == IDLE_ACCESS | pending
        for l in range(locty - 1, -1, -1):  # lower requesters get it in descending order
            assert h.access(l) == IDLE_ACCESS | ACTIVE | pending
            h.write(l, ACCESS, ACTIVE)
            if l == 1:
                pending = 0
        assert [h.access(l) for l in range(4)] == [IDLE_ACCESS] * 4


def test_check_access_reg_release(tis2: TisHarness) -> None:
    h = tis2
    for locty in range(3, -1, -1):
        pending = 0
        assert h.access(locty) == IDLE_ACCESS
        h.write(locty, ACCESS, REQUEST_USE)
        assert h.access(locty) == IDLE_ACCESS | ACTIVE
        for l in range(4):
            if l == locty:
                continue
            h.write(l, ACCESS, REQUEST_USE)
            assert h.access(l) == IDLE_ACCESS | REQUEST_USE | pending  # 0x83, then 0x87
            pending = PENDING
        h.write(locty, ACCESS, ACTIVE)
        for l in range(3, -1, -1):
            if l == locty:
                continue
            assert h.access(l) == IDLE_ACCESS | ACTIVE | pending
            h.write(l, ACCESS, ACTIVE)
            if l == 1 or (locty <= 1 and l == 2):
                pending = 0
            assert h.access(l) == IDLE_ACCESS | pending


def test_check_transmit(tis2: TisHarness) -> None:
    h = tis2
    h.write(0, ACCESS, REQUEST_USE)
    assert h.access(0) == 0xA1
    sts = h.sts(0)
    assert sts & 0xFF == 0 and sts & 0x0C000000 == 0x04000000 and (sts >> 8) & 0xFFFF >= 128
    h.write(0, STS, 0x40)
    sts = h.sts(0)
    assert sts & 0xFF == 0x40
    burst = (sts >> 8) & 0xFFFF
    for index, byte in enumerate(TPM2_STARTUP_CLEAR, 1):
        h.write(0, FIFO, byte)
        sts = h.sts(0)
        assert (sts >> 8) & 0xFFFF == burst - 1
        burst -= 1
        assert sts & 0xFF == (0x80 if index == len(TPM2_STARTUP_CLEAR) else 0x88)
    h.write(0, STS, 0x20)
    for _ in range(1000):  # QEMU polls up to 50 s; with the synchronous model the first poll sees it
        if h.sts(0) & 0x10:
            break
    sts = h.sts(0)
    assert sts & 0xFF == 0x90 and (sts >> 8) & 0xFFFF == 10
    response = bytearray()
    for remaining in range(10, 0, -1):
        assert (h.sts(0) >> 8) & 0xFFFF == remaining and h.sts(0) & 0x10
        response.append(h.read(0, FIFO, 1))
    assert bytes(response) == TPM2_ERROR_REPLY
    h.write(0, ACCESS, ACTIVE)
    assert h.access(0) == 0x81


def test_crb(crb: CrbHarness) -> None:
    h = crb
    intf_id = h.read(0x30)
    fields = [(intf_id >> shift) & mask for shift, mask in
              ((0, 0xF), (4, 0xF), (8, 1), (9, 1), (11, 3), (13, 1), (14, 1), (17, 3), (24, 0xFF))]
    # InterfaceType, InterfaceVersion, CapLocality, CapCRBIdleBypass, CapDataXferSizeSupport,
    # CapFIFO, CapCRB, InterfaceSelector, RID
    assert fields == [1, 1, 0, 0, 3, 0, 1, 1, 0]
    assert h.read(0x58) >= 128 and h.read(0x64) >= 128
    assert h.read(0x5C, 8) > 0xFED40000 and h.read(0x68, 8) > 0xFED40000
    loc_state = h.read(0x00, 1)
    assert [(loc_state >> s) & m for s, m in ((0, 1), (1, 1), (2, 7), (5, 3), (7, 1))] == [1, 0, 0, 0, 1]
    assert (h.read(0x08), h.read(0x0C), h.read(0x44)) == (0, 0, 0b10)
    h.write(0x08, 1, size=1)
    assert h.read(0x0C) == 0b01 and h.read(0x00, 1) == 0x83
    h.write(0x40, 1)
    assert h.read(0x44) == 0
    command_addr = h.read(0x5C, 8) - 0xFED40000
    for index, byte in enumerate(TPM2_STARTUP_CLEAR):
        h.write(command_addr + index, byte, size=1)
    h.write(0x4C, 1)
    for _ in range(1000):
        if not h.read(0x4C) & 1:
            break
    assert h.read(0x4C) == 0 and h.read(0x44) == 0
    response_addr = h.read(0x68, 8) - 0xFED40000
    assert bytes(h.read(response_addr + i, 1) for i in range(10)) == TPM2_ERROR_REPLY
    h.write(0x40, 2)
    assert h.read(0x44) == 0b10
    h.write(0x08, 2)
    assert h.read(0x0C) == 0 and h.read(0x00, 1) == 0x81

"""ppikit._files: the bounded reader every user-named input goes through."""

import errno
import os
import threading

import pytest

from ppikit._files import MAX_INPUT_BYTES, read_input_file


def test_reads_a_regular_file_whole(tmp_path):
    (tmp_path / "cfg.bin").write_bytes(bytes.fromhex("0050d4fe0201"))  # QEMU 7.2 etc/tpm/config
    assert read_input_file(tmp_path / "cfg.bin") == bytes.fromhex("0050d4fe0201")


def test_exactly_the_limit_is_accepted_one_more_byte_is_efbig(tmp_path):
    (tmp_path / "page.bin").write_bytes(bytes(0x400))
    assert read_input_file(tmp_path / "page.bin", limit=0x400) == bytes(0x400)
    with pytest.raises(OSError) as info:
        read_input_file(tmp_path / "page.bin", limit=0x3FF)
    assert (info.value.errno, info.value.strerror) == (errno.EFBIG, "larger than 1023 bytes: not a ppikit input")


def test_an_endless_device_stops_at_the_default_limit():
    with pytest.raises(OSError) as info:
        read_input_file("/dev/zero")
    assert info.value.errno == errno.EFBIG
    assert info.value.strerror == f"larger than {MAX_INPUT_BYTES} bytes: not a ppikit input"


def test_a_fifo_without_a_writer_is_empty_instead_of_blocking_in_open(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    assert read_input_file(tmp_path / "fifo") == b""


def test_a_pipe_with_a_live_writer_is_read_to_its_end(tmp_path):
    """``ppikit check <(acpidump)``: the data of a slower writer is waited for."""
    os.mkfifo(tmp_path / "fifo")
    opened = threading.Event()

    def writer() -> None:
        with open(tmp_path / "fifo", "wb") as out:  # blocks until the reader has opened
            opened.set()
            out.write(b"DSDT")
            out.flush()
            out.write(b"\x24\x00\x00\x00")

    # open the writer first so the reader finds it (a FIFO read before any writer opens is empty)
    fd = os.open(tmp_path / "fifo", os.O_RDONLY | os.O_NONBLOCK)
    thread = threading.Thread(target=writer)
    thread.start()
    opened.wait(10)
    try:
        assert read_input_file(tmp_path / "fifo") == b"DSDT\x24\x00\x00\x00"
    finally:
        os.close(fd)
        thread.join(10)


def test_missing_file_and_directory_raise_their_own_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_input_file(tmp_path / "missing.bin")
    with pytest.raises(IsADirectoryError):
        read_input_file(tmp_path)

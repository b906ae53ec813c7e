"""Process facts for tests that check what outlives what (read from /proc, Linux only)."""

from pathlib import Path


def _stat(pid: int) -> tuple[str, list[str]] | None:
    """(comm, fields after comm) of ``pid``, or None if there is no such process."""
    try:
        head, rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return head.split("(", 1)[1], rest.split()


def process_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    stat = _stat(pid)
    return stat is not None and stat[1][0] != "Z"


def children_named(parent: int, name: str) -> list[int]:
    """Live processes called ``name`` whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            comm, fields = stat
            if comm == name and int(fields[1]) == parent and fields[0] != "Z":
                found.append(int(entry.name))
    return found

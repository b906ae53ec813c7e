"""The README's hardware example runs as written (the API names it uses stay true)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_hardware_example_runs_and_reads_what_its_comments_say() -> None:
    text = README.read_text()
    block = re.search(r"The hardware layer on its own.*?```python\n(.*?)```", text, re.S).group(1)
    # the commented values become checks: `expr  # 0x...: meaning` -> assert expr == 0x...
    checked = re.sub(r"^(\s*)(\S.*?)\s+# (0x[0-9A-F]+):.*$", r"\1assert \2 == \3", block, flags=re.M)
    assert checked.count("assert ") == 2  # DID_VID and ACCESS
    namespace: dict = {}
    exec(compile(checked, str(README), "exec"), namespace)  # noqa: S102 -- our own README

"""The golden corpus: the AML ppikit ships for every supported configuration, kept honest.

Why: a template edit or a new iasl can silently change the bytes firmware authors copy. Each folder
of ``ppikit/golden/`` holds one configuration's ``ssdt.aml``, its disassembly ``ssdt.dsl``, its
``TPM2.aml`` or ``TCPA.aml``, and ``manifest.json`` (parameters, iasl version, sha256 per file).

:func:`check` regenerates everything and compares in one of two modes (QEMU's bios-tables-test
workflow): ``bytes`` when the installed iasl is the one that made the corpus, else ``disassembly``
(both SSDTs disassembled by the installed iasl and normalised: banner and file name removed; the
stored ``ssdt.dsl``, made by another disassembler, is then not compared). The TPM2/TCPA tables do
not depend on iasl and are always compared byte for byte; every stored file is also checked against
its manifest sha256. :func:`update` rewrites the corpus; it is
only ever run on purpose (``ppikit golden update``).

Naming: ``<interface>-<tpm>-ppi-<profile>`` and ``<interface>-<tpm>-noppi``. Without PPI there is no
``_DSM``, so the profile cannot change a byte and there is one ``noppi`` folder per interface/TPM.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ppikit.aml.iasl import disassemble, iasl_version
from ppikit.aml.params import Interface, Profile, SsdtParams
from ppikit.tpm.version import TpmVersion
from ppikit.aml.render import build_ssdt
from ppikit.aml.tables import build_tpm_table
from ppikit.errors import ToolError

MANIFEST = "manifest.json"
SSDT_AML = "ssdt.aml"
SSDT_DSL = "ssdt.dsl"
MODE_BYTES = "bytes"
MODE_DISASSEMBLY = "disassembly"


def _configurations() -> tuple[SsdtParams, ...]:
    configs = []
    for interface, tpm in ((Interface.TIS, TpmVersion.TPM_1_2), (Interface.TIS, TpmVersion.TPM_2_0),
                           (Interface.CRB, TpmVersion.TPM_2_0)):
        for profile in Profile:
            configs.append(SsdtParams.create(interface=interface, tpm=tpm, ppi=True, profile=profile))
        configs.append(SsdtParams.create(interface=interface, tpm=tpm, ppi=False))
    return tuple(configs)


#: Every configuration in the corpus: TIS 1.2, TIS 2.0, CRB 2.0 x (PPI qemu, PPI strict, no PPI).
GOLDEN_CONFIGS: tuple[SsdtParams, ...] = _configurations()


def default_root() -> Path:
    """The corpus shipped inside the installed package."""
    return Path(str(resources.files("ppikit") / "golden"))


_BANNER = re.compile(r"\A\s*/\*.*?\*/\s*", re.S)
_DEFBLOCK_FILE = re.compile(r'^(DefinitionBlock \()"[^"]*"', re.M)


def normalise_dsl(text: str) -> str:
    """Disassembly without what varies between runs and iasl versions: the leading comment block
    (iasl version, date, file name, compiler id/version) and the DefinitionBlock file-name argument."""
    text = _BANNER.sub("", text, count=1)
    text = _DEFBLOCK_FILE.sub(r'\1""', text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines()) + "\n"


def generate(params: SsdtParams) -> dict[str, bytes]:
    """The corpus files of one configuration (without the manifest)."""
    aml = build_ssdt(params)
    signature, table = build_tpm_table(params)
    return {
        SSDT_AML: aml,
        SSDT_DSL: normalise_dsl(disassemble(aml)).encode(),
        f"{signature}.aml": table,
    }


def _manifest(params: SsdtParams, files: dict[str, bytes]) -> dict[str, Any]:
    return {
        "config": params.config_name,
        "params": params.to_dict(),
        "iasl_version": iasl_version(),
        "dsl": "iasl -d output, normalised (banner and file name removed)",
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }


def update(root: Path | None = None) -> list[Path]:
    """Regenerate the whole corpus under ``root`` (default: the package's); returns the folders."""
    root = Path(root) if root is not None else default_root()
    root.mkdir(parents=True, exist_ok=True)
    wanted = {p.config_name for p in GOLDEN_CONFIGS}
    for stale in root.iterdir():
        if stale.is_dir() and (stale / MANIFEST).exists() and stale.name not in wanted:
            shutil.rmtree(stale)
    written = []
    for params in GOLDEN_CONFIGS:
        folder = root / params.config_name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        files = generate(params)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        (folder / MANIFEST).write_text(json.dumps(_manifest(params, files), indent=2, sort_keys=True) + "\n")
        written.append(folder)
    return written


@dataclass
class ConfigResult:
    """The verdict for one configuration folder."""

    config: str
    mode: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class GoldenReport:
    """What :func:`check` found; ``ok`` is True when every configuration matches."""

    iasl_version: str
    results: list[ConfigResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "iasl_version": self.iasl_version,
            "configs": [{"config": r.config, "mode": r.mode, "ok": r.ok, "problems": r.problems}
                        for r in self.results],
        }


def check(root: Path | None = None) -> GoldenReport:
    """Compare the corpus under ``root`` (default: the package's) with freshly generated files."""
    root = Path(root) if root is not None else default_root()
    installed = iasl_version()
    return GoldenReport(installed, [_check_one(root / p.config_name, p, installed) for p in GOLDEN_CONFIGS])


def _check_one(folder: Path, params: SsdtParams, installed: str) -> ConfigResult:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        return ConfigResult(params.config_name, MODE_BYTES, [f"cannot read {MANIFEST}: {exc}"])
    mode = MODE_BYTES if manifest.get("iasl_version") == installed else MODE_DISASSEMBLY
    result = ConfigResult(params.config_name, mode)
    if manifest.get("params") != params.to_dict():
        result.problems.append("manifest parameters differ from the configuration ppikit builds")
    stored: dict[str, bytes] = {}
    for name, digest in sorted(manifest.get("sha256", {}).items()):
        try:
            stored[name] = (folder / name).read_bytes()
        except OSError as exc:
            result.problems.append(f"{name}: cannot read ({exc.strerror})")
            continue
        if hashlib.sha256(stored[name]).hexdigest() != digest:
            result.problems.append(f"{name}: sha256 differs from the manifest (file changed after update)")
    fresh = generate(params)
    if set(fresh) != set(manifest.get("sha256", {})):
        result.problems.append(f"file set differs: corpus {sorted(manifest.get('sha256', {}))}, "
                               f"generated {sorted(fresh)}")
    for name, data in fresh.items():
        if name not in stored:
            continue
        if name == SSDT_DSL and mode == MODE_DISASSEMBLY:
            continue  # another iasl's disassembler made it; the SSDT itself is compared below
        if name == SSDT_AML and mode == MODE_DISASSEMBLY:
            try:
                same = normalise_dsl(disassemble(stored[name])) == normalise_dsl(disassemble(data))
            except ToolError:
                same = False
            if not same:
                result.problems.append(f"{name}: normalised disassembly differs")
        elif stored[name] != data:
            result.problems.append(f"{name}: {_first_difference(stored[name], data)}")
    return result


def _first_difference(old: bytes, new: bytes) -> str:
    if len(old) != len(new):
        return f"length {len(old)} in the corpus, {len(new)} generated"
    offset = next(i for i, (a, b) in enumerate(zip(old, new)) if a != b)
    return f"first byte difference at offset 0x{offset:X} (corpus 0x{old[offset]:02X}, generated 0x{new[offset]:02X})"

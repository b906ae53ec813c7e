"""pytest plugin (entry point ``ppikit``): fixtures for testing your own firmware logic with ppikit.

Fixtures:

* ``swtpm_backend`` -- a started :class:`~ppikit.device.backends.swtpm.SwtpmBackend` (TPM 2.0; use
  ``@pytest.mark.ppikit(tpm="1.2")`` for TPM 1.2), stopped after the test.
* ``ppi_platform`` -- a started and powered-on :class:`~ppikit.platform.platform.Platform`.
  Parametrise it with ``@pytest.mark.ppikit(interface="crb", tpm="2.0", firmware="ovmf",
  profile="strict", confirm="reject")`` or indirectly with
  ``@pytest.mark.parametrize("ppi_platform", [{"interface": "crb"}], indirect=True)``.

Import-light on purpose: loading the plugin imports nothing but pytest and the standard library, and
starts nothing; fixtures start swtpm/acpiexec only when a test asks for them. It is the one place in
ppikit where a missing tool *skips* (with the package to install) instead of failing -- a user's
suite on a machine without swtpm should say so, not explode.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

#: External programs the fixtures need, with the Debian package that provides each.
REQUIRED_TOOLS = {"swtpm": "swtpm", "iasl": "acpica-tools", "acpiexec": "acpica-tools"}
_PLATFORM_KEYS = {"interface", "tpm", "firmware", "profile", "ppi", "confirm"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ppikit(interface=..., tpm=..., firmware=..., profile=..., ppi=..., confirm=...): "
        "configure the ppi_platform / swtpm_backend fixtures",
    )


def _require(tools: tuple[str, ...]) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = sorted({REQUIRED_TOOLS[t] for t in missing})
        pytest.skip(f"ppikit fixture needs {', '.join(missing)} (apt-get install {' '.join(packages)})")


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker("ppikit")
    if marker is not None:
        options.update(marker.kwargs)
    if isinstance(getattr(request, "param", None), dict):
        options.update(request.param)
    unknown = set(options) - _PLATFORM_KEYS
    if unknown:
        raise pytest.UsageError(f"ppikit fixture: unknown option(s) {', '.join(sorted(unknown))}; "
                                f"known: {', '.join(sorted(_PLATFORM_KEYS))}")
    return options


@pytest.fixture
def swtpm_backend(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A running swtpm behind QEMU's emulator-backend protocol (not yet initialised)."""
    _require(("swtpm",))
    from ppikit.device.backends.swtpm import SwtpmBackend
    from ppikit.tpm.version import TpmVersion

    version = TpmVersion.from_label(str(_options(request).get("tpm", "2.0")))
    with SwtpmBackend(version) as backend:
        yield backend


@pytest.fixture
def ppi_platform(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A powered-on simulated platform (default: TIS + TPM 2.0 + OVMF, qemu-profile AML)."""
    _require(("swtpm", "iasl", "acpiexec"))
    from ppikit.platform.platform import Platform, PlatformConfig
    from ppikit.ppi.firmware.base import confirm_policy

    options = _options(request)
    confirm = confirm_policy(str(options.pop("confirm", "accept")))
    config = PlatformConfig.create(**options)
    with Platform(config, confirm=confirm) as platform:
        platform.power_on()
        yield platform

"""The pytest plugin as a user meets it: run pytest on a user's test file with pytester."""

pytest_plugins = ["pytester"]

USER_TESTS = '''
import pytest

def test_default_platform(ppi_platform):
    assert ppi_platform.config.interface.value == "tis"
    assert ppi_platform.page.ppin == 1          # OVMF initialised the page at power on

@pytest.mark.ppikit(interface="crb", confirm="reject")
def test_marker(ppi_platform):
    assert ppi_platform.config.interface.value == "crb"
    assert ppi_platform.fwcfg.read_file_via_ports("etc/tpm/config") == bytes.fromhex("0050d4fe0201")

@pytest.mark.parametrize("ppi_platform", [{"tpm": "2.0", "profile": "strict"}], indirect=True)
def test_indirect(ppi_platform):
    assert ppi_platform.config.profile.value == "strict"

@pytest.mark.ppikit(tpm="1.2")
def test_backend(swtpm_backend):
    assert swtpm_backend.version.label == "1.2"

@pytest.mark.ppikit(colour="blue")
def test_bad_option(ppi_platform):
    pass
'''


def test_fixtures_in_a_user_suite(pytester):
    pytester.makepyfile(USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*ppikit fixture: unknown option(s) colour*"])


def test_missing_tool_skips_with_the_package_name(pytester, monkeypatch):
    pytester.makepyfile("def test_needs_swtpm(swtpm_backend):\n    pass\n")
    monkeypatch.setenv("PATH", str(pytester.path))  # no swtpm on this PATH
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*ppikit fixture needs swtpm (apt-get install swtpm)*"])

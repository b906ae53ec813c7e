"""ppikit: the TPM side of a virtual platform, modelled exactly.

The kit generates golden AML for the TPM device and its Physical Presence Interface, models the
0x400-byte PPI page and the fw_cfg ``etc/tpm/config`` record, runs TIS/CRB register models against
real swtpm, and simulates reboot-time PPI handling end to end. See README.md for the tour.
"""

from ppikit.errors import PpikitError

__version__ = "0.1.0"
__all__ = ["PpikitError", "__version__"]

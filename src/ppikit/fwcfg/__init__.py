"""fw_cfg: QEMU's firmware configuration device and the ``etc/tpm/config`` record it carries."""

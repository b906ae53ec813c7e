"""The simulated platform: guest memory, fw_cfg, TPM device + backend, ACPI runtime, firmware."""

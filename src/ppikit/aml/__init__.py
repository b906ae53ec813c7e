"""ACPI side of ppikit: SSDT templates, iasl, TPM2/TCPA tables, golden corpus (and the acpiexec runtime)."""

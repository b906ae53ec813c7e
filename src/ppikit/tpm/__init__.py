"""TPM 2.0 and TPM 1.2 command/response layouts (construct) and response-code names."""

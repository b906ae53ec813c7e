/*
 * Broken on purpose: _DSM declared with 3 arguments instead of 4 (ACPI _DSM takes UUID, revision,
 * function, package). Hand-written; see README.md.
 */
DefinitionBlock ("", "SSDT", 1, "PPIKIT", "ARITY", 1)
{
    Scope (\_SB)
    {
        Device (TPM)
        {
            Name (_HID, "MSFT0101")
            Method (_DSM, 3, NotSerialized)
            {
                Return (Buffer (One) { 0x00 })
            }
        }
    }
}

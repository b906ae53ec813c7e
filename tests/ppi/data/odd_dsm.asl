/*
 * A TPM whose PPI _DSM answers in every shape Linux tpm_ppi.c distinguishes, chosen at run time.
 *
 * Test control lives in the unused part of the PPI page (0xFED45200.., past movv at 0x15A), so a
 * test picks an answer with one memory write and one warm acpiexec session covers every case:
 *   M0..M8  (0x200 + fn)  answer shape of function fn (0 = the normal answer)
 *   V1..V3  (0x210, 64-bit each) values used by the answers
 * The last request-submission call (fn 2/7) is recorded at 0x230: revision, function, ObjectType
 * and SizeOf of Arg3, and its first two elements (bytes of a Buffer, read as an Integer).
 * Found by _CID (EisaId PNP0C31), not _HID, on purpose.
 */
DefinitionBlock ("", "DSDT", 2, "PPIKIT", "ODDDSM", 1)
{
    Scope (\_SB)
    {
        Device (GONE)  // a TPM ID but _STA "not present": ACPI enumeration, hence Linux, skips it
        {
            Name (_HID, "MSFT0101")
            Name (_STA, Zero)
        }

        Device (ODD)
        {
            Name (_HID, "PPIK0001")
            Name (_CID, EisaId ("PNP0C31"))
            Name (_STA, 0x0F)
            OperationRegion (CTRL, SystemMemory, 0xFED45200, 0x60)
            Field (CTRL, AnyAcc, NoLock, Preserve)
            {
                M0, 8, M1, 8, M2, 8, M3, 8, M4, 8, M5, 8, M6, 8, M7, 8, M8, 8,
                Offset (0x10),
                V1, 64, V2, 64, V3, 64,
                Offset (0x30),
                RREV, 64, RFN, 64, RTYP, 64, RCNT, 64, RA0, 64, RA1, 64
            }

            Method (FUNC, 1, Serialized)  // the raw func[] byte, unmasked (values >= 5 pass through)
            {
                If ((Arg0 >= 0x0100))
                {
                    Return (Zero)
                }
                OperationRegion (TPP1, SystemMemory, (0xFED45000 + Arg0), One)
                Field (TPP1, ByteAcc, NoLock, Preserve)
                {
                    TPPF,   8
                }
                Return (TPPF)
            }

            Method (_DSM, 4, Serialized)
            {
                If ((Arg0 != ToUUID ("3dddfaa6-361b-4eb4-a424-8d10089d1653")))
                {
                    Return (Buffer (One) { 0x00 })
                }
                Switch (ToInteger (Arg2))
                {
                    Case (Zero)
                    {
                        Switch (ToInteger (M0))
                        {
                            Case (Zero) { Return (Buffer (0x02) { 0xFF, 0x01 }) }
                            Case (One) { Return (V3) }                                 // Integer bitmap
                            Case (0x02) { Return (Buffer (0x09) { 0x83, 0, 0, 0, 0, 0, 0, 0, 0x01 }) }  // bit 8 in byte 9: ignored
                            Case (0x03) { Return ("bits") }                            // String: no bitmap
                            Case (0x04) { Return (Buffer (0x02) { 0xFE, 0x01 }) }      // bit 0 clear
                            Case (0x05) { Return (Buffer (One) { 0x03 }) }             // fns 0, 1 only
                        }
                    }
                    Case (One)
                    {
                        Switch (ToInteger (M1))
                        {
                            Case (Zero) { Return ("1.3") }
                            Case (One) { Return ("1.2") }
                            Case (0x02) { Return ("1.0") }
                            Case (0x03) { Return ("1.30") }
                            Case (0x04) { Return (0x13) }                              // not a String
                        }
                    }
                    Case (Package (0x02) { 0x02, 0x07 })
                    {
                        RREV = Arg1
                        RFN = Arg2
                        RTYP = ObjectType (Arg3)
                        RCNT = SizeOf (Arg3)
                        RA0 = Ones
                        RA1 = Ones
                        If ((ObjectType (Arg3) == 0x03))                               // Buffer
                        {
                            RA0 = ToInteger (Arg3)
                        }
                        If ((ObjectType (Arg3) == 0x04))                               // Package
                        {
                            If ((SizeOf (Arg3) >= One)) { RA0 = DerefOf (Arg3 [Zero]) }
                            If ((SizeOf (Arg3) >= 0x02)) { RA1 = DerefOf (Arg3 [One]) }
                        }
                        If ((M7 == One))
                        {
                            Return ("0")                                               // not an Integer
                        }
                        Return (V1)
                    }
                    Case (0x03)
                    {
                        Switch (ToInteger (M3))
                        {
                            Case (Zero) { Return (Package (0x03) { V1, V2, V3 }) }
                            Case (One) { Return (Package (0x02) { V1, V2 }) }
                            Case (0x02) { Return (Package (0x04) { V1, V2, V3, Zero }) }
                            Case (0x03) { Return (V1) }                                // not a Package
                            Case (0x04) { Return (Package (0x03) { V1, "5", V3 }) }
                            Case (0x05) { Return (Package (One) { V1 }) }
                            Case (0x06) { Return (Package (0x02) { V1, Buffer (One) { 5 } }) }
                            Case (0x07) { Return (Package (0x03) { Zero, 0x05 }) }     // element 2 uninitialized
                        }
                    }
                    Case (0x04)
                    {
                        If ((M4 == One))
                        {
                            Return (Package (One) { V1 })                              // not an Integer
                        }
                        Return (V1)
                    }
                    Case (0x05)
                    {
                        Switch (ToInteger (M5))
                        {
                            Case (Zero) { Return (Package (0x03) { V1, V2, V3 }) }
                            Case (One) { Return (Package (0x02) { V1, V2 }) }
                            Case (0x02) { Return (Package (0x04) { V1, V2, V3, "extra" }) }
                            Case (0x03) { Return (Buffer (0x03) { 0, 5, 0 }) }        // not a Package
                            Case (0x04) { Return (Package (0x03) { V1, V2, "0" }) }
                        }
                    }
                    Case (0x08)
                    {
                        Local0 = DerefOf (Arg3 [Zero])
                        If (((M8 == One) && (Local0 == V2)))
                        {
                            Return ("3")                                               // not an Integer
                        }
                        Return (FUNC (Local0))
                    }
                }
                Return (Buffer (One) { 0x00 })
            }
        }
    }
}

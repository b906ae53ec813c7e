DefinitionBlock ("", "SSDT", 1, "BOCHS ", "BXPC    ", 0x00000001)
{
    External (_SB_.PCI0.ISA_, DeviceObj)

    Scope (\_SB.PCI0.ISA)
    {
        Device (TPM)
        {
            Name (_HID, EisaId ("PNP0C31"))  // _HID: Hardware ID
            Name (_UID, One)  // _UID: Unique ID
            Name (_STA, 0x0F)  // _STA: Status
            Name (_CRS, ResourceTemplate ()  // _CRS: Current Resource Settings
            {
                Memory32Fixed (ReadWrite,
                    0xFED40000,         // Address Base
                    0x00005000,         // Address Length
                    )
            })
        }
    }
}

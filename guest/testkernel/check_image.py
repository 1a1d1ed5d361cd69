#!/usr/bin/env python3
"""Check the two test-kernel images without booting them.

usage: check_image.py testkernel.elf testkernel.bzImage

testkernel.elf: ELF64, loads at 0x100000, carries a Xen PVH note
(XEN_ELFNOTE_PHYS32_ENTRY = 18, owner "Xen") in a PT_NOTE segment.
testkernel.bzImage: Linux boot-protocol header fields a 64-bit loader
reads, and a protected-mode part identical to the ELF's loaded bytes.
Prints one line per check; exit status 1 if any fails.
"""
import struct
import sys

failures = 0


def check(cond, what):
    global failures
    print(('ok     ' if cond else 'FAILED ') + what)
    if not cond:
        failures += 1


def elf_info(data):
    phoff, = struct.unpack_from('<Q', data, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', data, 0x36)
    loads, notes = [], []
    for i in range(phnum):
        (p_type, _f, off, _v, paddr, filesz, memsz,
         _a) = struct.unpack_from('<IIQQQQQQ', data, phoff + i * phentsize)
        if p_type == 1:
            loads.append((paddr, data[off:off + filesz], memsz))
        elif p_type == 4:
            notes.append(data[off:off + filesz])
    return loads, notes


def pvh_entry(notes):
    for blob in notes:
        pos = 0
        while pos + 12 <= len(blob):
            namesz, descsz, ntype = struct.unpack_from('<III', blob, pos)
            name = blob[pos + 12:pos + 12 + namesz]
            desc_off = pos + 12 + ((namesz + 3) & ~3)
            if name == b'Xen\0' and ntype == 18 and descsz in (4, 8):
                fmt = '<I' if descsz == 4 else '<Q'
                return struct.unpack_from(fmt, blob, desc_off)[0]
            pos = desc_off + ((descsz + 3) & ~3)
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    elf = open(sys.argv[1], 'rb').read()
    bz = open(sys.argv[2], 'rb').read()

    check(elf[:4] == b'\x7fELF' and elf[4] == 2, 'ELF64 file')
    loads, notes = elf_info(elf)
    check(bool(loads) and min(p for p, _, _ in loads) == 0x100000,
          'ELF loads at 0x100000')
    check(pvh_entry(notes) == 0x100000, 'PVH note: PHYS32_ENTRY = 0x100000')

    check(len(bz) > 0x268 and bz[0x202:0x206] == b'HdrS', 'bzImage: HdrS')
    setup_sects = bz[0x1F1]
    version, = struct.unpack_from('<H', bz, 0x206)
    loadflags = bz[0x211]
    kernel_alignment, = struct.unpack_from('<I', bz, 0x230)
    xloadflags, = struct.unpack_from('<H', bz, 0x236)
    pref_address, = struct.unpack_from('<Q', bz, 0x258)
    init_size, = struct.unpack_from('<I', bz, 0x260)
    boot_flag, = struct.unpack_from('<H', bz, 0x1FE)
    check(boot_flag == 0xAA55, 'bzImage: boot_flag 0xAA55')
    check(setup_sects >= 1, f'bzImage: setup_sects {setup_sects}')
    check(version >= 0x020C, f'bzImage: protocol {version:#06x} >= 0x020c')
    check(loadflags & 1, 'bzImage: loadflags LOADED_HIGH')
    check(xloadflags & 1, 'bzImage: xloadflags XLF_KERNEL_64')
    check(pref_address == 0x100000, 'bzImage: pref_address 0x100000')
    check(kernel_alignment and not kernel_alignment & (kernel_alignment - 1),
          f'bzImage: kernel_alignment {kernel_alignment:#x}')
    mem_end = max(p + m for p, _, m in loads)
    check(init_size >= mem_end - 0x100000,
          f'bzImage: init_size {init_size:#x} covers the image and .bss')

    pm = bz[(setup_sects + 1) * 512:]
    syssize, = struct.unpack_from('<I', bz, 0x1F4)
    check(syssize * 16 == len(pm), 'bzImage: syssize matches the payload')
    same = all(pm[p - 0x100000:p - 0x100000 + len(b)] == b
               for p, b, _ in loads)
    check(same, 'bzImage: payload equals the ELF loaded bytes')
    check(pm[0x200:0x202] != b'\0\0', 'bzImage: code at the 64-bit entry')
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Wrap the test kernel's ELF as a Linux bzImage for the 64-bit boot protocol.

Layout of the output: one boot sector holding the setup header at 0x1F1,
one (empty) setup sector, then the flat protected-mode image, which the
loader copies to pref_address (0x100000) and enters at +0x200 in 64-bit
mode. There is no real-mode setup code: only loaders that use the 64-bit
entry (vireo's) can start it.

usage: mkbzimage.py testkernel.elf testkernel.bzImage
"""
import struct
import sys

LOAD_ADDR = 0x100000
SETUP_SECTS = 1
PT_LOAD = 1


def load_segments(path):
    """The PT_LOAD segments of an ELF64 little-endian file."""
    data = open(path, 'rb').read()
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        sys.exit(f'{path}: not an ELF64 little-endian file')
    phoff, = struct.unpack_from('<Q', data, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', data, 0x36)
    segs = []
    for i in range(phnum):
        (p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz, p_memsz,
         _align) = struct.unpack_from('<IIQQQQQQ', data, phoff + i * phentsize)
        if p_type == PT_LOAD and p_memsz:
            segs.append((p_paddr, data[p_offset:p_offset + p_filesz], p_memsz))
    return segs


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    segs = load_segments(sys.argv[1])
    start = min(s[0] for s in segs)
    if start != LOAD_ADDR:
        sys.exit(f'image starts at {start:#x}, expected {LOAD_ADDR:#x}')
    file_end = max(s[0] + len(s[1]) for s in segs)
    mem_end = max(s[0] + s[2] for s in segs)
    image = bytearray(file_end - start)
    for paddr, body, _ in segs:
        image[paddr - start:paddr - start + len(body)] = body
    image += b'\0' * (-len(image) % 16)
    init_size = (mem_end - start + 0xFFF) & ~0xFFF

    setup = bytearray(512 * (SETUP_SECTS + 1))
    version_off = 0x300           # kernel_version string, in the setup sector
    setup[version_off:version_off + 19] = b'vireo testkernel\0\0\0'
    struct.pack_into('<B', setup, 0x1F1, SETUP_SECTS)
    struct.pack_into('<I', setup, 0x1F4, len(image) // 16)     # syssize
    struct.pack_into('<H', setup, 0x1FE, 0xAA55)               # boot_flag
    # No real-mode setup code: the 16-bit jump at 0x200 lands on a hlt loop,
    # so a loader that runs the real-mode part stops there quietly.
    struct.pack_into('<BB', setup, 0x200, 0xEB, 0x280 - 0x202)
    setup[0x280:0x283] = b'\xf4\xeb\xfd'                    # hlt; jmp .-1
    setup[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', setup, 0x206, 0x020F)               # version 2.15
    struct.pack_into('<H', setup, 0x20E, version_off - 0x200)  # kernel_version
    struct.pack_into('<B', setup, 0x211, 0x01)                 # LOADED_HIGH
    struct.pack_into('<I', setup, 0x214, LOAD_ADDR)            # code32_start
    struct.pack_into('<I', setup, 0x22C, 0x7FFFFFFF)           # initrd_addr_max
    struct.pack_into('<I', setup, 0x230, 0x100000)             # kernel_alignment
    struct.pack_into('<B', setup, 0x234, 0)                    # not relocatable
    struct.pack_into('<B', setup, 0x235, 20)                   # min_alignment
    struct.pack_into('<H', setup, 0x236, 0x0001)               # XLF_KERNEL_64
    struct.pack_into('<I', setup, 0x238, 1023)                 # cmdline_size
    struct.pack_into('<Q', setup, 0x258, LOAD_ADDR)            # pref_address
    struct.pack_into('<I', setup, 0x260, init_size)            # init_size
    with open(sys.argv[2], 'wb') as f:
        f.write(setup + image)


if __name__ == '__main__':
    main()

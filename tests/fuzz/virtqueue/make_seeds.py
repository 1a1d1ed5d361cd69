#!/usr/bin/env python3
"""Write the seed inputs of the virtqueue fuzzer (layout: fuzz_virtqueue.c).

   make_seeds.py DIR
"""
import os
import struct
import sys

DESC, AVAIL = 0x0, 0x1000


def seed(flags, qlog, descs, heads, avail_idx=None, extra=()):
    mem = bytearray(0x2100)
    for i, (addr, length, fl, nxt) in enumerate(descs):
        struct.pack_into("<QIHH", mem, DESC + 16 * i, addr, length, fl, nxt)
    struct.pack_into("<HH", mem, AVAIL, 0, len(heads) if avail_idx is None else avail_idx)
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, AVAIL + 4 + 2 * i, h)
    for off, blob in extra:
        mem[off:off + len(blob)] = blob
    return bytes([flags | qlog << 2]) + bytes(mem)


NEXT, WRITE, INDIRECT = 1, 2, 4
table = b"".join(struct.pack("<QIHH", *d) for d in
                 [(0x5000, 16, NEXT, 1), (0x5100, 512, NEXT | WRITE, 2), (0x5400, 1, WRITE, 0)])
seeds = {
    "blk-read": seed(0, 3, [(0x5000, 16, NEXT, 1), (0x5100, 512, NEXT | WRITE, 2),
                            (0x5400, 1, WRITE, 0)], [0]),
    "rng": seed(2, 4, [(0x100000, 64, WRITE, 0)], [0, 0, 0]),
    "indirect": seed(1, 3, [(0x3000, 48, INDIRECT, 0)], [0], extra=[(0x3000, table)]),
    "loop": seed(0, 3, [(0x5000, 4, NEXT, 1), (0x5000, 4, NEXT, 0)], [0]),
    "huge-len": seed(0, 3, [(0x5000, 0xFFFFFFFF, WRITE, 0)], [0]),
    "out-of-ram": seed(0, 3, [(0xF0000000, 16, 0, 0)], [0]),
    "wrong-order": seed(0, 3, [(0x5000, 4, WRITE | NEXT, 1), (0x5000, 4, 0, 0)], [0]),
    "avail-ahead": seed(0, 2, [(0x5000, 4, 0, 0)], [0], avail_idx=9),
    "full-ring": seed(3, 8, [(0x5000 + i, 1, WRITE, 0) for i in range(256)], list(range(256))),
}
os.makedirs(sys.argv[1], exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(data)

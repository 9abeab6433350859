#!/usr/bin/env python3
"""Turn a file into a C header holding it as a byte array, so a page the
sidecar serves is edited as the file it is and compiled in at build time.

usage: embed.py INPUT OUTPUT NAME
writes `static const unsigned char NAME[]` (the bytes, then a 0) and
`#define NAME_LEN` (the length without that 0).
"""
import sys


def main():
    src, dst, name = sys.argv[1:4]
    with open(src, "rb") as f:
        data = f.read()
    lines = [f"/* generated from {src.rsplit('/', 1)[-1]} by embed.py: edit that file, not this one */",
             f"#define {name.upper()}_LEN {len(data)}u",
             f"static const unsigned char {name}[] = {{"]
    for i in range(0, len(data), 16):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in data[i:i + 16]) + ",")
    lines += ["    0x00", "};", ""]
    with open(dst, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()

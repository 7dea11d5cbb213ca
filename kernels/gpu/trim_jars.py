#!/usr/bin/env python3
"""Shrinks jars to the packages a run loaded, so a Flink test bundle fits the device tool's 64 MiB carry.

    trim_jars.py CLASS_LOG OUT_DIR JAR...

CLASS_LOG is a JVM's -Xlog:class+load=info output. For each JAR, OUT_DIR gets a copy holding every class of each
package the log shows loaded from that jar (whole packages, not single classes: a path the recorded run did not take,
such as the CUDA engine's, may reach other classes of a package it used), and every entry that is not a class
(resources, service files, native libraries). A jar the run loaded nothing from is left out. Prints the sizes.
"""
import os
import re
import sys
import zipfile

LINE = re.compile(r"\[class,load\] (\S+) source: (?:jar:)?file:([^!\s]+\.jar)")


def main():
    log, out_dir, jars = sys.argv[1], sys.argv[2], sys.argv[3:]
    packages = {}  # real jar path -> packages loaded from it
    with open(log, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if m:
                cls, jar = m.group(1), os.path.realpath(m.group(2))
                packages.setdefault(jar, set()).add(cls.rsplit(".", 1)[0] if "." in cls else "")
    os.makedirs(out_dir, exist_ok=True)
    before = after = 0
    for jar in jars:
        used = packages.get(os.path.realpath(jar))
        size = os.path.getsize(jar)
        before += size
        if not used:
            print(f"  {os.path.basename(jar)}: nothing loaded, left out")
            continue
        dst = os.path.join(out_dir, os.path.basename(jar))
        with zipfile.ZipFile(jar) as src, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
            for info in src.infolist():
                name = info.filename
                if name.endswith(".class") and not name.startswith("META-INF/"):
                    package = name.rsplit("/", 1)[0].replace("/", ".") if "/" in name else ""
                    if package not in used:
                        continue
                z.writestr(info, src.read(name))
        after += os.path.getsize(dst)
        print(f"  {os.path.basename(jar)}: {size / 1e6:.1f} -> {os.path.getsize(dst) / 1e6:.1f} MB")
    print(f"trimmed {len(jars)} jars: {before / 1e6:.1f} -> {after / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Shrinks jars to what a recorded run loaded, so a Flink bundle fits the device tool's 64 MiB carry.

    trim_jars.py CLASS_LOG OUT_DIR [--keep PACKAGE_PREFIX]... [--drop ENTRY_REGEX]... JAR...

CLASS_LOG is a JVM's -Xlog:class+load=info output. For each JAR, OUT_DIR gets a copy holding every class of each
package the log shows loaded from that jar (whole packages, not single classes: a path the recorded run did not take,
such as the CUDA engine's, may reach other classes of a package it used), and every entry that is not a class
(resources, service files, native libraries). A jar the run loaded nothing from is left out.
  --keep  keeps every class under a package prefix (paths the recorded run did not take at all, e.g. the CUDA engine's
          on a machine without a GPU);
  --drop  leaves out entries whose name matches (other platforms' native libraries).
Single classes would be too fine: trimming an embedded Kafka broker to the classes a run loaded lost those of its
abort and log-cleaning paths, which a slower run takes.
A jar inside a jar (Flink's flink-rpc-akka.jar, which Flink copies to a temporary file and loads from there) is trimmed
the same way, by the classes loaded from a file whose name starts with the inner jar's.
Prints the sizes.
"""
import io
import os
import re
import sys
import zipfile

LINE = re.compile(r"\[class,load\] (\S+) source: (?:jar:)?file:([^!\s]+\.jar)")


def package_of(cls):
    return cls.rsplit(".", 1)[0] if "." in cls else ""


def under(package, prefixes):
    return any(package == p or package.startswith(p + ".") for p in prefixes)


class Rules:
    def __init__(self, keep, drop):
        self.keep, self.drop = keep, drop

    def trim(self, src, loaded, out, inner):
        """Copies the zip `src` into `out`, keeping the packages of `loaded` (class names) and what the rules ask for;
        `inner` maps a jar inside it to the classes loaded from its temporary copy. Returns inner jars' sizes."""
        packages = {package_of(c) for c in loaded}
        nested = {}
        for info in src.infolist():
            name = info.filename
            if any(d.search(name) for d in self.drop):
                continue
            if name.endswith(".class") and not name.startswith("META-INF/"):
                package = package_of(name[:-len(".class")].replace("/", "."))
                if package not in packages and not under(package, self.keep):
                    continue
            data = src.read(name)
            if name in inner:
                with zipfile.ZipFile(io.BytesIO(data)) as z_in:
                    buf = io.BytesIO()
                    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                        self.trim(z_in, inner[name], z, {})
                nested[name] = (len(data), buf.tell())
                data = buf.getvalue()
            out.writestr(info, data)
        return nested


def main():
    log, out_dir, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    keep, drop, jars = [], [], []
    while args:
        a = args.pop(0)
        if a == "--keep":
            keep.append(args.pop(0))
        elif a == "--drop":
            drop.append(re.compile(args.pop(0)))
        else:
            jars.append(a)
    loaded = {}  # real path of the jar a class came from -> class names
    with open(log, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if m:
                loaded.setdefault(os.path.realpath(m.group(2)), set()).add(m.group(1))
    rules = Rules(keep, drop)
    os.makedirs(out_dir, exist_ok=True)
    before = after = 0
    for jar in jars:
        used = loaded.get(os.path.realpath(jar))
        size = os.path.getsize(jar)
        before += size
        if not used:
            print(f"  {os.path.basename(jar)}: nothing loaded, left out")
            continue
        dst = os.path.join(out_dir, os.path.basename(jar))
        with zipfile.ZipFile(jar) as src, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
            # inner jars: the classes loaded from temporary copies named after them
            inner = {}
            for name in src.namelist():
                if name.endswith(".jar"):
                    stem = os.path.basename(name)[:-len(".jar")]
                    found = set()
                    for path, names in loaded.items():
                        if os.path.basename(path).startswith(stem) and path != os.path.realpath(jar):
                            found |= names
                    if found:
                        inner[name] = found
            nested = rules.trim(src, used, z, inner)
        after += os.path.getsize(dst)
        inside = "".join(f" (inside: {n} {a / 1e6:.1f} -> {b / 1e6:.1f} MB)" for n, (a, b) in nested.items())
        print(f"  {os.path.basename(jar)}: {size / 1e6:.1f} -> {os.path.getsize(dst) / 1e6:.1f} MB{inside}")
    print(f"trimmed {len(jars)} jars: {before / 1e6:.1f} -> {after / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

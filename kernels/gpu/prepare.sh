#!/usr/bin/env bash
# Builds, on a machine with a JDK, Maven and nvcc, what kernels/gpu/run.sh needs on a GPU machine without Java:
#   .gpu/kernels.jar       the kernels module with the fatbin inside
#   .gpu/test-classes/     the CUDA tests, the benchmark and the fixtures (a folder: the fixtures are read as files)
#   .gpu/lib/              runtime and test dependencies (JCuda and its natives, Jackson, SLF4J/Log4j, AssertJ)
#   .gpu/junit-console.jar JUnit's console launcher
#   .jre/                  a trimmed Java runtime (jlink)
# Both folders are git-ignored; carry them to the GPU machine (device tool: carry [".jre", ".gpu"]).
set -euo pipefail
cd "$(dirname "$0")/../.."
mvn -B -o -q -pl kernels package -DskipTests
rm -rf .gpu
mkdir -p .gpu/lib
cp kernels/target/mamba-flink-kernels-*-SNAPSHOT.jar .gpu/ 2>/dev/null || true
rm -f .gpu/*-tests.jar
mv .gpu/mamba-flink-kernels-*-SNAPSHOT.jar .gpu/kernels.jar
unzip -l .gpu/kernels.jar > .gpu/jar-listing.txt; grep -q mamba.fatbin .gpu/jar-listing.txt || { echo "kernels.jar has no fatbin: is nvcc at /usr/local/bin/nvcc?" >&2; exit 1; }
cp -r kernels/target/test-classes .gpu/test-classes
mvn -B -o -q -pl kernels dependency:copy-dependencies -DincludeScope=test -DoutputDirectory="$(pwd)/.gpu/lib" \
  -DexcludeGroupIds=org.junit.jupiter,org.junit.platform,org.opentest4j,org.apiguardian,org.openjdk.jmh
rm -f .gpu/lib/commons-math3-*.jar .gpu/lib/jopt-simple-*.jar
# log4j-core needs java.desktop, which the trimmed runtime leaves out: log through slf4j-simple instead.
rm -f .gpu/lib/log4j-*.jar
simple="$HOME/.m2/repository/org/slf4j/slf4j-simple/2.0.16/slf4j-simple-2.0.16.jar"
[ -f "$simple" ] || mvn -B -q dependency:get -Dartifact=org.slf4j:slf4j-simple:2.0.16
cp "$simple" .gpu/lib/
# The device tool carries at most 64 MiB: keep only the driver and runtime natives (JNvrtc and the PTX compiler cannot
# load on a CUDA 13 machine anyway, and the engine compiles its kernels at build time).
natives=$(ls .gpu/lib/jcuda-natives-*.jar)
mkdir -p .gpu/natives && (cd .gpu/natives && unzip -q "../../$natives" && rm -f lib/libJNvPTXCompiler-* lib/libJNvrtc-* \
  && rm "../../$natives" && zip -q -r "../../$natives" .) && rm -rf .gpu/natives
console="$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.11.4/junit-platform-console-standalone-1.11.4.jar"
[ -f "$console" ] || mvn -B -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:1.11.4
cp "$console" .gpu/junit-console.jar
# JNA (ProgrammaticEdges): only its Linux x86-64 native, for the carry limit
jna=$(ls .gpu/lib/jna-*.jar)
mkdir -p .gpu/jna && (cd .gpu/jna && unzip -q "../../$jna" && for d in $(find com/sun/jna -name '*jnidispatch*' \
  -exec dirname {} \; | sort -u); do [ "$d" = com/sun/jna/linux-x86-64 ] || rm -rf "$d"; done && rm "../../$jna" \
  && zip -q -r "../../$jna" .) && rm -rf .gpu/jna
# the probes (run.sh probe, probe-pdl): plain CUDA C, the runtime linked statically
nvcc -O3 -gencode arch=compute_90a,code=sm_90a -o .gpu/overlap_probe kernels/gpu/overlap_probe.cu
nvcc -O3 -gencode arch=compute_90a,code=sm_90a -o .gpu/pdl_probe kernels/gpu/pdl_probe.cu
if [ ! -x .jre/bin/java ]; then
  jlink --add-modules java.base,java.logging,jdk.unsupported,java.management,java.xml,java.naming,java.scripting,jdk.zipfs \
    --compress=2 --strip-debug --no-header-files --no-man-pages --output .jre
fi
du -sh .gpu .jre

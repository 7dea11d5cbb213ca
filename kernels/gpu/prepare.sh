#!/usr/bin/env bash
# Builds, on a machine with a JDK, Maven and nvcc, what kernels/gpu/run.sh needs on a GPU machine without Java:
#   .gpu/kernels.jar       the kernels module with the fatbin inside
#   .gpu/test-classes/     the CUDA tests, the benchmark and the fixtures (a folder: the fixtures are read as files)
#   .gpu/lib/              runtime and test dependencies (JCuda and its natives, Jackson, SLF4J/Log4j, AssertJ)
#   .gpu/junit-console.jar JUnit's console launcher
#   .jre/                  a trimmed Java runtime (jlink)
#   .gpu-probe/            the plain CUDA C probes (overlap_probe.cu, pdl_probe.cu, partition_probe.cu), for run.sh's
#                          probe steps (carry [".gpu-probe"]: they need no Java)
# All are git-ignored; carry them to the GPU machine (device tool: carry [".jre", ".gpu"], 56 MB of the 64 MiB limit).
#
# `prepare.sh operators` builds, instead of .gpu, what run.sh optests needs (carry [".jre", ".gpu-op"]):
#   .gpu-op/test-classes/  the operators module's tests (CudaOperatorTest: the keyed operator on the CUDA engine)
#   .gpu-op/lib/           the kernels jar with the fatbin, the kernels' test jar (fixtures), the operators jar, and
#                          Flink, RocksDB and the rest trimmed to the packages a CPU run of CudaOperatorTest loads
#                          (trim_jars.py): the whole set is ~200 MB, the carry limit 64 MiB
# `prepare.sh itcase`: the same for MambaOperatorITCase in .gpu-it (run.sh itests); `prepare.sh opbench`: the same
# for OperatorBenchmark in .gpu-ob (run.sh opbench); `prepare.sh demo`: the main job.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The trimmed runtime (java.sql for Flink's type extraction, jdk.management and java.rmi for a MiniCluster); its native
# libraries without their symbol tables, so .jre and .gpu-op fit one carry (~37 MB + ~26 MB). Rebuilt when an older one
# lacks a module.
JRE_MODULES=java.base,java.logging,jdk.unsupported,java.management,java.xml,java.naming,java.scripting,jdk.zipfs,java.sql
JRE_MODULES=$JRE_MODULES,jdk.management,java.rmi,java.management.rmi
# jlink_runtime DIR MODULES: (re)builds DIR unless it already holds every module
jlink_runtime() {
  local dir=$1 modules=$2 m
  if [ -x "$dir/bin/java" ]; then
    for m in ${modules//,/ }; do grep -q "[\" ]$m[\" ]" "$dir/release" || { rm -rf "$dir"; break; }; done
  fi
  if [ ! -x "$dir/bin/java" ]; then
    jlink --add-modules "$modules" --compress=2 --strip-debug --no-header-files --no-man-pages --output "$dir"
    find "$dir/lib" -name '*.so' -exec strip --strip-unneeded {} +
  fi
}
make_jre() { jlink_runtime .jre "$JRE_MODULES"; }
# Rewrites a jar ($1, absolute path) after running a shell command ($2) in its unpacked copy: the natives the GPU
# machine (Linux x86-64, CUDA 13) does not load go, for the carry limit. JNvrtc and the PTX compiler cannot load on a
# CUDA 13 machine anyway (the engine compiles its kernels at build time); JNA (ProgrammaticEdges) keeps its Linux x86-64
# library.
strip_natives() {
  rm -rf /tmp/mambaflink-strip && mkdir -p /tmp/mambaflink-strip && (cd /tmp/mambaflink-strip && unzip -q "$1" && eval "$2" \
    && rm "$1" && zip -q -r "$1" .) && rm -rf /tmp/mambaflink-strip
}
JCUDA_NATIVES='rm -f lib/libJNvPTXCompiler-* lib/libJNvrtc-*'
JNA_NATIVES='for d in $(find com/sun/jna -name "*jnidispatch*" -exec dirname {} \; | sort -u); do [ "$d" = com/sun/jna/linux-x86-64 ] || rm -rf "$d"; done'
if [ "${1:-}" = demo ]; then
  # `prepare.sh demo`: the main job's jar for run.sh demo, in two carries (the device machine keeps an ignored folder
  # between calls while it stays warm, ~30 s): first .jre-demo (~48 MB: the demo's Kafka broker and Flink's web UI want
  # java.desktop, java.rmi, jdk.management) with .gpu-demo-kafka (~13 MB), then .gpu-demo (~60 MB). mamba-flink.jar is
  # trimmed to the packages a 25 s CPU run of the demo loads (ours, JCuda and JNA whole; Linux x86-64 natives only;
  # trimming the Kafka broker class by class lost classes of its abort paths), and its Kafka packages go to the first
  # carry as a jar of their own.
  mvn -B -o -q package -DskipTests
  rec=/tmp/mambaflink-demo-record
  rm -rf "$rec" .gpu-demo && mkdir -p "$rec" .gpu-demo
  (cd "$rec" && java -Xlog:class+load=info:file="$rec/classes.log" -jar "$OLDPWD/jobs/target/mamba-flink.jar" demo \
    --duration 25s --backend cpu > "$rec/demo.log" 2>&1) || { tail -30 "$rec/demo.log"; exit 1; }
  python3 kernels/gpu/trim_jars.py "$rec/classes.log" .gpu-demo --keep io.mambaflink --keep jcuda --keep com.sun.jna \
    --drop '^librocksdbjni-(?!linux64\.so$)' --drop '^lib/libJN(vPTXCompiler|vrtc)' \
    --drop '^com/sun/jna/(?!linux-x86-64/)[^/]+/.*jnidispatch' --drop '^(aix|win|freebsd|darwin|macos)/' \
    --drop '^linux/(?!amd64/)' --drop '^org/xerial/snappy/native/(?!Linux/x86_64/)' --drop '^net/jpountz/util/(?!linux/amd64/)' \
    jobs/target/mamba-flink.jar
  jlink_runtime .jre-demo "$JRE_MODULES,java.desktop,jdk.net,java.security.sasl,java.security.jgss,jdk.crypto.ec"
  rm -rf .gpu-demo-kafka && mkdir -p .gpu-demo-kafka
  python3 - <<'PY'
import os, zipfile
src = ".gpu-demo/mamba-flink.jar"
with zipfile.ZipFile(src) as z, zipfile.ZipFile(".gpu-demo/rest.jar", "w", zipfile.ZIP_DEFLATED) as rest, \
        zipfile.ZipFile(".gpu-demo-kafka/kafka.jar", "w", zipfile.ZIP_DEFLATED) as kafka:
    for info in z.infolist():
        (kafka if info.filename.startswith(("org/apache/kafka/", "kafka/")) else rest).writestr(info, z.read(info.filename))
os.replace(".gpu-demo/rest.jar", src)
PY
  rm -rf "$rec"
  du -sh .gpu-demo .gpu-demo-kafka .jre-demo
  exit 0
fi
# An operators test class and what it needs, for a machine without a JDK: $1 the folder, $2 the class, $3 the JVM option
# that makes a CPU run take the test's paths (the recording), then trim_jars.py options. The test classes, the
# kernels jar with the fatbin, the kernels' test jar (fixtures) and the operators jar; every other jar trimmed to the
# packages that recording loads, except JCuda and JNA (the CUDA engine's paths) and AssertJ (its failure messages:
# paths a passing run does not take), kept whole; Linux x86-64 natives only.
operator_bundle() {
  local dir=$1 test=$2 option=$3
  shift 3
  mvn -B -o -q -pl kernels,operators package -DskipTests
  local full=/tmp/mambaflink-gpu-op-full log=/tmp/mambaflink-gpu-op-classes.log
  rm -rf "$dir" "$full" && mkdir -p "$dir/lib" "$full"
  mvn -B -o -q -pl operators dependency:copy-dependencies -DincludeScope=test -DoutputDirectory="$full" -DexcludeGroupIds=io.mambaflink
  cp kernels/target/mamba-flink-kernels-*.jar operators/target/mamba-flink-operators-*-SNAPSHOT.jar "$full/"
  rm -f "$full"/mamba-flink-operators-*-tests.jar
  cp -r operators/target/test-classes "$dir/test-classes"
  local console="$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.11.4/junit-platform-console-standalone-1.11.4.jar"
  [ -f "$console" ] || mvn -B -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:1.11.4
  # JUnit comes from the console launcher; log through slf4j-simple (log4j-core wants java.desktop)
  rm -f "$full"/junit-* "$full"/opentest4j-* "$full"/apiguardian-* "$full"/log4j-*
  local simple="$HOME/.m2/repository/org/slf4j/slf4j-simple/2.0.16/slf4j-simple-2.0.16.jar"
  [ -f "$simple" ] || mvn -B -q dependency:get -Dartifact=org.slf4j:slf4j-simple:2.0.16
  cp "$simple" "$full/"
  # everything on the JVM's own class path (a MiniCluster resolves job classes through it, not the launcher's loader);
  # a benchmark class is recorded by running its main with $RECORD_ARGS, a test class through JUnit
  local cp="$dir/test-classes:$(ls "$full"/*.jar | tr "\n" ":")$console" run=(org.junit.platform.console.ConsoleLauncher
    execute --select-class "$test" --disable-banner --details=summary)
  [[ "$test" == *Benchmark ]] && run=("$test" $RECORD_ARGS)
  java -Xlog:class+load=info:file="$log" $option -cp "$cp" "${run[@]}" > /tmp/mambaflink-gpu-op-record.log 2>&1 \
    || { tail -30 /tmp/mambaflink-gpu-op-record.log; exit 1; }
  local keep='mamba-flink-|jcuda|jna-|assertj-'
  python3 kernels/gpu/trim_jars.py "$log" "$dir/lib" "$@" $(ls "$full"/*.jar | grep -v -E "$keep")
  cp $(ls "$full"/*.jar | grep -E "$keep") "$dir/lib/"
  cp "$console" "$dir/junit-console.jar"
  strip_natives "$(pwd)/$(ls "$dir"/lib/frocksdbjni-*.jar)" 'ls librocksdbjni-* | grep -v "^librocksdbjni-linux64.so$" | xargs rm -f'
  strip_natives "$(pwd)/$(ls "$dir"/lib/jcuda-natives-*.jar)" "$JCUDA_NATIVES"
  strip_natives "$(pwd)/$(ls "$dir"/lib/jna-*.jar)" "$JNA_NATIVES"
  rm -rf "$full"
  make_jre
  du -sh "$dir" .jre
}
if [ "${1:-}" = operators ]; then
  operator_bundle .gpu-op io.mambaflink.operators.CudaOperatorTest -Dmambaflink.test.operator-backend=CPU
  exit 0
fi
if [ "${1:-}" = itcase ]; then
  # MambaOperatorITCase (a MiniCluster: Flink's RPC system, the job client, the datagen source): ~40 MB, so run.sh
  # itests takes two carries, [".jre"] and then, at once, [".gpu-it"]. GpuAssignment's path to the task's external
  # resources is kept whole (a CPU run does not take it).
  operator_bundle .gpu-it io.mambaflink.operators.MambaOperatorITCase "" --keep org.apache.flink.runtime.externalresource \
    --keep org.apache.flink.api.common.externalresource
  exit 0
fi
if [ "${1:-}" = opbench ]; then
  # OperatorBenchmark (a MiniCluster with RocksDB and checkpoints, the datagen source) for run.sh opbench, recorded on
  # its two models' CPU paths: ~50 MB, so carried like .gpu-it, [".jre"] and then, at once, [".gpu-ob"].
  # The recording sets list-valued Flink options too (their parsing loads snakeyaml); kept by name: packages only a GPU
  # run or a later job loads (checkpoint file merging, failure classification, job status polling).
  RECORD_ARGS="telemetry:50:4 flink:state.backend.rocksdb.compression.per.level=NO_COMPRESSION"
  RECORD_ARGS="$RECORD_ARGS flink:state.backend.rocksdb.writebuffer.size=256mb m1-768:4:2:8@cpu1" \
    operator_bundle .gpu-ob io.mambaflink.operators.bench.OperatorBenchmark "-Xmx4g -Dbench.maxBatch=8" \
    --keep org.apache.flink.runtime.externalresource --keep org.apache.flink.api.common.externalresource \
    --keep org.apache.flink.runtime.throwable --keep org.apache.flink.runtime.checkpoint \
    --keep org.apache.flink.runtime.messages --keep org.apache.flink.runtime.webmonitor
  exit 0
fi
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
strip_natives "$(pwd)/$(ls .gpu/lib/jcuda-natives-*.jar)" "$JCUDA_NATIVES"
console="$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.11.4/junit-platform-console-standalone-1.11.4.jar"
[ -f "$console" ] || mvn -B -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:1.11.4
cp "$console" .gpu/junit-console.jar
strip_natives "$(pwd)/$(ls .gpu/lib/jna-*.jar)" "$JNA_NATIVES"
# the probes (run.sh probe, probe-pdl, probe-partition): plain CUDA C, the runtime linked statically, in .gpu-probe of
# their own (~12 MB; no Java, so carry [".gpu-probe"] alone): in .gpu they made .gpu and .jre exceed one 64 MiB carry
rm -f .gpu/overlap_probe .gpu/pdl_probe .gpu/partition_probe_*
mkdir -p .gpu-probe
nvcc -O3 -gencode arch=compute_90a,code=sm_90a -o .gpu-probe/overlap_probe kernels/gpu/overlap_probe.cu
nvcc -O3 -gencode arch=compute_90a,code=sm_90a -o .gpu-probe/pdl_probe kernels/gpu/pdl_probe.cu
# partition_probe.cu (run.sh probe-partition): the engine's ssm1_stream as built, its data movement alone, and with 512
# consumers and ex2 on a pre-scaled A (both probe-only switches of ssm1_update.cu)
for v in "base" "copy -DSS1_PROBE_COPY_ONLY" "ex2c512 -DSS1_CONS=512 -DSS1_PROBE_EX2"; do
  set -- $v
  name=$1
  shift
  nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -I kernels/src/main/cuda "$@" -o ".gpu-probe/partition_probe_$name" \
    kernels/gpu/partition_probe.cu
done
make_jre
du -sh .gpu .jre .gpu-probe

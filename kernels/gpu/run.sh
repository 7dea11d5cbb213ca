#!/usr/bin/env bash
# On a machine with a GPU and no JDK, from the repository root: the CUDA tests, then the benchmark (CudaBench), then
# the transformers reference (hf_bench.py). Needs .jre/ and .gpu/ from kernels/gpu/prepare.sh. Logs go to $OUT.
#   kernels/gpu/run.sh [tests] [bench] [profile] [hf] [probe] [probe-pdl] [probe-partition] [optests] [itests] [opbench] [demo]
#   (default: tests bench hf; profile needs ncu)
#   optests: the keyed operator on the CUDA engine (CudaOperatorTest), from .gpu-op/ of `prepare.sh operators`,
#     carried with .jre instead of .gpu;
#   itests: MambaOperatorITCase (MiniCluster, RocksDB, a restart and a rescale) on the CUDA engine (ITCASE_BACKEND=CPU
#     for the CPU), from .gpu-it/ of `prepare.sh itcase`, carried in a call right after one that carries .jre (the
#     machine keeps ignored folders ~30 s);
#   opbench: OperatorBenchmark's OPBENCH_ARGS scenarios (e.g. m1-768:1024:3000:1024@cuda), from .gpu-ob/ of
#     `prepare.sh opbench`, carried like .gpu-it;
#   demo: the main job, `mamba-flink.jar demo`, on the CUDA engine and then the CPU engine (DEMO_BACKENDS,
#     DEMO_DURATION default 60s, DEMO_ARGS), from .jre-demo/ and .gpu-demo-kafka/ (one call) and .gpu-demo/ (the next)
#     of `prepare.sh demo`.
#   BENCH_ARGS=m1|m2|models|ssm|matmul|all picks CudaBench's sections (default all; models: m1 and m2; m1-small /
#   m2-small: batches 1-8 / 1, m1-big / m2-big: 512, 1024, 2048 and 4096 / 512 and 1024); the rest after the first word is a regular expression
#   on the model table's row labels, e.g. BENCH_ARGS="m1-big lane" runs only the one-lane / two-lane rows.
#   BENCH_ARGS=overlap (not in all): a lane's products beside the state updates on a second stream, against each alone.
#   TESTS=CudaEngineRandomTest runs one test class instead of all of them (TESTS="CudaKernelTest#m(int)": one method); JAVA_OPTS adds JVM options (-D...).
#   PROFILE="m1 4096,m2 1024" picks the profiled steps (default "m1 1,m1 512,m2 1,m2 512").
#   NCU_METRICS=lts__t_sectors_srcunit_tex_op_read.sum,dram__bytes_read.sum adds metrics to the profile's columns.
#   NCU_OPTS="--cache-control none --clock-control none" passes options to ncu; NCU_BY_GRID=1 splits rows by grid size.
#   FATBIN_DIR=.gpu/<name> runs an alternative sm_90a kernel build (kernels/gpu/alt-fatbin.sh) in place of the jar's.
#   PROBE="256,2 128,1,l2 32,2,b2" picks overlap_probe's runs ("a" kernel threads, copy blocks per SM, a = tc (default),
#   l2, b1, b2 or b4; default 256,2 128,2 256,1 512,2). PDL_PROBE="132 256 262144 96 512" picks pdl_probe's shapes
#   (blocks, threads, floats, kernels, float4 of weights per block; five numbers per shape). PARTITION_PROBE="36 48 66"
#   picks partition_probe's state-update SM counts (multiples of 6).
# With the device tool: run(command="bash kernels/gpu/run.sh", carry=[".jre", ".gpu"]); the probe steps:
# run(command="bash kernels/gpu/run.sh probe-partition", carry=[".gpu-probe"]).
set -uo pipefail
OUT="${OUT:-$(pwd)/.gpu/out}"
mkdir -p "$OUT"
steps="${*:-tests bench hf}"
JAVA=.jre/bin/java
CP=".gpu/kernels.jar:.gpu/test-classes:$(ls .gpu/lib/*.jar 2>/dev/null | tr "\n" ":")"
# FATBIN_DIR=.gpu/<name>: an alternative sm_90a fatbin (kernels/gpu/alt-fatbin.sh) ahead of the jar's
[ -n "${FATBIN_DIR:-}" ] && CP="$FATBIN_DIR:$CP" && echo "kernels: $FATBIN_DIR/io/mambaflink/kernels/cuda/mamba_sm90a.fatbin"
rc=0
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
if [[ " $steps " == *" tests "* ]]; then
  echo "== CUDA tests"
  sel=(--select-package io.mambaflink.kernels.cuda)
  [ -n "${TESTS:-}" ] && sel=(--select-class "io.mambaflink.kernels.cuda.$TESTS")
  [[ "${TESTS:-}" == *"#"* ]] && sel=(--select-method "io.mambaflink.kernels.cuda.$TESTS")
  "$JAVA" -Xmx8g ${JAVA_OPTS:-} -jar .gpu/junit-console.jar execute --class-path "$CP" "${sel[@]}" \
    --details=tree --details-theme=ascii --disable-banner --disable-ansi-colors --reports-dir /tmp/junit-reports 2>&1 | tee "$OUT/tests.log"
  rc=${PIPESTATUS[0]}
  # CudaDeviceLostTest's tests leave the device unusable for the rest of their JVM: one JVM each, after the others
  if [ -z "${TESTS:-}" ] || [[ "$TESTS" == CudaDeviceLostTest* ]]; then
    for m in theEngineThatMeetsTheFaultAndEveryOtherOnTheDeviceThrowDeviceLost aFaultNoEngineMetIsFoundWhenTheNextEngineStarts; do
      "$JAVA" -Xmx2g -Dmambaflink.test.device-fault=true -jar .gpu/junit-console.jar execute --class-path "$CP" \
        --select-method "io.mambaflink.kernels.cuda.CudaDeviceLostTest#$m" --details=tree --details-theme=ascii --disable-banner \
        --disable-ansi-colors --reports-dir /tmp/junit-reports-lost 2>&1 | tee -a "$OUT/tests.log"
      [ "${PIPESTATUS[0]}" = 0 ] || rc=1
    done
  fi
fi
# junit_class DIR CLASS LOG [JVM options]: one test class from an operators bundle (prepare.sh operators / itcase),
# everything on the JVM's own class path (a MiniCluster resolves the job's classes through it), Flink's INFO / WARN
# lines left out of the log
junit_class() {
  local dir=$1 class=$2 log=$3
  shift 3
  "$JAVA" -Xmx8g "$@" ${JAVA_OPTS:-} -cp "$dir/test-classes:$(ls "$dir"/lib/*.jar | tr "\n" ":")$dir/junit-console.jar" \
    org.junit.platform.console.ConsoleLauncher execute --select-class "$class" --details=tree --details-theme=ascii \
    --disable-banner --disable-ansi-colors --reports-dir "/tmp/junit-reports-$log" 2>&1 \
    | grep -v -E " (INFO|WARN) |^\s+/tmp/flink-io-" | tee "$OUT/$log.log"
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
}
if [[ " $steps " == *" optests "* ]]; then
  echo "== the keyed operator on the CUDA engine (Flink's harness, RocksDB)"
  junit_class .gpu-op io.mambaflink.operators.CudaOperatorTest optests
fi
if [[ " $steps " == *" itests "* ]]; then
  echo "== MambaOperatorITCase on the ${ITCASE_BACKEND:-CUDA} engine (MiniCluster, RocksDB: a restart and a rescale)"
  junit_class .gpu-it io.mambaflink.operators.MambaOperatorITCase itests -Dmambaflink.test.itcase-backend="${ITCASE_BACKEND:-CUDA}"
fi
if [[ " $steps " == *" opbench "* ]]; then
  # OperatorBenchmark's scenarios (OPBENCH_ARGS, e.g. "m1-768:1024:3000:1024@cuda m1-768:256:4:256@cpu16"; OPBENCH_JVM
  # for -Dbench.* options) from .gpu-ob/ of `prepare.sh opbench`; Flink's completed-checkpoint lines stay in the log
  echo "== OperatorBenchmark (MiniCluster, RocksDB, checkpoints): ${OPBENCH_ARGS:-}"
  "$JAVA" -Xmx48g ${OPBENCH_JVM:-} -cp ".gpu-ob/test-classes:$(ls .gpu-ob/lib/*.jar | tr "\n" ":")" \
    io.mambaflink.operators.bench.OperatorBenchmark ${OPBENCH_ARGS:-} 2>&1 \
    | grep -v -E "^\s+/tmp/flink-io-" | grep -E "Completed checkpoint|written back|^[^0-9\[]|^\[main\] [^IW]|^\[[^]]*\] (ERROR|Exception)" \
    | tee "$OUT/opbench.log"
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
fi
if [[ " $steps " == *" demo "* ]]; then
  for b in ${DEMO_BACKENDS:-cuda cpu}; do
    echo "== the demo on the $b engine (in-process Kafka, MiniCluster, RocksDB)"
    .jre-demo/bin/java -cp .gpu-demo/mamba-flink.jar:.gpu-demo-kafka/kafka.jar io.mambaflink.jobs.Main demo --backend "$b" \
      --duration "${DEMO_DURATION:-60s}" ${DEMO_ARGS:-} --summary-json "$OUT/demo-$b.json" 2>&1 | grep -v -E " (INFO|WARN) " \
      | tee "$OUT/demo-$b.log"
    [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  done
fi
if [[ " $steps " == *" bench "* ]]; then
  echo "== CudaBench"
  # the first word picks the sections; the rest, spaces included, is the row filter
  read -r section filter <<< "${BENCH_ARGS:-all}"
  "$JAVA" -Xmx12g ${JAVA_OPTS:-} -cp "$CP" io.mambaflink.kernels.cuda.CudaBench "$section" ${filter:+"$filter"} 2>&1 | tee "$OUT/bench.log"
fi
if [[ " $steps " == *" profile "* ]]; then
  # per-kernel device time of one step (CudaBench profile's second), launched one by one (no graph), through Nsight
  # Compute
  echo "== ncu profile"
  IFS=, read -ra cfgs <<< "${PROFILE:-m1 1,m1 512,m2 1,m2 512}"
  for cfg in "${cfgs[@]}"; do
    ncu --profile-from-start off ${NCU_OPTS:-} --metrics "gpu__time_duration.sum${NCU_METRICS:+,$NCU_METRICS}" --csv "$JAVA" -Xmx12g -Dmambaflink.cuda.graphs=false -cp "$CP" \
      io.mambaflink.kernels.cuda.CudaBench profile $cfg > /tmp/ncu.csv 2>/tmp/ncu.err || tail -5 /tmp/ncu.err
    python3 kernels/gpu/ncu_summary.py "$cfg" /tmp/ncu.csv
  done 2>&1 | tee "$OUT/profile.txt"
fi
if [[ " $steps " == *" probe "* ]]; then
  # tensor-core work or L2 reads beside an HBM copy (overlap_probe.cu), with the board's clocks, power and throttle
  # reasons sampled
  echo "== overlap probe"
  nvidia-smi -q -d POWER,CLOCK | grep -E -i "limit|max|current|sm|memory" | head -30 | tee "$OUT/power.txt"
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,clocks_event_reasons.active --format=csv \
    -lms 100 > "$OUT/smi.csv" 2>&1 &
  smi=$!
  for cfg in ${PROBE:-256,2 128,2 256,1 512,2}; do .gpu-probe/overlap_probe ${cfg//,/ }; done 2>&1 | tee "$OUT/probe.log"
  kill $smi
fi
if [[ " $steps " == *" probe-pdl "* ]]; then
  # a chain of dependent kernels in a CUDA graph with plain and with programmatic edges (pdl_probe.cu)
  echo "== programmatic dependent launch probe"
  .gpu-probe/pdl_probe ${PDL_PROBE:-} 2>&1 | tee "$OUT/pdl_probe.log"
fi
if [[ " $steps " == *" probe-partition "* ]]; then
  # the state update on S SMs of its own beside in_proj on the rest (partition_probe.cu), three builds
  echo "== partition probe"
  for b in base copy ex2c512; do PP_CONFINED=1 ".gpu-probe/partition_probe_$b" ${PARTITION_PROBE:-36 48 66}; done 2>&1 | tee "$OUT/partition_probe.log"
fi
if [[ " $steps " == *" hf "* ]]; then
  echo "== transformers generate"
  PYTHONUNBUFFERED=1 python3 kernels/gpu/hf_bench.py 2>&1 | grep -v -i warn | tee "$OUT/hf.log"
fi
exit $rc

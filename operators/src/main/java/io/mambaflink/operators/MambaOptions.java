package io.mambaflink.operators;

import io.mambaflink.kernels.engine.EngineOptions;
import java.time.Duration;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

/** The operator's Flink configuration options. {@link MambaInference#fromConfiguration} reads them. */
public final class MambaOptions {
    private MambaOptions() {}

    public static final ConfigOption<String> MODEL_PATH = ConfigOptions.key("mamba.model.path")
            .stringType()
            .noDefaultValue()
            .withDescription("Hugging Face checkpoint folder (config.json + model.safetensors), readable from every "
                    + "task manager. Required.");

    public static final ConfigOption<String> BACKEND = ConfigOptions.key("mamba.backend")
            .stringType()
            .defaultValue("auto")
            .withDescription("Step engine: cpu, cuda, or auto (cuda when a device is present, else cpu).");

    public static final ConfigOption<Integer> BATCH_MAX_SIZE = ConfigOptions.key("mamba.batch.max-size")
            .intType()
            .defaultValue(256)
            .withDescription("Buffered events (payloads and controls) that trigger a flush: one engine batch across "
                    + "keys. Also the engine's largest batch.");

    public static final ConfigOption<Duration> BATCH_MAX_DELAY = ConfigOptions.key("mamba.batch.max-delay")
            .durationType()
            .defaultValue(Duration.ofMillis(10))
            .withDescription("Longest processing time the oldest buffered event waits before a flush. 0 flushes "
                    + "every event on arrival.");

    public static final ConfigOption<Integer> CACHE_MAX_STATES = ConfigOptions.key("mamba.cache.max-states")
            .intType()
            .defaultValue(4096)
            .withDescription("Stream states kept hot per operator instance (engine slots; on the GPU for the CUDA "
                    + "backend). Least recently used ones are written back to keyed state and evicted. At least "
                    + "mamba.batch.max-size. Memory: this times the model's state bytes, allocated when the task opens; "
                    + "a pool larger than the heap's maximum (CPU), or with the weights and batch buffers larger than "
                    + "the GPU's total memory (CUDA), fails the job "
                    + "without restarts, one larger than the memory free at the time fails the task (restarted).");

    public static final ConfigOption<Duration> STATE_TTL = ConfigOptions.key("mamba.state.ttl")
            .durationType()
            .noDefaultValue()
            .withDescription("Processing-time idle timeout after which a stream's state is removed (the stream starts "
                    + "over at its next event). Removal happens between ttl and 1.1 x ttl. Unset: states live until "
                    + "an end control.");

    public static final ConfigOption<FingerprintPolicy> FINGERPRINT_POLICY = ConfigOptions
            .key("mamba.state.fingerprint-policy")
            .enumType(FingerprintPolicy.class)
            .defaultValue(FingerprintPolicy.FAIL)
            .withDescription("A stored state from another model (different fingerprint): FAIL the job, or RESET the "
                    + "stream to a zero state.");

    public static final ConfigOption<Integer> CPU_THREADS = ConfigOptions.key("mamba.cpu.threads")
            .intType()
            .defaultValue(1)
            .withDescription("Worker threads of the CPU engine per operator instance (the task thread counts as "
                    + "one). Ignored by the CUDA backend.");

    public static final ConfigOption<EngineOptions.MatmulPrecision> CUDA_MATMUL_PRECISION = ConfigOptions
            .key("mamba.cuda.matmul-precision")
            .enumType(EngineOptions.MatmulPrecision.class)
            .defaultValue(EngineOptions.MatmulPrecision.FLOAT32)
            .withDescription("Operand precision of the CUDA engine's matrix products for batches above 8 rows. FLOAT32: "
                    + "float32-accurate (bfloat16 tensor cores on split operands, ~1e-5 relative). BF16: bfloat16 operands, "
                    + "1.24x faster device steps for a mamba-130m-sized Mamba-1 at batch 4096 on an H100, errors of ~1e-3 in "
                    + "outputs and ~4e-3 in states against float32. "
                    + "Accumulation and states stay float32 either way; the CPU engine always computes in float32.");

    public static final ConfigOption<Integer> CUDA_DEVICE = ConfigOptions.key("mamba.cuda.device")
            .intType()
            .defaultValue(-1)
            .withDescription("CUDA device ordinal of the CUDA backend. -1 (default): the GPU that Flink's external "
                    + "resource framework assigned to the task (external-resource.gpu.*; several: one per subtask in "
                    + "turn), else subtask index modulo the devices the TaskManager sees. Flink numbers GPUs as "
                    + "nvidia-smi does: run TaskManagers with CUDA_DEVICE_ORDER=PCI_BUS_ID so CUDA agrees.");
}

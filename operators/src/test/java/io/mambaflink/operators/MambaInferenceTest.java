package io.mambaflink.operators;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mambaflink.kernels.engine.Backend;
import java.time.Duration;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;

class MambaInferenceTest {

    @Test
    void defaultsAreTheDocumentedOptionDefaults() {
        MambaOperatorConfig c = MambaInference.builder().setModelPath("/m").build().config();
        assertThat(c.backend()).isEqualTo(Backend.AUTO);
        assertThat(c.maxBatchSize()).isEqualTo(MambaOptions.BATCH_MAX_SIZE.defaultValue());
        assertThat(c.maxBatchDelay()).isEqualTo(MambaOptions.BATCH_MAX_DELAY.defaultValue());
        assertThat(c.cacheMaxStates()).isEqualTo(MambaOptions.CACHE_MAX_STATES.defaultValue());
        assertThat(c.stateTtl()).isNull();
        assertThat(c.fingerprintPolicy()).isEqualTo(FingerprintPolicy.FAIL);
        assertThat(c.cudaMatmul()).isEqualTo(io.mambaflink.kernels.engine.EngineOptions.MatmulPrecision.FLOAT32);
        assertThat(c.cudaDevice()).isEqualTo(-1);
    }

    @Test
    void readsEveryOptionFromAFlinkConfiguration() {
        Configuration conf = Configuration.fromMap(Map.of(
                "mamba.model.path", "/models/t",
                "mamba.backend", "cpu",
                "mamba.batch.max-size", "64",
                "mamba.batch.max-delay", "25 ms",
                "mamba.cache.max-states", "1000",
                "mamba.state.ttl", "1 h",
                "mamba.state.fingerprint-policy", "RESET",
                "mamba.cpu.threads", "2",
                "mamba.cuda.matmul-precision", "BF16",
                "mamba.cuda.device", "1"));
        MambaOperatorConfig c = MambaInference.fromConfiguration(conf).build().config();
        assertThat(c).isEqualTo(new MambaOperatorConfig(ModelSource.path("/models/t"), Backend.CPU, 64,
                Duration.ofMillis(25), 1000, Duration.ofHours(1), FingerprintPolicy.RESET, 2,
                io.mambaflink.kernels.engine.EngineOptions.MatmulPrecision.BF16, 1));
    }

    @Test
    void buildNamesTheOptionThatIsWrong() {
        assertThatThrownBy(() -> MambaInference.builder().build()).hasMessageContaining("mamba.model.path is required");
        assertThatThrownBy(() -> MambaInference.builder().setModelPath("/m").setMaxBatchSize(0).build())
                .hasMessageContaining("mamba.batch.max-size must be > 0, found 0");
        assertThatThrownBy(() -> MambaInference.builder().setModelPath("/m").setMaxBatchSize(64).setCacheMaxStates(10).build())
                .hasMessageContaining("mamba.cache.max-states must be at least mamba.batch.max-size (64), found 10");
        assertThatThrownBy(() -> MambaInference.builder().setModelPath("/m").setMaxBatchDelay(Duration.ofMillis(-1)).build())
                .hasMessageContaining("mamba.batch.max-delay must be >= 0");
        assertThatThrownBy(() -> MambaInference.builder().setModelPath("/m").setStateTtl(Duration.ZERO).build())
                .hasMessageContaining("mamba.state.ttl must be > 0 when set");
        assertThatThrownBy(() -> MambaInference.fromConfiguration(Configuration.fromMap(Map.of("mamba.backend", "tpu"))))
                .hasMessageContaining("unknown backend 'tpu'");
    }
}

package io.mambaflink.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.mambaflink.kernels.engine.EngineCapacityException;
import org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler;
import org.junit.jupiter.api.Test;

/** Which capacity failures Flink restarts: only those a later attempt could get past. */
class CacheCapacityExceptionTest {

    @Test
    void aPoolLargerThanAllOfItsMemoryFailsTheJob() {
        RuntimeException e = CacheCapacityException.of(9000, 256,
                new EngineCapacityException("backend cuda: resident slot pool of ... = 26000 MB, device 0 has 100 MB free of 20000 MB", true));
        assertThat(e).isInstanceOf(CacheCapacityException.class)
                .hasMessageStartingWith("mamba.cache.max-states = 9000 does not fit: backend cuda: resident slot pool")
                .hasMessageEndingWith("Not restarted: no attempt can fit");
        assertThat(ExecutionFailureHandler.isUnrecoverableError(e)).isTrue();
    }

    @Test
    void aPoolLargerThanWhatIsFreeNowFailsTheTaskWhichRestarts() {
        RuntimeException e = CacheCapacityException.of(9000, 256,
                new EngineCapacityException("backend cuda: resident slot pool of ... = 16000 MB, device 0 has 100 MB free of 20000 MB", false));
        assertThat(e).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("Lower mamba.cache.max-states (at least mamba.batch.max-size = 256)")
                .hasMessageEndingWith("The task restarts: memory held now may be free then");
        assertThat(ExecutionFailureHandler.isUnrecoverableError(e)).isFalse();
    }
}

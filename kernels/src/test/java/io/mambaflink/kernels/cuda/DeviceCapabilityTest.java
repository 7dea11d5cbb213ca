package io.mambaflink.kernels.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Which compute capabilities the engine runs on: 8.0 and newer (the fatbin's sm_80 / sm_90 cubins and compute_90 PTX);
 * older chips get a reason naming the device, so backend auto takes the CPU and backend cuda says why. Runs anywhere.
 */
class DeviceCapabilityTest {

    @ParameterizedTest
    @CsvSource({"8, 0", "8, 6", "8, 9", "9, 0", "10, 0", "12, 0"})
    void ampereAndNewerRunTheEngine(int major, int minor) {
        assertThat(CudaSupport.unsupportedCapability("device 0 (x)", major, minor)).isNull();
    }

    @ParameterizedTest
    @CsvSource({"7, 5, Tesla T4", "7, 0, Tesla V100-SXM2-16GB", "6, 1, Tesla P4"})
    void olderChipsAreRefusedWithTheirNameAndCapability(int major, int minor, String name) {
        assertThat(CudaSupport.unsupportedCapability("device 1 (" + name + ")", major, minor))
                .isEqualTo("device 1 (" + name + ") has compute capability " + major + "." + minor
                        + "; the GPU engine needs 8.0 or newer (Ampere, Ada, Hopper, Blackwell): its tensor-core kernels"
                        + " use bf16 mma.sync");
    }
}

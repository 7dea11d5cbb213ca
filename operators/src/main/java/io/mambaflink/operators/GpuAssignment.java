package io.mambaflink.operators;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.apache.flink.api.common.externalresource.ExternalResourceInfo;

/**
 * Which CUDA device an operator instance steps on: the configured one ({@link MambaOptions#CUDA_DEVICE}); else the GPU
 * that Flink's external-resource framework assigned to the task (several: one per subtask in turn, so the subtasks of
 * one TaskManager spread over its GPUs); else subtask index modulo the devices this process sees.
 */
final class GpuAssignment {
    /** Flink's resource name of GPUs (external-resources: gpu; external-resource.gpu.driver-factory.class ...). */
    static final String FLINK_GPU_RESOURCE = "gpu";

    private GpuAssignment() {}

    /**
     * @param configured {@code mamba.cuda.device}, or -1
     * @param assigned   GPU indexes Flink assigned to this task (may be empty)
     * @param subtask    index of this subtask
     * @param visible    CUDA devices this process sees (> 0)
     * @throws IllegalArgumentException naming the option or the assignment when the device does not exist here
     */
    static int pick(int configured, List<Integer> assigned, int subtask, int visible) {
        if (configured >= 0) {
            if (configured >= visible) {
                throw new IllegalArgumentException(MambaOptions.CUDA_DEVICE.key() + " = " + configured + ", but this TaskManager sees "
                        + visible + " CUDA device(s)");
            }
            return configured;
        }
        if (!assigned.isEmpty()) {
            List<Integer> sorted = new ArrayList<>(assigned);
            sorted.sort(null);
            int device = sorted.get(subtask % sorted.size());
            if (device >= visible) {
                throw new IllegalArgumentException("Flink assigned GPU " + device + " to this task, but the process sees " + visible
                        + " CUDA device(s): is CUDA_VISIBLE_DEVICES narrowing them?");
            }
            return device;
        }
        return subtask % visible;
    }

    /** The "index" property of each GPU Flink assigned (the GPU driver's ExternalResourceInfo). */
    static List<Integer> indexes(Collection<ExternalResourceInfo> infos) {
        List<Integer> out = new ArrayList<>();
        for (ExternalResourceInfo info : infos) {
            info.getProperty("index").ifPresent(v -> {
                try {
                    out.add(Integer.parseInt(v.trim()));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("Flink's GPU resource has a non-numeric index '" + v + "'", e);
                }
            });
        }
        return out;
    }
}

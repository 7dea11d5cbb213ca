package io.mambaflink.kernels.state;

import io.mambaflink.kernels.MambaConfig;

/**
 * Where each layer's conv window and SSM state live inside one stream's contiguous float array.
 *
 * <pre>
 * data: [layer 0 conv (convDim, dConv)][layer 0 ssm (ssmStateSize)][layer 1 conv]...[layer L-1 ssm]
 * ssm:  Mamba-1 (dInner, dState); Mamba-2 (nHeads, headDim, dState)
 * </pre>
 */
public final class StateLayout {
    private final MambaConfig config;
    private final int convSize;
    private final int ssmSize;
    private final int layerStride;

    public StateLayout(MambaConfig config) {
        this.config = config;
        this.convSize = config.convStateSize();
        this.ssmSize = config.ssmStateSize();
        this.layerStride = convSize + ssmSize;
    }

    public MambaConfig config() {
        return config;
    }

    /** Floats per stream. */
    public int size() {
        return layerStride * config.nLayers();
    }

    /** Bytes per stream, float32. */
    public long bytes() {
        return 4L * size();
    }

    public int convOffset(int layer) {
        return layer * layerStride;
    }

    public int ssmOffset(int layer) {
        return layer * layerStride + convSize;
    }

    public int convSize() {
        return convSize;
    }

    public int ssmSize() {
        return ssmSize;
    }
}

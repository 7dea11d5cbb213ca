package io.mambaflink.kernels;

/**
 * Every config field that changes the math, with names from the original implementation ({@code mamba_ssm}).
 *
 * <pre>
 * code name        paper symbol   Hugging Face config / checkpoint key
 * ---------------  -------------  ---------------------------------------------------------------
 * dModel           D              hidden_size
 * dInner           E*D            intermediate_size (Mamba-1; else expand * hidden_size)
 * dState           N              state_size
 * nLayers          L              num_hidden_layers
 * dConv            k (conv width) conv_kernel
 * dtRank           R (Δ rank)     time_step_rank ("auto" = ceil(hidden_size / 16)); Mamba-1 only
 * nHeads           H              num_heads (Mamba-2)
 * headDim          P              head_dim (Mamba-2)
 * nGroups          G              n_groups (Mamba-2; B and C are shared by nHeads / nGroups heads)
 * A                A = -exp(A_log)  mixer.A_log   (Mamba-1: (dInner, dState); Mamba-2: (nHeads))
 * Δ                dt             mixer.dt_proj (Mamba-1) / in_proj slice + mixer.dt_bias (Mamba-2)
 * B, C             B, C           x_proj slices (Mamba-1) / conv'd in_proj slices (Mamba-2)
 * D                D (skip)       mixer.D
 * h                SSM state      Mamba-1: (dInner, dState); Mamba-2: (nHeads, headDim, dState)
 * conv window      —              (convDim, dConv), newest column last
 * </pre>
 *
 * @param arch Mamba-1 or Mamba-2
 * @param dModel hidden_size
 * @param dInner intermediate_size (= expand * hidden_size)
 * @param dState state_size
 * @param nLayers num_hidden_layers
 * @param dConv conv_kernel
 * @param dtRank time_step_rank (Mamba-1); 0 for Mamba-2
 * @param nHeads num_heads (Mamba-2); 0 for Mamba-1
 * @param headDim head_dim (Mamba-2); 0 for Mamba-1
 * @param nGroups n_groups (Mamba-2); 1 for Mamba-1
 * @param vocabSize vocab_size
 * @param useBias bias in in_proj and out_proj
 * @param useConvBias bias in conv1d
 * @param layerNormEps layer_norm_epsilon of every RMSNorm
 * @param residualInFp32 residual_in_fp32 (no effect in float32 arithmetic; kept for the fingerprint)
 * @param tieWordEmbeddings lm_head shares backbone.embeddings.weight
 * @param timeStepMin lower clamp of Δ (Mamba-2 time_step_limit[0])
 * @param timeStepMax upper clamp of Δ (Mamba-2 time_step_limit[1]; may be +Infinity)
 * @param io per-event input and output
 */
public record MambaConfig(
        Arch arch,
        int dModel,
        int dInner,
        int dState,
        int nLayers,
        int dConv,
        int dtRank,
        int nHeads,
        int headDim,
        int nGroups,
        int vocabSize,
        boolean useBias,
        boolean useConvBias,
        float layerNormEps,
        boolean residualInFp32,
        boolean tieWordEmbeddings,
        float timeStepMin,
        float timeStepMax,
        StreamIo io) {

    public MambaConfig {
        positive("hidden_size", dModel);
        positive("intermediate_size", dInner);
        positive("state_size", dState);
        positive("num_hidden_layers", nLayers);
        positive("conv_kernel", dConv);
        positive("n_groups", nGroups);
        if (arch == null || io == null) {
            throw new IllegalArgumentException("arch and io are required");
        }
        if (arch == Arch.MAMBA1) {
            positive("time_step_rank", dtRank);
            if (nGroups != 1) {
                throw new IllegalArgumentException("Mamba-1 has one group, found n_groups " + nGroups);
            }
        } else {
            positive("num_heads", nHeads);
            positive("head_dim", headDim);
            if (nHeads * headDim != dInner) {
                throw new IllegalArgumentException("num_heads * head_dim must equal intermediate_size: "
                        + nHeads + " * " + headDim + " != " + dInner);
            }
            if (nHeads % nGroups != 0) {
                throw new IllegalArgumentException("num_heads (" + nHeads + ") must be a multiple of n_groups (" + nGroups + ")");
            }
            if (dInner % nGroups != 0) {
                throw new IllegalArgumentException("intermediate_size (" + dInner + ") must be a multiple of n_groups (" + nGroups + ")");
            }
        }
        if (!(layerNormEps > 0)) {
            throw new IllegalArgumentException("layer_norm_epsilon must be > 0, found " + layerNormEps);
        }
        if (!(timeStepMin <= timeStepMax)) {
            throw new IllegalArgumentException("time_step_limit must be ordered, found [" + timeStepMin + ", " + timeStepMax + "]");
        }
        if (io.tokenInput() || io.output() == StreamIo.Output.LOGITS) {
            positive("vocab_size", vocabSize);
        }
    }

    private static void positive(String field, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(field + " must be > 0, found " + value);
        }
    }

    /** Channels that go through the causal conv: dInner (Mamba-1), dInner + 2 * nGroups * dState (Mamba-2). */
    public int convDim() {
        return arch == Arch.MAMBA1 ? dInner : dInner + 2 * nGroups * dState;
    }

    /** Width of in_proj's output: 2 * dInner (Mamba-1), 2 * dInner + 2 * nGroups * dState + nHeads (Mamba-2). */
    public int inProjDim() {
        return arch == Arch.MAMBA1 ? 2 * dInner : 2 * dInner + 2 * nGroups * dState + nHeads;
    }

    /** Floats of SSM state per layer: dInner * dState (Mamba-1), nHeads * headDim * dState (Mamba-2). */
    public int ssmStateSize() {
        return dInner * dState;
    }

    /** Floats of conv window per layer: convDim * dConv. */
    public int convStateSize() {
        return convDim() * dConv;
    }

    public int inputDim() {
        return io.tokenInput() ? 1 : io.inputDim();
    }

    public int outputDim() {
        return io.outputDim();
    }
}

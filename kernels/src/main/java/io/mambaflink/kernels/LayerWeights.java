package io.mambaflink.kernels;

/**
 * One Mamba block's weights, float32, row-major. Keys are relative to {@code backbone.layers.N.}.
 * Mamba-1-only fields are null for Mamba-2 and vice versa; optional biases are null when the config has none.
 *
 * @param norm       norm.weight                  (dModel)
 * @param inProj     mixer.in_proj.weight         (inProjDim, dModel)
 * @param inProjBias mixer.in_proj.bias           (inProjDim) or null
 * @param convWeight mixer.conv1d.weight          (convDim, dConv)   [stored (convDim, 1, dConv)]
 * @param convBias   mixer.conv1d.bias            (convDim) or null
 * @param xProj      mixer.x_proj.weight          (dtRank + 2 * dState, dInner)   Mamba-1
 * @param dtProj     mixer.dt_proj.weight         (dInner, dtRank)                Mamba-1
 * @param dtProjBias mixer.dt_proj.bias           (dInner)                        Mamba-1
 * @param dtBias     mixer.dt_bias                (nHeads)                        Mamba-2
 * @param a          A = -exp(mixer.A_log)        Mamba-1: (dInner, dState); Mamba-2: (nHeads)
 * @param d          mixer.D                      Mamba-1: (dInner); Mamba-2: (nHeads)
 * @param gatedNorm  mixer.norm.weight            (dInner)                        Mamba-2
 * @param outProj    mixer.out_proj.weight        (dModel, dInner)
 * @param outProjBias mixer.out_proj.bias         (dModel) or null
 */
public record LayerWeights(
        float[] norm,
        float[] inProj,
        float[] inProjBias,
        float[] convWeight,
        float[] convBias,
        float[] xProj,
        float[] dtProj,
        float[] dtProjBias,
        float[] dtBias,
        float[] a,
        float[] d,
        float[] gatedNorm,
        float[] outProj,
        float[] outProjBias) {}

package io.mambaflink.kernels;

import java.util.List;

/**
 * All weights of a model, float32, row-major, converted once at load.
 *
 * @param embeddings    backbone.embeddings.weight (vocabSize, dModel); null for feature models
 * @param layers        one entry per block
 * @param normF         backbone.norm_f.weight (dModel)
 * @param lmHead        lm_head.weight (vocabSize, dModel), the embeddings array itself when tied; null for feature models
 * @param inputProj     input_proj.weight (dModel, inputDim); feature models only
 * @param inputProjBias input_proj.bias (dModel); feature models only
 * @param head          head.weight (outputDim, dModel); feature models only
 * @param headBias      head.bias (outputDim); feature models only
 */
public record MambaWeights(
        float[] embeddings,
        List<LayerWeights> layers,
        float[] normF,
        float[] lmHead,
        float[] inputProj,
        float[] inputProjBias,
        float[] head,
        float[] headBias) {

    public MambaWeights {
        layers = List.copyOf(layers);
    }
}

package io.mambaflink.kernels.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/** Launcher of embed.cu {@code embed_tokens}: hidden[r, :] = embeddings[tokens[r], :]. */
public final class EmbedKernel {
    static final String NAME = "embed_tokens";
    private final CUfunction fn;

    public EmbedKernel(CudaDevice device) {
        this.fn = device.function(NAME);
    }

    /**
     * @param nRows      device int: rows to compute (at most rows)
     * @param rows       grid rows (the batch bucket)
     * @param tokens     (rows) int32 token ids, checked against the vocabulary on the host before upload
     * @param embeddings (vocab, dModel)
     * @param hidden     (rows, dModel)
     */
    public void launch(CUstream s, Dev nRows, int rows, Dev tokens, Dev embeddings, int vocab, int dModel, Dev hidden) {
        nRows.checkVector(NAME, 1);
        tokens.checkVector(NAME, rows);
        embeddings.checkMatrix(NAME, vocab, dModel, dModel);
        hidden.checkMatrix(NAME, rows, dModel, dModel);
        Pointer p = Pointer.to(nRows.arg(), tokens.arg(), embeddings.arg(), Pointer.to(new int[] {dModel}), hidden.arg());
        Cu.launch(NAME, fn, (dModel + 255) / 256, rows, 1, 256, 0, s, p);
    }
}

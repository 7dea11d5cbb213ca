"""Reference points beside the CUDA engine's benchmark, on the same GPU in the same run.

Hugging Face transformers' `generate` on the same configs as CudaBench (mamba-130m-sized Mamba-1 and Mamba-2, random
weights, float32): ms per decoding step at each batch size, from the difference of two generate lengths (so the prompt
step cancels). Also the card's copy bandwidth through torch, as a cross-check of CudaBench's figure.

Usage: python3 kernels/gpu/hf_bench.py [m1|m2|all]
"""
import sys
import time

import torch
import transformers
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM


def copy_bandwidth():
    a = torch.empty(1 << 28, dtype=torch.float32, device="cuda")
    b = torch.empty_like(a)
    b.copy_(a)
    torch.cuda.synchronize()
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        b.copy_(a)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return 2 * a.numel() * 4 * n / dt


def gen_time(model, ids, new_tokens):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.no_grad():
        model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, use_cache=True,
                       pad_token_id=0)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench(label, model, batches, vocab):
    for b in batches:
        ids = torch.randint(0, vocab, (b, 1), device="cuda")
        short, long = (2, 10) if b >= 512 else (4, 24)
        gen_time(model, ids, 2)  # warm-up
        t_short = gen_time(model, ids, short)
        t_long = gen_time(model, ids, long)
        ms = (t_long - t_short) / (long - short) * 1e3
        print(f"| {label} | {b} | transformers generate | {ms:.2f} | {b / ms * 1e3:.0f} |", flush=True)
        del ids
        torch.cuda.empty_cache()


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    torch.backends.cuda.matmul.allow_tf32 = False
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name()}")
    print(f"copy bandwidth (torch copy_, bytes read + written): {copy_bandwidth() / 1e9:.0f} GB/s")
    print("| model | batch | engine | ms per step | stream-steps/s |")
    print("|---|---|---|---|---|")
    if what in ("all", "m1"):
        c = MambaConfig(vocab_size=50280, hidden_size=768, state_size=16, num_hidden_layers=24, expand=2, conv_kernel=4,
                        use_bias=False, use_conv_bias=True, tie_word_embeddings=True)
        m = MambaForCausalLM(c).cuda().eval()
        bench("Mamba-1 130M", m, [1, 64, 512, 4096], c.vocab_size)
        del m
        torch.cuda.empty_cache()
    if what in ("all", "m2"):
        c = Mamba2Config(vocab_size=50280, hidden_size=768, num_hidden_layers=24, num_heads=24, head_dim=64, state_size=128,
                         n_groups=1, expand=2, conv_kernel=4, use_bias=False, use_conv_bias=True, tie_word_embeddings=True,
                         chunk_size=8)  # prefill only: the default 256 pads a 1-token prompt into a 48 GB chunk-scan tensor
        m = Mamba2ForCausalLM(c).cuda().eval()
        bench("Mamba-2 130M", m, [1, 64, 512, 1024], c.vocab_size)


if __name__ == "__main__":
    main()

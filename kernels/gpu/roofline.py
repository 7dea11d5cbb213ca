"""What a Mamba-1 step's kernel chain costs at best, kernel by kernel, against the issue's bandwidth floor.

Usage: python3 kernels/gpu/roofline.py [--batch 512] [--copy-gbps 3011] [--tensor-tflops 989] [--boundary-us 2.36]
                                      [--lanes 1] [--x 3] [--profile profile.txt]

Each kernel of the step (as CudaStepEngine chains them) is given its roofline: the larger of the bytes it must move
(its weights once, plus the SSM or conv state it reads and writes; activations count as free, which favours the
target) at the copy bandwidth, and its tensor-core arithmetic (x bf16 products per multiply-add: 3 for the default
float32-accurate bf16x3, 1 for bf16 operands) at the tensor rate. Kernels of one layer depend on each other, so a step
with no overlap between kernels costs the sum of the rooflines plus one boundary per kernel (the shortest gap between
dependent kernels in a graph, measured by `run.sh probe-pdl`). The floor is the issue's: (weight bytes + batch x state
bytes x 2) / copy bandwidth.

The defaults are this H100's: 3,011 GB/s (CudaBench's cuMemcpyDtoD), 989 TFLOP/s (the datasheet's dense bf16 at the
~1,830 MHz the SMs hold under load; `run.sh probe`'s mma.sync spin measures 598-664), 2.36 us a boundary (probe-pdl,
132 blocks, programmatic edges). With --profile (run.sh's profile.txt from `NCU_BY_GRID=1 PROFILE="m1 <batch>"`), the
measured kernel time of the step is printed beside the sum.
"""
import argparse
import re

D_MODEL, N_LAYER, D_STATE, D_CONV, VOCAB = 768, 24, 16, 4, 50280
D_INNER, DT_RANK = 2 * D_MODEL, -(-D_MODEL // 16)
F32 = 4


def kernels(batch, x, lanes):
    """(role, launches a step, bytes a launch, tensor flop a launch) for one step of `batch` rows."""
    rows = batch // lanes
    state_bytes = rows * D_INNER * D_STATE * F32 * 2                       # ssm_state (rows, d_inner, d_state), in and out
    conv_bytes = rows * D_INNER * D_CONV * F32 * 2                         # conv window (rows, d_inner, d_conv), in and out
    gemm = lambda n, k: 2.0 * rows * n * k * x                             # (rows, k) @ (k, n), x bf16 products
    per_layer = [
        ("norm", D_MODEL * F32, 0.0),
        ("in_proj", 2 * D_INNER * D_MODEL * F32, gemm(2 * D_INNER, D_MODEL)),
        ("conv + x_proj", conv_bytes + (DT_RANK + 2 * D_STATE) * D_INNER * F32, gemm(DT_RANK + 2 * D_STATE, D_INNER)),
        ("dt_proj", D_INNER * DT_RANK * F32, gemm(D_INNER, DT_RANK)),
        ("state update", state_bytes + (D_INNER * D_STATE + D_INNER) * F32, 0.0),
        ("out_proj", D_MODEL * D_INNER * F32, gemm(D_MODEL, D_INNER)),
    ]
    if rows >= 1024:  # the engine's ssm1_stream_dtw: dt_proj on CUDA cores inside the state update (<5% of its bytes' time)
        (_, dt_bytes, _), (_, st_bytes, _) = per_layer[3], per_layer[4]
        per_layer[3:5] = [("state + dt_proj", st_bytes + dt_bytes, 0.0)]
    chain = [(role, N_LAYER * lanes, b, f) for role, b, f in per_layer]
    chain += [("norm_f", lanes, D_MODEL * F32, 0.0),
              ("lm_head", lanes, VOCAB * D_MODEL * F32, gemm(VOCAB, D_MODEL)),
              ("embedding", lanes, rows * D_MODEL * F32, 0.0)]
    return chain


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--copy-gbps", type=float, default=3011.0)
    p.add_argument("--tensor-tflops", type=float, default=989.0)
    p.add_argument("--boundary-us", type=float, default=2.36)
    p.add_argument("--lanes", type=int, default=1)
    p.add_argument("--x", type=int, default=3, help="bf16 products per multiply-add (3: bf16x3, 1: bf16)")
    p.add_argument("--profile", help="run.sh profile.txt: the measured kernel time of the step at this batch")
    a = p.parse_args()

    copy = a.copy_gbps * 1e9 / 1e6      # bytes per us
    tensor = a.tensor_tflops * 1e12 / 1e6  # flop per us
    print(f"Mamba-1 130M, batch {a.batch}, {a.lanes} lane(s), bf16 x{a.x}; copy {a.copy_gbps:.0f} GB/s, "
          f"tensor {a.tensor_tflops:.0f} TFLOP/s, {a.boundary_us} us a boundary")
    print(f"{'kernel':<16}{'launches':>9}{'MB each':>10}{'GFLOP each':>12}{'us each':>10}{'us a step':>11}  bound by")
    total_us, launches = 0.0, 0
    for role, n, b, f in kernels(a.batch, a.x, a.lanes):
        by_bytes, by_flop = b / copy, f / tensor
        us = max(by_bytes, by_flop)
        total_us += n * us
        launches += n
        print(f"{role:<16}{n:>9}{b / 1e6:>10.2f}{f / 1e9:>12.3f}{us:>10.2f}{n * us:>11.1f}  "
              f"{'bytes' if by_bytes >= by_flop else 'tensor'}")
    weights = (2 * D_INNER * D_MODEL                                     # in_proj
               + D_INNER * D_CONV + D_INNER                                # conv1d weight, bias
               + (DT_RANK + 2 * D_STATE) * D_INNER                         # x_proj
               + D_INNER * DT_RANK + D_INNER                               # dt_proj weight, bias
               + D_INNER * D_STATE + D_INNER                               # A_log, D
               + D_MODEL * D_INNER + D_MODEL) * N_LAYER * F32 \
        + (VOCAB * D_MODEL + D_MODEL) * F32                                # tied embedding / lm_head, norm_f
    state = N_LAYER * D_INNER * (D_STATE + D_CONV) * F32
    floor_us = (weights + a.batch * state * 2) / copy
    gaps_us = launches * a.boundary_us
    target_us = floor_us / 0.6
    print(f"sum of rooflines {total_us / 1e3:.3f} ms + {launches} boundaries {gaps_us / 1e3:.3f} ms "
          f"= {(total_us + gaps_us) / 1e3:.3f} ms with no overlap between kernels")
    print(f"floor {floor_us / 1e3:.3f} ms (weights {weights / 1e6:.1f} MB, state {state / 1e6:.3f} MB a stream); "
          f"60% of it: {target_us / 1e3:.3f} ms")
    if target_us > gaps_us:
        print(f"to reach 60% without overlap, the kernels must run at {100 * total_us / (target_us - gaps_us):.0f}% "
              f"of their rooflines on average")
    else:
        print("the boundaries alone exceed 60% of the floor")
    if a.profile:
        with open(a.profile) as f:
            text = f.read()
        m = re.search(rf"-- m1 {a.batch}: (\d+) kernels, ([\d.]+) us", text)
        if m:
            measured = float(m.group(2))
            print(f"measured (profile, each kernel alone): {m.group(1)} kernels, {measured / 1e3:.3f} ms = "
                  f"{100 * total_us / measured:.0f}% of the rooflines' sum")
        else:
            print(f"{a.profile} has no '-- m1 {a.batch}:' section (profile with PROFILE=\"m1 {a.batch}\")")


if __name__ == "__main__":
    main()

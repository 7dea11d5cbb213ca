// CK(call): the probes' (overlap_probe.cu, partition_probe.cu) CUDA runtime error check: print the call and exit.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define CK(call)                                                                \
  do {                                                                          \
    cudaError_t e_ = (call);                                                    \
    if (e_ != cudaSuccess) {                                                    \
      printf("%s failed: %s\n", #call, cudaGetErrorString(e_));                 \
      exit(1);                                                                  \
    }                                                                           \
  } while (0)

// cuda-sim: the CUDA simulator that runs Caprese's own .cu kernels on the CPU (see README.md
// beside this folder). Shared macros of its headers.
#pragma once

#ifndef CAPRESE_CUDA_SIM
#error "the cuda-sim headers stand in for the CUDA toolkit only in the simulator build (CAPRESE_CUDA_SIM)"
#endif
#ifdef __CUDACC__
#error "the cuda-sim headers must not be compiled by nvcc"
#endif

#define CUDASIM_API __attribute__((visibility("default")))

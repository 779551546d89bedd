// Small vector kernels shared by the CPU ops (attention, rmsnorm): dot products and
// scaled accumulation, with an AVX2+FMA path chosen at run time and a scalar fallback.
#pragma once

#include <cstdint>

namespace caprese {
namespace cpu {

float Dot(const float* a, const float* b, int64_t n);
// out[r] = Dot(a, b + r * stride, n) for r < 4, bit-identical to four Dot calls; sharing the
// loads of `a` and running 8 independent FMA chains makes it several times faster.
void Dot4(const float* a, const float* b, int64_t stride, int64_t n, float* out);
// y[i] += alpha * x[i]
void Axpy(float alpha, const float* x, float* y, int64_t n);
// y[i] += Σ_r alpha[r] * x[r * stride + i] for r < 4 (in that order): one pass over y
// instead of four.
void Axpy4(const float* alpha, const float* x, int64_t stride, float* y, int64_t n);
// Σ x[i]² accumulated in double lanes: rmsnorm's mean square must not lose digits for wide rows.
double SumSquares(const float* x, int64_t n);

}  // namespace cpu
}  // namespace caprese

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
// Dot4 for eight rows of b: bit-identical to eight Dot calls. The eight lane sums are done at
// once (an 8x8 transpose, then the lanes added in Dot's order), which pays off for attention's
// short heads (head_dim 8-64), where per-key reductions dominate.
void Dot8(const float* a, const float* b, int64_t stride, int64_t n, float* out);
// y[i] += alpha * x[i]
void Axpy(float alpha, const float* x, float* y, int64_t n);
// y[i] += Σ_r alpha[r] * x[r * stride + i] for r < 4 (in that order): one pass over y
// instead of four.
void Axpy4(const float* alpha, const float* x, int64_t stride, float* y, int64_t n);
// Axpy4 over eight rows (r = 0..7 in order): bit-identical to two Axpy4 calls, one pass over y.
void Axpy8(const float* alpha, const float* x, int64_t stride, float* y, int64_t n);
// Attention's softmax pieces. ScaleMax: s[i] *= scale, returns max s[i]. ExpShiftSum:
// s[i] = exp(s[i] - shift), returns Σ s[i]. The AVX2 path uses a polynomial exp (within 2 ulp of
// expf over the range softmax uses) and sums in 8 lanes; results depend only on n and the inputs.
float ScaleMax(float* s, int64_t n, float scale);
float ExpShiftSum(float* s, int64_t n, float shift);
// Σ x[i]² accumulated in double lanes: rmsnorm's mean square must not lose digits for wide rows.
double SumSquares(const float* x, int64_t n);

}  // namespace cpu
}  // namespace caprese

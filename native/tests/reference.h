// Naive reference implementations of every op, written straight from the formulas in
// caprese.h with plain loops and double arithmetic. They share no code with any backend,
// so agreement means two independent derivations of the same math agree.
#pragma once

#include <cstdint>
#include <vector>

namespace caprese_ref {

// y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias). `w` holds the weight values as the backend sees them
// (already rounded to f16/bf16 when testing those dtypes). `abs_sum`, if given, receives
// Σ_k |x·w| per output: the scale of the rounding error of any float summation order.
std::vector<double> Matmul(const std::vector<float>& x, const std::vector<float>& w,
                           const std::vector<float>* bias, int64_t m, int64_t n, int64_t k,
                           std::vector<double>* abs_sum = nullptr);

std::vector<double> RmsNorm(const std::vector<float>& x, const std::vector<float>& w, int64_t m,
                            int64_t d, double eps, double weight_offset);

// Rotary embedding of x[M, heads, hd]; inv_freq may be empty (then theta^(-2i/hd)).
// interleaved: pairs (2i, 2i+1); otherwise pairs (i, i + hd/2).
std::vector<double> Rope(const std::vector<float>& x, int64_t m, int64_t heads, int64_t hd,
                         int64_t pos0, double theta, const std::vector<float>& inv_freq,
                         bool interleaved);

// Causal GQA attention: q[M,Hq,hd], caches [S,Hkv,hd]; row m at p = pos0+m sees keys
// j in [max(0, p-window+1) (window > 0) or 0, p].
std::vector<double> Attention(const std::vector<float>& q, const std::vector<float>& k,
                              const std::vector<float>& v, int64_t m, int64_t hq, int64_t hkv,
                              int64_t hd, int64_t pos0, int64_t window, double scale,
                              double softcap);

// act(gate) * up; gelu = true for GELU-tanh, false for SiLU.
std::vector<double> GatedActivation(const std::vector<float>& gate, const std::vector<float>& up,
                                    bool gelu);

std::vector<double> Add(const std::vector<float>& a, const std::vector<float>& b);
std::vector<double> Softmax(const std::vector<float>& x, int64_t m, int64_t n, double temperature);
std::vector<double> Softcap(const std::vector<float>& x, double cap);
// First index of the maximum of each row (rows without NaN).
std::vector<int32_t> Argmax(const std::vector<float>& x, int64_t m, int64_t n);
// table holds the values as the backend sees them (rounded to its dtype).
std::vector<double> Embedding(const std::vector<float>& table, const std::vector<int32_t>& ids,
                              int64_t d, double scale);

// The sparse gated FFN of caprese_sparse_ffn with w_down_t stored [H, D] (transposed):
//   y[m] = Σ_{j active for m} act(x_m·wg_j)(x_m·wu_j) wd_j + Σ_e (x_m·eu_e) ed_e.
// indices == nullptr: every neuron; else the listed ones (each occurrence counts).
// threshold >= 0: neuron j is active for row m iff |act(x_m·wg_j)| >= threshold (applied
// on top of the neuron set). extra_up/extra_down may be empty (r = 0). `err_scale`, if given,
// receives per output Σ_j |wd_jd| (|h_j| + 1.2 |u_j| Σ|x·wg_j| + |act(g_j)| Σ|x·wu_j|) over the
// active neurons and extras: the scale of f32 rounding in any summation order (1.2 bounds
// |act'| for SiLU and GELU-tanh).
std::vector<double> SparseFfn(const std::vector<float>& x, const std::vector<float>& wg, const std::vector<float>& wu,
                              const std::vector<float>& wd_t, int64_t m, int64_t d, int64_t h,
                              const std::vector<int32_t>* indices, const std::vector<float>& extra_up,
                              const std::vector<float>& extra_down, bool gelu, double threshold,
                              std::vector<double>* err_scale = nullptr);

// act(x_m · wg_j) for all rows and neurons, [M][H] (to choose CATS thresholds in tests).
std::vector<double> GateActivations(const std::vector<float>& x, const std::vector<float>& wg, int64_t m, int64_t d,
                                    int64_t h, bool gelu);

}  // namespace caprese_ref

using ILGPU;
using IlgpuHalf = ILGPU.Half;

namespace Caprese.IlgpuPeer;

/// <summary>How a weight element of type <typeparamref name="T"/> becomes an f32 (inside kernels).</summary>
public interface IWeightFormat<T> where T : unmanaged
{
    /// <summary>w[i] as f32.</summary>
    float Load(ArrayView<T> w, long i);
}

/// <summary>f32 weights.</summary>
public readonly struct F32Format : IWeightFormat<float>
{
    /// <inheritdoc />
    public float Load(ArrayView<float> w, long i) => w[i];
}

/// <summary>IEEE half weights (ILGPU's Half has System.Half's bit layout).</summary>
public readonly struct F16Format : IWeightFormat<IlgpuHalf>
{
    /// <inheritdoc />
    public float Load(ArrayView<IlgpuHalf> w, long i) => (float)w[i];
}

/// <summary>bfloat16 weights stored as their 16 bits: the upper half of an f32.</summary>
public readonly struct Bf16Format : IWeightFormat<ushort>
{
    /// <inheritdoc />
    public float Load(ArrayView<ushort> w, long i) => Interop.IntAsFloat((uint)w[i] << 16);
}

/// <summary>Scalars of one launch (passed by value to every kernel).</summary>
public struct FfnArgs
{
    /// <summary>Rows of x (1..16).</summary>
    public int M;
    /// <summary>Model width.</summary>
    public int D;
    /// <summary>Main neurons of the weights (rows of w_gate).</summary>
    public int H;
    /// <summary>Items that are main neurons: k (indices), H (all, threshold).</summary>
    public int NMain;
    /// <summary>Items that are extra neurons (r).</summary>
    public int NExtra;
    /// <summary>0 all, 1 indices, 2 threshold.</summary>
    public int Selection;
    /// <summary>1: GELU (tanh), 0: SiLU.</summary>
    public int Gelu;
    /// <summary>CATS threshold on |act(gate)|.</summary>
    public float Threshold;
    /// <summary>Items per down-projection chunk.</summary>
    public int ItemsPerChunk;
    /// <summary>Column blocks of the down-projection grid (ceil(D / group)).</summary>
    public int ColBlocks;
}

/// <summary>
/// The three kernels of the ILGPU sparse FFN. Items are the neurons to compute: item i &lt; NMain is
/// main neuron (indices ? idx[i] : i), item NMain + e is extra neuron e.
/// (1) <see cref="Hidden{T,TF}"/>: one group per item reduces x·w_gate and x·w_up for all M rows (four
///     rows per pass, weights re-read from cache) and writes h[item, m] = act(g)·u (extra: x·eu; CATS:
///     the masked act times u, u read only when some row keeps the neuron).
/// (2) <see cref="Down{T,TF}"/>: a grid of (column block, item chunk) groups; each thread owns one
///     output column and accumulates h[item, m]·w_down_t[item, col] over its chunk into partial[chunk, m, col]
///     (CATS: items whose h is zero for the four rows of the pass are not read).
/// (3) <see cref="SumChunks"/>: y = Σ partials in chunk order (no atomics: deterministic).
/// </summary>
public static class Kernels
{
    /// <summary>Largest group size of <see cref="Hidden{T,TF}"/> (its shared memory is sized for it).</summary>
    public const int MaxGroup = 256;
    private const int Values = 8; // 4 gate + 4 up partial sums per pass

    private static float Act(float g, int gelu)
    {
        if (gelu != 0)
        {
            float z = 0.7978845608028654f * (g + 0.044715f * g * g * g);
            // tanh(z) = 1 - 2 / (e^{2z} + 1): exact at both tails (e^{2z} = inf gives 1, 0 gives -1).
            float t = 1f - 2f / (MathF.Exp(2f * z) + 1f);
            return 0.5f * g * (1f + t);
        }
        return g / (1f + MathF.Exp(-g));
    }

    // Tree sum over the group of `count` values per thread held in sh[v * g + t]; results in sh[v * g].
    private static void GroupSum(ArrayView<float> sh, int t, int g, int count)
    {
        Group.Barrier();
        for (int s = g / 2; s > 0; s >>= 1)
        {
            if (t < s)
                for (int v = 0; v < count; v++)
                    sh[v * g + t] += sh[v * g + t + s];
            Group.Barrier();
        }
    }

    /// <summary>Phase 1: h[item, m] for every item (grid = items, group = power of two ≤ <see cref="MaxGroup"/>).</summary>
    public static void Hidden<T, TF>(ArrayView<float> x, ArrayView<T> wg, ArrayView<T> wu, ArrayView<T> eu,
        ArrayView<int> idx, ArrayView<float> h, FfnArgs a)
        where T : unmanaged
        where TF : struct, IWeightFormat<T>
    {
        var sh = SharedMemory.Allocate<float>(Values * MaxGroup);
        var flag = SharedMemory.Allocate<int>(1);
        TF f = default;
        int item = Grid.IdxX, t = Group.IdxX, g = Group.DimX;
        int m = a.M, d = a.D;
        bool extra = item >= a.NMain;
        long j = extra ? item - a.NMain : a.Selection == 1 ? idx[item] : item;
        bool valid = extra || (j >= 0 && j < a.H);
        long row = valid ? j * d : 0;

        if (!valid)
        {
            // An index outside [0, H): the item contributes nothing (the native CUDA kernel skips it too).
            if (t == 0)
                for (int r = 0; r < m; r++)
                    h[(long)item * m + r] = 0f;
            return;
        }

        if (a.Selection == 2 && !extra)
        {
            // CATS: masked act(gate) for all rows first; u only where some row keeps the neuron.
            int kept = 0;
            for (int m0 = 0; m0 < m; m0 += 4)
            {
                float g0 = 0, g1 = 0, g2 = 0, g3 = 0;
                for (int i = t; i < d; i += g)
                {
                    float w = f.Load(wg, row + i);
                    g0 += x[(long)m0 * d + i] * w;
                    if (m0 + 1 < m) g1 += x[(long)(m0 + 1) * d + i] * w;
                    if (m0 + 2 < m) g2 += x[(long)(m0 + 2) * d + i] * w;
                    if (m0 + 3 < m) g3 += x[(long)(m0 + 3) * d + i] * w;
                }
                sh[t] = g0; sh[g + t] = g1; sh[2 * g + t] = g2; sh[3 * g + t] = g3;
                GroupSum(sh, t, g, 4);
                if (t == 0)
                    for (int k = 0; k < 4 && m0 + k < m; k++)
                    {
                        float v = Act(sh[k * g], a.Gelu);
                        bool keep = MathF.Abs(v) >= a.Threshold;
                        h[(long)item * m + m0 + k] = keep ? v : 0f;
                        kept += keep ? 1 : 0;
                    }
                Group.Barrier();
            }
            if (t == 0)
                flag[0] = kept;
            Group.Barrier();
            if (flag[0] == 0)
                return; // h is already zero for every row
            for (int m0 = 0; m0 < m; m0 += 4)
            {
                float u0 = 0, u1 = 0, u2 = 0, u3 = 0;
                for (int i = t; i < d; i += g)
                {
                    float w = f.Load(wu, row + i);
                    u0 += x[(long)m0 * d + i] * w;
                    if (m0 + 1 < m) u1 += x[(long)(m0 + 1) * d + i] * w;
                    if (m0 + 2 < m) u2 += x[(long)(m0 + 2) * d + i] * w;
                    if (m0 + 3 < m) u3 += x[(long)(m0 + 3) * d + i] * w;
                }
                sh[t] = u0; sh[g + t] = u1; sh[2 * g + t] = u2; sh[3 * g + t] = u3;
                GroupSum(sh, t, g, 4);
                if (t == 0)
                    for (int k = 0; k < 4 && m0 + k < m; k++)
                        h[(long)item * m + m0 + k] *= sh[k * g];
                Group.Barrier();
            }
            return;
        }

        ArrayView<T> first = extra ? eu : wg;
        for (int m0 = 0; m0 < m; m0 += 4)
        {
            float g0 = 0, g1 = 0, g2 = 0, g3 = 0, u0 = 0, u1 = 0, u2 = 0, u3 = 0;
            for (int i = t; i < d; i += g)
            {
                float wa = f.Load(first, row + i);
                float wb = extra ? 0f : f.Load(wu, row + i);
                float x0 = x[(long)m0 * d + i];
                float x1 = m0 + 1 < m ? x[(long)(m0 + 1) * d + i] : 0f;
                float x2 = m0 + 2 < m ? x[(long)(m0 + 2) * d + i] : 0f;
                float x3 = m0 + 3 < m ? x[(long)(m0 + 3) * d + i] : 0f;
                g0 += x0 * wa; g1 += x1 * wa; g2 += x2 * wa; g3 += x3 * wa;
                u0 += x0 * wb; u1 += x1 * wb; u2 += x2 * wb; u3 += x3 * wb;
            }
            sh[t] = g0; sh[g + t] = g1; sh[2 * g + t] = g2; sh[3 * g + t] = g3;
            sh[4 * g + t] = u0; sh[5 * g + t] = u1; sh[6 * g + t] = u2; sh[7 * g + t] = u3;
            GroupSum(sh, t, g, extra ? 4 : 8);
            if (t == 0)
                for (int k = 0; k < 4 && m0 + k < m; k++)
                    h[(long)item * m + m0 + k] = extra ? sh[k * g] : Act(sh[k * g], a.Gelu) * sh[(4 + k) * g];
            Group.Barrier();
        }
    }

    /// <summary>Phase 2: partial[chunk, m, col] = Σ_{item in chunk} h[item, m]·down[item, col] (grid = ColBlocks × chunks).</summary>
    public static void Down<T, TF>(ArrayView<float> h, ArrayView<T> wd, ArrayView<T> ed, ArrayView<int> idx,
        ArrayView<float> partial, FfnArgs a)
        where T : unmanaged
        where TF : struct, IWeightFormat<T>
    {
        TF f = default;
        int block = Grid.IdxX;
        int colBlock = block % a.ColBlocks, chunk = block / a.ColBlocks;
        int col = colBlock * Group.DimX + Group.IdxX;
        int m = a.M, d = a.D, n = a.NMain + a.NExtra;
        int begin = chunk * a.ItemsPerChunk;
        int end = Math.Min(n, begin + a.ItemsPerChunk);
        if (col >= d)
            return; // no barriers below: early exit is safe
        for (int m0 = 0; m0 < m; m0 += 4)
        {
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (int it = begin; it < end; it++)
            {
                long hb = (long)it * m + m0;
                float h0 = h[hb];
                float h1 = m0 + 1 < m ? h[hb + 1] : 0f;
                float h2 = m0 + 2 < m ? h[hb + 2] : 0f;
                float h3 = m0 + 3 < m ? h[hb + 3] : 0f;
                float w;
                if (it >= a.NMain)
                {
                    w = f.Load(ed, (long)(it - a.NMain) * d + col);
                }
                else
                {
                    if (a.Selection == 2 && h0 == 0f && h1 == 0f && h2 == 0f && h3 == 0f)
                        continue; // CATS: inactive for these rows, its down row is not read
                    long j = a.Selection == 1 ? idx[it] : it;
                    if (j < 0 || j >= a.H)
                        continue;
                    w = f.Load(wd, j * d + col);
                }
                a0 += h0 * w; a1 += h1 * w; a2 += h2 * w; a3 += h3 * w;
            }
            long pb = ((long)chunk * m + m0) * d + col;
            partial[pb] = a0;
            if (m0 + 1 < m) partial[pb + d] = a1;
            if (m0 + 2 < m) partial[pb + 2L * d] = a2;
            if (m0 + 3 < m) partial[pb + 3L * d] = a3;
        }
    }

    /// <summary>Phase 3: y[e] = Σ_c partial[c * size + e] in chunk order.</summary>
    public static void SumChunks(Index1D e, ArrayView<float> partial, ArrayView<float> y, int chunks, int size)
    {
        float s = partial[e];
        for (int c = 1; c < chunks; c++)
            s += partial[(long)c * size + e];
        y[e] = s;
    }
}

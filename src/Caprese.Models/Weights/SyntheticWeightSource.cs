using Caprese.Models.Transformer;

namespace Caprese.Models.Weights;

/// <summary>
/// Seeded random weights generated on demand. Each element is a hash of (seed, tensor, index),
/// so any chunking reads the same values and an 8B-parameter model needs no host copy.
/// Matrices are uniform with variance 1 / fan_in (activations keep their scale through the
/// layers), norms scatter around 1 (stored as w - 1 where the config adds an offset of 1),
/// biases are small and embeddings uniform in [-1, 1].
/// </summary>
public sealed class SyntheticWeightSource : IWeightSource
{
    private readonly ModelConfig _config;
    private readonly ulong _seed;
    private readonly Dictionary<WeightId, long[]> _shapes;

    public SyntheticWeightSource(ModelConfig config, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        _config = config;
        _seed = (ulong)(uint)seed;
        _shapes = WeightLayout.Required(config).ToDictionary(s => s.Id, s => s.Shape);
    }

    public string SourcePath => $"synthetic {_config.Family} model (seed {_seed})";

    public string NameOf(WeightId id) => HfWeightNames.Of(id, _config);

    public IWeightTensor? Find(WeightId id)
    {
        if (!_shapes.TryGetValue(id, out var shape))
            return null;
        ulong stream = Mix(_seed * 0x9E3779B97F4A7C15UL + (ulong)id.Role * 0x100000001B3UL + (ulong)(id.Layer + 1) * 0xC2B2AE3D27D4EB4FUL);
        (float offset, float halfWidth) = id switch
        {
            { IsNorm: true } => (1f - _config.NormWeightOffset, 0.1f),
            { Role: WeightRole.TokenEmbedding } => (0f, 1f),
            { IsMatrix: true } => (0f, MathF.Sqrt(3f / shape[^1])),
            _ => (0f, 0.1f), // biases
        };
        return new Tensor(NameOf(id), SourcePath, shape, stream, offset, halfWidth);
    }

    /// <summary>All tensors as f32 arrays under their Hugging Face names (small models: tests, oracles, writers).</summary>
    public Dictionary<string, float[]> ToDictionary()
    {
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var spec in WeightLayout.Required(_config))
        {
            var t = Find(spec.Id)!;
            var data = new float[checked((int)spec.ElementCount)];
            t.Read(0, data);
            result[t.Name] = data;
        }
        return result;
    }

    // SplitMix64 finaliser: a cheap, well-mixed hash of the counter.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private sealed class Tensor(string name, string filePath, long[] shape, ulong stream, float offset, float halfWidth) : IWeightTensor
    {
        public string Name => name;
        public string FilePath => filePath;
        public IReadOnlyList<long> Shape => shape;

        public unsafe void Read(long firstElement, Span<float> destination)
        {
            const int block = 1 << 16;
            int length = destination.Length;
            fixed (float* p = destination)
            {
                float* dst = p; // lambdas cannot capture a fixed local
                // Elements are independent hashes, so blocks fill in parallel (billions of them for 8B-shaped models).
                Parallel.For(0, (length + block - 1) / block, b =>
                {
                    int end = Math.Min(length, (b + 1) * block);
                    for (int i = b * block; i < end; i++)
                    {
                        ulong h = Mix(stream + (ulong)(firstElement + i) * 0x9E3779B97F4A7C15UL);
                        float unit = (h >> 40) * (1f / (1 << 24)); // [0, 1)
                        dst[i] = offset + halfWidth * (2f * unit - 1f);
                    }
                });
            }
        }
    }
}

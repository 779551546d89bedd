using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Caprese.Interop;
using Caprese.Models.Transformer;

namespace Caprese.Models.Adapters;

/// <summary>
/// Identifies the base model adapters were trained on, cheaply: it reads a few bytes of every weight tensor, never a
/// whole multi-GB model. <see cref="ArchitectureHash"/> covers the config and every tensor's shape;
/// <see cref="WeightsHash"/> the raw bytes of <see cref="ChunksPerTensor"/> evenly spaced chunks of <see cref="ChunkElements"/> elements of every tensor, as
/// loaded (so it depends on the dtype the matrices were loaded as); <see cref="Samples"/> keeps the first value of each
/// chunk as f32 so that the same model loaded in another dtype (f32 / f16 / bf16) can still be recognised.
/// </summary>
public sealed class ModelFingerprint
{
    /// <summary>Chunks sampled per tensor.</summary>
    public const int ChunksPerTensor = 8;

    /// <summary>Elements per chunk; the chunk positions depend on the element count only, so every dtype samples the same values.</summary>
    public const int ChunkElements = 8;

    /// <summary>
    /// Relative tolerance of the cross-dtype comparison: bf16 and f16 roundings of one value differ by at most
    /// 2^-9 + 2^-11 of it; 2^-7 leaves room, and a different model is still caught because its samples differ by far more.
    /// </summary>
    public const float CrossDTypeTolerance = 1f / 128;

    private const string Prefix = "caprese-fingerprint-1";

    private readonly float[] _samples;

    public ModelFingerprint(string architectureHash, DType weightType, string weightsHash, IEnumerable<float> samples)
    {
        ArgumentException.ThrowIfNullOrEmpty(architectureHash);
        ArgumentException.ThrowIfNullOrEmpty(weightsHash);
        ArgumentNullException.ThrowIfNull(samples);
        ArchitectureHash = architectureHash;
        WeightType = weightType;
        WeightsHash = weightsHash;
        _samples = [.. samples];
    }

    /// <summary>SHA-256 (hex) of the config fields that shape the computation and of every tensor's shape.</summary>
    public string ArchitectureHash { get; }

    /// <summary>The dtype the matrices were loaded as.</summary>
    public DType WeightType { get; }

    /// <summary>SHA-256 (hex) of the architecture hash and the sampled raw bytes of every tensor.</summary>
    public string WeightsHash { get; }

    /// <summary>The first value of every sampled chunk, as f32, in tensor order.</summary>
    public IReadOnlyList<float> Samples => _samples;

    /// <summary>Samples <paramref name="model"/>'s weights on its backend.</summary>
    public static ModelFingerprint Compute(TransformerModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var weights = model.Weights;
        var tensors = Tensors(weights);
        string architecture = ArchitectureOf(model.Config, tensors);

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes(architecture));
        var samples = new List<float>();
        var chunk = new byte[ChunkElements * sizeof(float)];
        foreach (var t in tensors)
        {
            int size = t.DType.SizeInBytes();
            long elements = t.ElementCount;
            int chunkElements = (int)Math.Min(elements, ChunkElements);
            for (int k = 0; k < ChunksPerTensor; k++)
            {
                long first = (elements - chunkElements) * k / (ChunksPerTensor - 1);
                var bytes = chunk.AsSpan(0, chunkElements * size);
                CopyToHost(model.Context, t.Data + (nint)(first * size), bytes);
                sha.AppendData(bytes);
                samples.Add(ToSingle(t.DType, bytes));
            }
        }
        return new ModelFingerprint(architecture, weights.MatrixType, Convert.ToHexStringLower(sha.GetHashAndReset()), samples);
    }

    /// <summary>
    /// Why <paramref name="other"/> is not the same base model, or null when it is: the architecture must match; in the
    /// same dtype the weight hash must match exactly, across dtypes every sample within <see cref="CrossDTypeTolerance"/>.
    /// </summary>
    public string? MismatchWith(ModelFingerprint other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ArchitectureHash != other.ArchitectureHash)
            return "a different architecture (config or tensor shapes differ)";
        if (WeightType == other.WeightType)
            return WeightsHash == other.WeightsHash ? null : $"different weights (sampled {WeightType} bytes differ)";
        if (_samples.Length != other._samples.Length)
            return "different weights (sample counts differ)";
        for (int i = 0; i < _samples.Length; i++)
        {
            float a = _samples[i], b = other._samples[i];
            if (!(Math.Abs(a - b) <= CrossDTypeTolerance * Math.Max(Math.Abs(a), Math.Abs(b)) + 1e-6f))
                return $"different weights (sample {i}: {a.ToString("R", CultureInfo.InvariantCulture)} vs {b.ToString("R", CultureInfo.InvariantCulture)}, compared across {WeightType} and {other.WeightType})";
        }
        return null;
    }

    /// <summary>The text form stored in adapter files; <see cref="Parse"/> reads it back.</summary>
    public override string ToString()
    {
        var bytes = new byte[_samples.Length * 4];
        for (int i = 0; i < _samples.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), _samples[i]);
        return $"{Prefix};arch={ArchitectureHash};dtype={WeightType};weights={WeightsHash};samples={Convert.ToBase64String(bytes)}";
    }

    /// <exception cref="FormatException">Not a fingerprint written by <see cref="ToString"/>.</exception>
    public static ModelFingerprint Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(';');
        if (parts.Length != 5 || parts[0] != Prefix)
            throw new FormatException($"not a {Prefix} string");
        string Field(int i, string name) =>
            parts[i].StartsWith(name + "=", StringComparison.Ordinal) ? parts[i][(name.Length + 1)..] : throw new FormatException($"field {i} is not '{name}'");
        string arch = Field(1, "arch"), weights = Field(3, "weights");
        if (!IsHash(arch) || !IsHash(weights))
            throw new FormatException("hashes must be 64 lower-case hex digits");
        var dtype = Field(2, "dtype") switch
        {
            nameof(DType.F32) => DType.F32,
            nameof(DType.F16) => DType.F16,
            nameof(DType.BF16) => DType.BF16,
            var other => throw new FormatException($"dtype '{other}' is not F32, F16 or BF16"),
        };
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(Field(4, "samples"));
        }
        catch (FormatException e)
        {
            throw new FormatException($"samples are not base64: {e.Message}");
        }
        if (bytes.Length % 4 != 0)
            throw new FormatException($"{bytes.Length} sample bytes are not whole f32 values");
        var samples = new float[bytes.Length / 4];
        for (int i = 0; i < samples.Length; i++)
            samples[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        return new ModelFingerprint(arch, dtype, weights, samples);
    }

    private static bool IsHash(string s) => s.Length == 64 && s.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    // Every tensor in a fixed order: embedding, classifier when untied, final norm, then each layer's in LayerWeights order.
    private static List<TensorDesc> Tensors(ModelWeights w)
    {
        var list = new List<TensorDesc> { w.TokenEmbedding };
        if (w.Classifier.Data != w.TokenEmbedding.Data)
            list.Add(w.Classifier);
        list.Add(w.FinalNorm);
        foreach (var l in w.Layers)
        {
            TensorDesc?[] all = [l.AttentionNorm, l.Wq, l.Bq, l.Wk, l.Bk, l.Wv, l.Bv, l.Wo, l.PostAttentionNorm, l.FfnNorm, l.WGate, l.WUp, l.WDown, l.PostFfnNorm];
            list.AddRange(all.Where(t => t is not null).Select(t => t!.Value));
        }
        return list;
    }

    // SHA-256 of the computation-shaping config fields and the shapes; MaxSeqLen is left out (a context size, not the model).
    private static string ArchitectureOf(ModelConfig c, List<TensorDesc> tensors)
    {
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.Append(inv, $"{c.Family}|{c.Dim}|{c.HiddenDim}|{c.Layers}|{c.Heads}|{c.KvHeads}|{c.HeadDim}|{c.Vocab}|");
        text.Append(inv, $"{c.NormEps:R}|{c.NormWeightOffset:R}|{c.RopeTheta:R}|{c.RopeStyle}|{c.Activation}|{c.TiedEmbeddings}|{c.QkvBias}|");
        text.Append(inv, $"{c.EmbeddingScale:R}|{c.PostNorms}|{c.AttentionScale:R}|{c.AttentionSoftcap:R}|{c.FinalLogitSoftcap:R}|");
        text.Append(inv, $"{c.SlidingWindow}|{c.SlidingWindowLayers}|");
        if (c.RopeScaling is { } s)
            text.Append(inv, $"{s.Factor:R},{s.LowFreqFactor:R},{s.HighFreqFactor:R},{s.OriginalMaxPositions}");
        text.Append('|');
        foreach (var f in c.RopeFrequencyFactors ?? [])
            text.Append(inv, $"{f:R},");
        foreach (var t in tensors)
            text.Append('|').AppendJoin(',', t.Shape);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static unsafe void CopyToHost(CapreseContext context, nint source, Span<byte> destination)
    {
        fixed (byte* p = destination)
            context.Copy((nint)p, source, destination.Length, CopyKind.DeviceToHost);
    }

    private static float ToSingle(DType dtype, ReadOnlySpan<byte> bytes) => dtype switch
    {
        DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(bytes),
        DType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(bytes),
        DType.BF16 => Formats.TensorConvert.BF16BitsToF32(BinaryPrimitives.ReadUInt16LittleEndian(bytes)),
        _ => 0f,
    };
}

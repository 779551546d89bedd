using System.Runtime.InteropServices;
using System.Text;
using Caprese.Interop;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Benchmarks.Peers;

/// <summary>llama2.c checkpoint hyper-parameters (the 7-int32 header).</summary>
public sealed record Llama2cShape(int Dim, int Hidden, int Layers, int Heads, int KvHeads, int Vocab, int SeqLen, bool Shared = true)
{
    public int HeadDim => Dim / Heads;
    public int KvDim => KvHeads * HeadDim;

    /// <summary>f32 values after the header, in file order (legacy RoPE tables included).</summary>
    public long FloatCount =>
        (long)Vocab * Dim
        + (long)Layers * (Dim + 2L * Dim * Dim + 2L * Dim * KvDim + Dim + 3L * Dim * Hidden)
        + Dim + (long)SeqLen * HeadDim + (Shared ? 0 : (long)Vocab * Dim);
}

/// <summary>
/// Writes a random-weight llama2.c checkpoint (plus a placeholder tokenizer.bin so the runtime's
/// loader accepts the folder) and reads llama2.c checkpoints back as named f32 arrays for the
/// TorchSharp peer. The file is cached under the temp folder by shape and seed: it is large
/// (≈ 440 MB for the 768-dim model) and deterministic.
/// </summary>
public static class Llama2cFiles
{
    public static string RandomModel(Llama2cShape s, int seed)
    {
        // One folder per model: the loader looks for tokenizer.bin beside the checkpoint.
        var dir = Path.Combine(Path.GetTempPath(), "caprese-peers", $"llama-d{s.Dim}-l{s.Layers}-h{s.Hidden}-v{s.Vocab}-s{seed}");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "model.bin");
        long expectedBytes = 28 + s.FloatCount * 4;
        if (!File.Exists(path) || new FileInfo(path).Length != expectedBytes)
            WriteRandom(path, s, seed);
        var tokenizer = Path.Combine(dir, "tokenizer.bin");
        WritePlaceholderTokenizer(tokenizer, s.Vocab);
        return path;
    }

    private static void WriteRandom(string path, Llama2cShape s, int seed)
    {
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<int> header = [s.Dim, s.Hidden, s.Layers, s.Heads, s.KvHeads, s.Shared ? s.Vocab : -s.Vocab, s.SeqLen];
            stream.Write(MemoryMarshal.AsBytes(header));
            var rng = new Random(seed);
            // Norm weights near 1, matrices ~ U(±1/√fan_in) keep activations bounded through 12 layers.
            void Fill(long count, float center, float amplitude)
            {
                var chunk = new float[Math.Min(count, 1 << 20)];
                for (long done = 0; done < count; done += chunk.Length)
                {
                    int n = (int)Math.Min(chunk.Length, count - done);
                    for (int i = 0; i < n; i++)
                        chunk[i] = center + amplitude * (float)(2 * rng.NextDouble() - 1);
                    stream.Write(MemoryMarshal.AsBytes(chunk.AsSpan(0, n)));
                }
            }
            float inv(int fanIn) => 1f / MathF.Sqrt(fanIn);
            Fill((long)s.Vocab * s.Dim, 0, 1);
            Fill((long)s.Layers * s.Dim, 1, 0.1f);
            Fill((long)s.Layers * s.Dim * s.Dim, 0, inv(s.Dim));
            Fill((long)s.Layers * s.KvDim * s.Dim, 0, inv(s.Dim));
            Fill((long)s.Layers * s.KvDim * s.Dim, 0, inv(s.Dim));
            Fill((long)s.Layers * s.Dim * s.Dim, 0, inv(s.Dim));
            Fill((long)s.Layers * s.Dim, 1, 0.1f);
            Fill((long)s.Layers * s.Hidden * s.Dim, 0, inv(s.Dim));
            Fill((long)s.Layers * s.Dim * s.Hidden, 0, inv(s.Hidden));
            Fill((long)s.Layers * s.Hidden * s.Dim, 0, inv(s.Dim));
            Fill(s.Dim, 1, 0.1f);
            Fill((long)s.SeqLen * s.HeadDim, 0, 0); // legacy freq_cis tables, unused by both
            if (!s.Shared)
                Fill((long)s.Vocab * s.Dim, 0, inv(s.Dim));
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>
    /// Writes <paramref name="source"/>'s weights as a llama2.c checkpoint (f32, in llama2.c's tensor
    /// order, zeroed legacy RoPE tables; classifier shared when the config ties it) through a temporary
    /// file, plus a placeholder tokenizer.bin beside it. Q/K rows are copied as they are: llama2.c's
    /// interleaved RoPE is the convention of GGUF llama files, so a source read from one stays valid.
    /// </summary>
    public static void Write(string path, ModelConfig c, IWeightSource source)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(source);
        if (c.RopeStyle != RopeStyle.Interleaved || c.QkvBias || c.PostNorms || c.HeadDim * c.Heads != c.Dim)
            throw new ArgumentException("llama2.c holds plain Llama models with interleaved RoPE and head_dim = dim / heads", nameof(c));
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<int> header = [c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KvHeads, c.TiedEmbeddings ? c.Vocab : -c.Vocab, c.MaxSeqLen];
            stream.Write(MemoryMarshal.AsBytes(header));
            var buffer = new float[1 << 20];
            void Copy(WeightRole role, int layer)
            {
                var id = new WeightId(role, layer);
                var t = source.Find(id) ?? throw new ArgumentException($"{source.SourcePath} has no {source.NameOf(id)}", nameof(source));
                long count = t.Shape.Aggregate(1L, (a, d) => a * d), row = t.Shape[^1];
                int piece = (int)Math.Max(row, buffer.Length / row * row);
                if (piece > buffer.Length)
                    buffer = new float[piece];
                for (long done = 0; done < count; done += piece)
                {
                    int n = (int)Math.Min(piece, count - done);
                    t.Read(done, buffer.AsSpan(0, n));
                    stream.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
                }
            }
            void PerLayer(WeightRole role)
            {
                for (int l = 0; l < c.Layers; l++)
                    Copy(role, l);
            }
            Copy(WeightRole.TokenEmbedding, -1);
            PerLayer(WeightRole.AttentionNorm);
            PerLayer(WeightRole.QueryWeight);
            PerLayer(WeightRole.KeyWeight);
            PerLayer(WeightRole.ValueWeight);
            PerLayer(WeightRole.OutputProjection);
            PerLayer(WeightRole.FfnNorm);
            PerLayer(WeightRole.GateWeight);
            PerLayer(WeightRole.DownWeight);
            PerLayer(WeightRole.UpWeight);
            Copy(WeightRole.FinalNorm, -1);
            stream.Write(new byte[(long)c.MaxSeqLen * c.HeadDim * 4]); // legacy freq_cis tables, unused
            if (!c.TiedEmbeddings)
                Copy(WeightRole.Classifier, -1);
        }
        File.Move(temp, full, overwrite: true);
        WritePlaceholderTokenizer(Path.Combine(Path.GetDirectoryName(full)!, "tokenizer.bin"), c.Vocab);
    }

    // The runtime's loader wants a tokenizer beside the model; decoding benchmarks never use it.
    internal static void WritePlaceholderTokenizer(string path, int vocab)
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            var pieces = new List<string> { "<unk>", "\n<s>\n", "\n</s>\n" };
            pieces.AddRange(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"));
            for (int i = pieces.Count; i < vocab; i++)
                pieces.Add($"\u2581p{i}");
            var bytes = pieces.Take(vocab).Select(Encoding.UTF8.GetBytes).ToList();
            w.Write(bytes.Max(b => b.Length));
            foreach (var b in bytes)
            {
                w.Write(0f);
                w.Write(b.Length);
                w.Write(b);
            }
        }
        var data = stream.ToArray();
        if (!File.Exists(path) || !File.ReadAllBytes(path).AsSpan().SequenceEqual(data))
            File.WriteAllBytes(path, data);
    }

    /// <summary>Reads a llama2.c checkpoint: its shape and per-layer f32 arrays.</summary>
    public static (Llama2cShape Shape, Llama2cTensors Tensors) Read(string path)
    {
        using var stream = File.OpenRead(path);
        Span<int> h = stackalloc int[7];
        stream.ReadExactly(MemoryMarshal.AsBytes(h));
        var s = new Llama2cShape(h[0], h[1], h[2], h[3], h[4], Math.Abs(h[5]), h[6], h[5] > 0);
        float[] Take(long count)
        {
            var a = new float[count];
            stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan()));
            return a;
        }
        float[][] PerLayer(long count) => Enumerable.Range(0, s.Layers).Select(_ => Take(count)).ToArray();

        var t = new Llama2cTensors
        {
            Embedding = Take((long)s.Vocab * s.Dim),
            AttentionNorm = PerLayer(s.Dim),
            Wq = PerLayer((long)s.Dim * s.Dim),
            Wk = PerLayer((long)s.KvDim * s.Dim),
            Wv = PerLayer((long)s.KvDim * s.Dim),
            Wo = PerLayer((long)s.Dim * s.Dim),
            FfnNorm = PerLayer(s.Dim),
            Gate = PerLayer((long)s.Hidden * s.Dim),
            Down = PerLayer((long)s.Dim * s.Hidden),
            Up = PerLayer((long)s.Hidden * s.Dim),
            FinalNorm = Take(s.Dim),
        };
        stream.Seek((long)s.SeqLen * s.HeadDim * 4, SeekOrigin.Current);
        t.Classifier = s.Shared ? t.Embedding : Take((long)s.Vocab * s.Dim);
        return (s, t);
    }
}

/// <summary>llama2.c tensors split per layer; matrices are [out, in] row-major.</summary>
public sealed class Llama2cTensors
{
    public float[] Embedding { get; init; } = [];
    public float[][] AttentionNorm { get; init; } = [];
    public float[][] Wq { get; init; } = [];
    public float[][] Wk { get; init; } = [];
    public float[][] Wv { get; init; } = [];
    public float[][] Wo { get; init; } = [];
    public float[][] FfnNorm { get; init; } = [];
    public float[][] Gate { get; init; } = [];
    public float[][] Down { get; init; } = [];
    public float[][] Up { get; init; } = [];
    public float[] FinalNorm { get; init; } = [];
    public float[] Classifier { get; set; } = [];
}

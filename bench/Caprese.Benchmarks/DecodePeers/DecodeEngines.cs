using System.Diagnostics;
using System.Numerics.Tensors;
using Caprese.Interop;
using Caprese.Models;
using LLama;
using LLama.Common;
using LLama.Native;

namespace Caprese.Benchmarks.DecodePeers;

/// <summary>
/// One engine decoding greedily from a GGUF file inside a worker process. Every measurement starts
/// from the same state: the BOS token prefilled at position 0 (not timed), then
/// <c>tokens</c> single-token decode steps, each choosing the argmax, timed together.
/// </summary>
public interface IDecodeEngine : IDisposable
{
    /// <summary>Greedy ids (the first from the prefill, then one per step) and the decode steps' milliseconds.</summary>
    (int[] Ids, double Milliseconds) Decode(int tokens);

    /// <summary>Logits after each of <paramref name="tokens"/>, fed one decode step at a time from position 0 (teacher forcing).</summary>
    float[][] ForcedLogits(IReadOnlyList<int> tokens);
}

/// <summary>The engines a worker can host, by name; adding a peer is one more entry.</summary>
public static class DecodeEngines
{
    public const int Bos = 1;

    public static readonly IReadOnlyDictionary<string, Func<string, string, int, int, IDecodeEngine>> Factories =
        new Dictionary<string, Func<string, string, int, int, IDecodeEngine>>
        {
            ["caprese"] = (model, dtype, threads, context) => new CapreseEngine(model, dtype, threads, context),
            ["llama.cpp"] = (model, dtype, threads, context) => new LlamaCppEngine(model, threads, context),
        };
}

/// <summary>Caprese's CPU backend: the file loaded by <see cref="ModelLoader"/>, matrices stored in the file's dtype.</summary>
public sealed class CapreseEngine : IDecodeEngine
{
    private readonly LoadedModel _model;

    public CapreseEngine(string path, string dtype, int threads, int context)
    {
        // The CPU backend has f32, f16 and bf16 matrices; a q8_0 file is decoded with f16 ones.
        var weights = dtype switch { "f32" => DType.F32, "bf16" => DType.BF16, _ => DType.F16 };
        _model = ModelLoader.Load(path, new ModelLoadOptions(BackendKind.Cpu, WeightType: weights, NumThreads: threads, ContextLength: context));
    }

    public long WeightBytesReadPerToken => _model.Model.Weights.BytesReadPerToken;

    public (int[] Ids, double Milliseconds) Decode(int tokens)
    {
        var ids = new int[tokens + 1];
        ids[0] = _model.Model.PrefillArgmax([DecodeEngines.Bos], 0);
        var timer = Stopwatch.StartNew();
        for (int i = 0; i < tokens; i++)
            ids[i + 1] = _model.Model.DecodeStepArgmax(ids[i], i + 1);
        return (ids, timer.Elapsed.TotalMilliseconds);
    }

    public float[][] ForcedLogits(IReadOnlyList<int> tokens) =>
        tokens.Select((t, pos) => _model.Model.DecodeStep(t, pos)).ToArray();

    public void Dispose() => _model.Dispose();
}

/// <summary>llama.cpp's CPU build through LLamaSharp: one sequence, a one-token batch per step, logits of that token.</summary>
public sealed class LlamaCppEngine : IDecodeEngine
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly LLamaBatch _batch = new();
    private readonly int _vocab;

    public LlamaCppEngine(string path, int threads, int context)
    {
        // llama.cpp logs every load step; keep its errors only, unless CAPRESE_PEERS_LLAMA_LOG=1 (which build it picked, ...).
        bool verbose = Environment.GetEnvironmentVariable("CAPRESE_PEERS_LLAMA_LOG") == "1";
        NativeLibraryConfig.All.WithLogCallback((level, message) =>
        {
            if (verbose || level == LLamaLogLevel.Error)
                Console.Error.Write("[llama.cpp] " + message);
        });
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)context,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
        };
        _weights = LLamaWeights.LoadFromFile(parameters);
        _context = _weights.CreateContext(parameters);
        _vocab = _weights.Vocab.Count;
    }

    public (int[] Ids, double Milliseconds) Decode(int tokens)
    {
        var ids = new int[tokens + 1];
        _context.NativeHandle.MemoryClear(true);
        ids[0] = Step(DecodeEngines.Bos, 0);
        var timer = Stopwatch.StartNew();
        for (int i = 0; i < tokens; i++)
            ids[i + 1] = Step(ids[i], i + 1);
        return (ids, timer.Elapsed.TotalMilliseconds);
    }

    public float[][] ForcedLogits(IReadOnlyList<int> tokens)
    {
        _context.NativeHandle.MemoryClear(true);
        return tokens.Select((t, pos) =>
        {
            Step(t, pos);
            return _context.NativeHandle.GetLogitsIth(0)[.._vocab].ToArray();
        }).ToArray();
    }

    private int Step(int token, int pos)
    {
        _batch.Clear();
        _batch.Add(token, pos, LLamaSeqId.Zero, true);
        var result = _context.NativeHandle.Decode(_batch);
        if (result != DecodeResult.Ok)
            throw new InvalidOperationException($"llama_decode failed at position {pos}: {result}");
        var logits = _context.NativeHandle.GetLogitsIth(0);
        return TensorPrimitives.IndexOfMax(logits[.._vocab]);
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}

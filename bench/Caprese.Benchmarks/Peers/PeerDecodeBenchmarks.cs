using BenchmarkDotNet.Attributes;
using Caprese.Benchmarks.Decoding;
using Caprese.Benchmarks.Infrastructure;
using Caprese.Interop;
using Caprese.Models;
using TorchSharp;

namespace Caprese.Benchmarks.Peers;

/// <summary>
/// Greedy CPU decode: our runtime (baseline) next to a TorchSharp/libtorch float32 decoder on the
/// same weights, KV cache in both, the same thread count for both. Models: the embedded
/// stories260K and a random-weight Llama (dim 768, 12 layers, FFN 2048, 12 heads, vocab 32000,
/// ≈ 110 M parameters, written once to a temp folder as a llama2.c file). The Ratio column is
/// TorchSharp time / ours; Throughput is tokens/s.
/// Run: dotnet run -c Release --project bench/Caprese.Benchmarks -- --filter '*PeerDecode*' --job short
/// </summary>
public class PeerDecodeBenchmarks : IThroughput, IDisposable
{
    public const int Steps = 32;
    private static readonly int[] Prompt = [1, 403, 407, 261, 378];

    private LoadedModel? _ours;
    private TorchLlamaDecoder? _torch;
    private int _firstToken;

    [Params("stories260K", "llama-768x12")]
    public string Model { get; set; } = "stories260K";

    /// <summary>Threads for both engines: one per hardware thread, our runtime's default.</summary>
    public static int Threads => Environment.ProcessorCount;

    [GlobalSetup]
    public void Setup()
    {
        string path = Model switch
        {
            "stories260K" => ModelFiles.Stories260K(),
            "llama-768x12" => Llama2cFiles.RandomModel(new Llama2cShape(768, 2048, 12, 12, 12, 32000, 256), seed: 1234),
            _ => throw new ArgumentOutOfRangeException(nameof(Model), Model, null),
        };
        _ours = ModelLoader.Load(path, new ModelLoadOptions(BackendKind.Cpu, NumThreads: Threads));
        torch.set_num_threads(Threads);
        var (shape, tensors) = Llama2cFiles.Read(path);
        _torch = new TorchLlamaDecoder(shape, tensors);

        // Both engines must be decoding the same thing: prime the cache with the prompt and check
        // that their greedy choices agree for the first steps.
        int ours = _ours.Model.PrefillArgmax(Prompt, 0);
        int theirs = 0;
        for (int i = 0; i < Prompt.Length; i++)
            theirs = _torch.DecodeStepArgmax(Prompt[i], i);
        if (ours != theirs)
            throw new InvalidOperationException($"{Model}: first greedy token differs (ours {ours}, TorchSharp {theirs})");
        _firstToken = ours;
        int a = ours, b = theirs;
        for (int i = 0; i < 4; i++)
        {
            a = _ours.Model.DecodeStepArgmax(a, Prompt.Length + i);
            b = _torch.DecodeStepArgmax(b, Prompt.Length + i);
            if (a != b)
                throw new InvalidOperationException($"{Model}: greedy step {i} differs (ours {a}, TorchSharp {b})");
        }
    }

    [Benchmark(Baseline = true, Description = "Caprese CPU decode", OperationsPerInvoke = Steps)]
    public int Caprese()
    {
        // Each invocation rewrites the cache rows after the prompt, as DecodeBenchmarks does.
        int token = _firstToken;
        for (int i = 0; i < Steps; i++)
            token = _ours!.Model.DecodeStepArgmax(token, Prompt.Length + i);
        return token;
    }

    [Benchmark(Description = "TorchSharp f32 decode", OperationsPerInvoke = Steps)]
    public int TorchSharp()
    {
        int token = _firstToken;
        for (int i = 0; i < Steps; i++)
            token = _torch!.DecodeStepArgmax(token, Prompt.Length + i);
        return token;
    }

    public long BytesPerOperation(string method) => 0;
    public double TokensPerOperation(string method) => 1;

    [GlobalCleanup]
    public void Dispose()
    {
        _ours?.Dispose();
        _torch?.Dispose();
        GC.SuppressFinalize(this);
    }
}

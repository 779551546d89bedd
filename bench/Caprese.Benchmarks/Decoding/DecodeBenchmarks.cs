using BenchmarkDotNet.Attributes;
using Caprese.Benchmarks.Infrastructure;
using Caprese.Interop;
using Caprese.Models;

namespace Caprese.Benchmarks.Decoding;

/// <summary>Greedy decode speed of the embedded stories260K model: 64 decode steps after the
/// reference prompt, reported per token (the Throughput column shows tokens/s).</summary>
public class DecodeBenchmarks : IThroughput, IDisposable
{
    private const int Steps = 64;
    private LoadedModel? _model;
    private int _firstToken;
    private int _promptLength;

    [ParamsSource(nameof(Backends))]
    public BackendKind Backend { get; set; }

    public static IEnumerable<BackendKind> Backends() => Infrastructure.Backends.Available();

    [GlobalSetup]
    public void Setup()
    {
        _model = ModelLoader.Load(ModelFiles.Stories260K(), new ModelLoadOptions(Backend));
        var prompt = _model.Tokenizer.Encode("Once upon a time");
        _promptLength = prompt.Length;
        _firstToken = _model.Model.PrefillArgmax(prompt, 0);
    }

    [Benchmark(Description = "stories260K greedy decode", OperationsPerInvoke = Steps)]
    public int DecodeTokens()
    {
        // The prompt's KV rows stay valid; each invocation rewrites positions prompt .. prompt + 63.
        int token = _firstToken;
        for (int i = 0; i < Steps; i++)
            token = _model!.Model.DecodeStepArgmax(token, _promptLength + i);
        return token;
    }

    public long BytesPerOperation(string method) => 0;
    public double TokensPerOperation(string method) => 1;

    [GlobalCleanup]
    public void Dispose()
    {
        _model?.Dispose();
        GC.SuppressFinalize(this);
    }
}

using BenchmarkDotNet.Attributes;
using Caprese.Benchmarks.Infrastructure;
using Caprese.Interop;

namespace Caprese.Benchmarks.Ops;

/// <summary>One decode step of grouped-query attention: 32 query heads over 8 KV heads of size
/// 128, attending to 1024 cached keys (Llama-3-8B-like). Reads the whole K and V cache.</summary>
public class AttentionBenchmarks : IThroughput, IDisposable
{
    private const int QHeads = 32, KvHeads = 8, HeadDim = 128, Keys = 1024;
    private CapreseContext? _context;
    private DeviceBuffer? _q, _k, _v, _out;

    [ParamsSource(nameof(Backends))]
    public BackendKind Backend { get; set; }

    public static IEnumerable<BackendKind> Backends() => Infrastructure.Backends.Available();

    [GlobalSetup]
    public void Setup()
    {
        _context = CapreseContext.Create(Backend);
        _q = _context.Upload<float>(Infrastructure.Backends.RandomFloats(QHeads * HeadDim, 1), DType.F32, 1, QHeads, HeadDim);
        _k = _context.Upload<float>(Infrastructure.Backends.RandomFloats((long)Keys * KvHeads * HeadDim, 2), DType.F32, Keys, KvHeads, HeadDim);
        _v = _context.Upload<float>(Infrastructure.Backends.RandomFloats((long)Keys * KvHeads * HeadDim, 3), DType.F32, Keys, KvHeads, HeadDim);
        _out = _context.Allocate(DType.F32, 1, QHeads, HeadDim);
    }

    [Benchmark(Description = "attention decode 32q/8kv hd128 1024 keys")]
    public void AttentionDecode()
    {
        // The query sits at the last position, so it sees all 1024 keys.
        _context!.Attention(_q!.Tensor, _k!.Tensor, _v!.Tensor, new AttentionParams(Keys - 1, 0, 1f / MathF.Sqrt(HeadDim), 0f), _out!.Tensor);
        _context.Synchronize();
    }

    public long BytesPerOperation(string method) => (2L * Keys * KvHeads * HeadDim + 2L * QHeads * HeadDim) * sizeof(float);
    public double TokensPerOperation(string method) => 0;

    [GlobalCleanup]
    public void Dispose()
    {
        _q?.Dispose();
        _k?.Dispose();
        _v?.Dispose();
        _out?.Dispose();
        _context?.Dispose();
        GC.SuppressFinalize(this);
    }
}

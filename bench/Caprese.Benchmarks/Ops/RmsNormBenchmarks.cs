using BenchmarkDotNet.Attributes;
using Caprese.Benchmarks.Infrastructure;
using Caprese.Interop;

namespace Caprese.Benchmarks.Ops;

/// <summary>RMSNorm over 4096 features, one row (decode) and 16 rows.</summary>
public class RmsNormBenchmarks : IThroughput, IDisposable
{
    private const int D = 4096;
    private CapreseContext? _context;
    private DeviceBuffer? _x, _w, _y;

    [ParamsSource(nameof(Backends))]
    public BackendKind Backend { get; set; }

    [Params(1, 16)]
    public int Rows { get; set; } = 1;

    public static IEnumerable<BackendKind> Backends() => Infrastructure.Backends.Available();

    [GlobalSetup]
    public void Setup()
    {
        _context = CapreseContext.Create(Backend);
        _x = _context.Upload<float>(Infrastructure.Backends.RandomFloats((long)Rows * D, 1), DType.F32, Rows, D);
        _w = _context.Upload<float>(Infrastructure.Backends.RandomFloats(D, 2), DType.F32, D);
        _y = _context.Allocate(DType.F32, Rows, D);
    }

    [Benchmark(Description = "rmsnorm 4096")]
    public void RmsNorm()
    {
        _context!.RmsNorm(_x!.Tensor, _w!.Tensor, 1e-5f, 0f, _y!.Tensor);
        _context.Synchronize();
    }

    public long BytesPerOperation(string method) => (2L * Rows * D + D) * sizeof(float);
    public double TokensPerOperation(string method) => 0;

    [GlobalCleanup]
    public void Dispose()
    {
        _x?.Dispose();
        _w?.Dispose();
        _y?.Dispose();
        _context?.Dispose();
        GC.SuppressFinalize(this);
    }
}

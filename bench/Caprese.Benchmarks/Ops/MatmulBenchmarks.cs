using BenchmarkDotNet.Attributes;
using Caprese.Benchmarks.Infrastructure;
using Caprese.Interop;

namespace Caprese.Benchmarks.Ops;

/// <summary>y[M,4096] = x[M,4096] · W[4096,4096]ᵀ: the decode GEMV (M=1) per weight type, and a small batch (M=16).</summary>
public class MatmulBenchmarks : IThroughput, IDisposable
{
    private const int K = 4096, N = 4096;
    private CapreseContext? _context;
    private DeviceBuffer? _x, _w, _y;

    [ParamsSource(nameof(Backends))]
    public BackendKind Backend { get; set; }

    [Params("M1-f32", "M1-f16", "M1-bf16", "M16-f16")]
    public string Case { get; set; } = "M1-f32";

    public static IEnumerable<BackendKind> Backends() => Infrastructure.Backends.Available();

    private int M => int.Parse(Case[1..Case.IndexOf('-')]);
    private DType WeightType => Case[(Case.IndexOf('-') + 1)..] switch { "f16" => DType.F16, "bf16" => DType.BF16, _ => DType.F32 };

    [GlobalSetup]
    public void Setup()
    {
        _context = CapreseContext.Create(Backend);
        _x = _context.Upload<float>(Infrastructure.Backends.RandomFloats((long)M * K, 1), DType.F32, M, K);
        _w = Infrastructure.Backends.UploadWeights(_context, Infrastructure.Backends.RandomFloats((long)N * K, 2), WeightType, N, K);
        _y = _context.Allocate(DType.F32, M, N);
    }

    [Benchmark(Description = "matmul 4096x4096")]
    public void Matmul()
    {
        _context!.Matmul(_x!.Tensor, _w!.Tensor, null, _y!.Tensor);
        _context.Synchronize();
    }

    public long BytesPerOperation(string method) => (long)N * K * WeightType.SizeInBytes() + (long)M * K * 4 + (long)M * N * 4;
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

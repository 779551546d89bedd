using Caprese.Interop;

namespace Caprese.Tests.Support;

/// <summary>
/// The one place that decides which backend a test written for CUDA (a <see cref="BackendKind.Cuda"/> parameter) runs on,
/// so that the CUDA code path is tested on machines without a GPU too, through the CUDA simulator (the same kernels run on
/// the CPU). Compiled into each test project that has such tests (a linked file).
/// <list type="bullet">
/// <item><c>CAPRESE_TEST_CUDA_BACKEND=cuda</c> or <c>cuda-sim</c>: that backend; the test fails if it is unavailable (an
/// explicit request is never skipped or replaced).</item>
/// <item>Otherwise, with <c>CAPRESE_EXPECT_CUDA=1</c> (GPU machines): real CUDA, failing if it is unavailable, so that a broken
/// CUDA setup cannot pass on the simulator.</item>
/// <item>Otherwise: CUDA when it is available, else the simulator when it is, else the test is skipped with both reasons.</item>
/// </list>
/// </summary>
internal static class CudaTestBackend
{
    public const string BackendVariable = "CAPRESE_TEST_CUDA_BACKEND";
    public const string ExpectCudaVariable = "CAPRESE_EXPECT_CUDA";

    /// <summary>What <see cref="Decide"/> found: the backend to use, or why there is none.</summary>
    /// <param name="Backend">The backend to run on; null when there is none.</param>
    /// <param name="Reason">Why there is none (empty when there is one).</param>
    /// <param name="Fail">Whether having none is a failure (an explicit request that cannot be met) rather than a skip.</param>
    public readonly record struct Resolution(BackendKind? Backend, string Reason, bool Fail);

    private static readonly Lazy<Resolution> Resolved = new(() => Decide(
        Environment.GetEnvironmentVariable(BackendVariable),
        Environment.GetEnvironmentVariable(ExpectCudaVariable) == "1",
        backend => (CapreseLibrary.IsBackendAvailable(backend, out string reason), reason)));

    /// <summary>The decision, from the two variables and a probe (a pure function: the resolver's own tests call it).</summary>
    public static Resolution Decide(string? requested, bool expectCuda, Func<BackendKind, (bool Available, string Reason)> probe)
    {
        if (!string.IsNullOrWhiteSpace(requested))
        {
            BackendKind? kind = requested.Trim().ToLowerInvariant() switch
            {
                "cuda" => BackendKind.Cuda,
                "cuda-sim" => BackendKind.CudaSim,
                _ => null,
            };
            if (kind is null)
                return new(null, $"{BackendVariable}='{requested}' is neither 'cuda' nor 'cuda-sim'", Fail: true);
            var (ok, why) = probe(kind.Value);
            return ok ? new(kind, "", false) : new(null, $"{BackendVariable}={requested} but the {kind} backend is unavailable: {why}", Fail: true);
        }

        var (cudaOk, cudaWhy) = probe(BackendKind.Cuda);
        if (cudaOk)
            return new(BackendKind.Cuda, "", false);
        if (expectCuda)
            return new(null, $"{ExpectCudaVariable}=1 but the CUDA backend is unavailable: {cudaWhy}", Fail: true);
        var (simOk, simWhy) = probe(BackendKind.CudaSim);
        return simOk
            ? new(BackendKind.CudaSim, "", false)
            : new(null, $"CUDA backend unavailable: {cudaWhy}; CUDA simulator unavailable: {simWhy}", Fail: false);
    }

    /// <summary>The backend CUDA tests run on here; skips (or fails, see the class) the calling test when there is none.</summary>
    public static BackendKind Get()
    {
        Resolution r = Resolved.Value;
        if (r.Backend is { } kind)
            return kind;
        if (r.Fail)
            Assert.Fail(r.Reason);
        Assert.Skip(r.Reason);
        return default; // not reached: Skip throws
    }

    /// <summary><paramref name="requested"/>, with <see cref="BackendKind.Cuda"/> replaced by <see cref="Get"/>.</summary>
    public static BackendKind Map(BackendKind requested) => requested == BackendKind.Cuda ? Get() : requested;

    /// <summary>
    /// The backend a test's backend parameter stands for: <see cref="Map"/>, and a skip with the native reason when
    /// another non-CPU backend (the simulator asked for by name) cannot be used. Notes a substitution in the test output.
    /// </summary>
    public static BackendKind Resolve(BackendKind requested)
    {
        BackendKind actual = Map(requested);
        if (actual != requested)
            TestContext.Current.TestOutputHelper?.WriteLine($"the {requested} case runs on {actual}");
        else if (actual != BackendKind.Cpu && !CapreseLibrary.IsBackendAvailable(actual, out string reason))
            Assert.Skip($"{actual} backend unavailable: {reason}");
        return actual;
    }

    /// <summary>
    /// For a test that must stay on a real GPU (its shapes would take too long on the simulator): CUDA, or a skip
    /// with the native reason (a failure under <c>CAPRESE_EXPECT_CUDA=1</c>).
    /// </summary>
    public static void RequireRealCuda(string why)
    {
        if (CapreseLibrary.IsBackendAvailable(BackendKind.Cuda, out string reason))
            return;
        if (Environment.GetEnvironmentVariable(ExpectCudaVariable) == "1")
            Assert.Fail($"{ExpectCudaVariable}=1 but the CUDA backend is unavailable: {reason}");
        Assert.Skip($"real CUDA only ({why}); CUDA backend unavailable: {reason}");
    }

    /// <summary>Skips the calling test, with the native reason, unless the CUDA simulator can be used.</summary>
    public static void RequireSimulator()
    {
        if (!CapreseLibrary.IsBackendAvailable(BackendKind.CudaSim, out string reason))
            Assert.Skip($"CUDA simulator unavailable: {reason}");
    }
}

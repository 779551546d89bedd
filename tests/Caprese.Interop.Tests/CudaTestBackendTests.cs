namespace Caprese.Interop.Tests;

/// <summary>The choice of backend for the CUDA-parametrized tests (<see cref="CudaTestBackend.Decide"/>), on fake probes.</summary>
public class CudaTestBackendTests
{
    private static Func<BackendKind, (bool, string)> Probe(bool cuda, bool sim) => backend => backend switch
    {
        BackendKind.Cuda => (cuda, cuda ? "" : "no CUDA-capable device is detected"),
        BackendKind.CudaSim => (sim, sim ? "" : "libcaprese_cudasim.so: cannot open shared object file"),
        _ => (true, ""),
    };

    [Theory]
    [InlineData(true, true, BackendKind.Cuda)]
    [InlineData(true, false, BackendKind.Cuda)]
    [InlineData(false, true, BackendKind.CudaSim)]
    public void Unset_PrefersRealCuda_ThenTheSimulator(bool cuda, bool sim, BackendKind expected)
    {
        var r = CudaTestBackend.Decide(null, expectCuda: false, Probe(cuda, sim));
        Assert.Equal(expected, r.Backend);
        Assert.Equal(expected, CudaTestBackend.Decide("  ", expectCuda: false, Probe(cuda, sim)).Backend);
    }

    [Fact]
    public void Unset_WithNeither_SkipsWithBothReasons()
    {
        var r = CudaTestBackend.Decide(null, expectCuda: false, Probe(false, false));
        Assert.Null(r.Backend);
        Assert.False(r.Fail);
        Assert.Contains("no CUDA-capable device", r.Reason);
        Assert.Contains("libcaprese_cudasim.so", r.Reason);
    }

    [Fact]
    public void ExpectCuda_NeverFallsBackToTheSimulator()
    {
        var r = CudaTestBackend.Decide(null, expectCuda: true, Probe(false, true));
        Assert.Null(r.Backend);
        Assert.True(r.Fail);
        Assert.Contains(CudaTestBackend.ExpectCudaVariable, r.Reason);
        Assert.Equal(BackendKind.Cuda, CudaTestBackend.Decide(null, expectCuda: true, Probe(true, true)).Backend);
    }

    [Theory]
    [InlineData("cuda", BackendKind.Cuda)]
    [InlineData("CUDA", BackendKind.Cuda)]
    [InlineData("cuda-sim", BackendKind.CudaSim)]
    [InlineData(" cuda-sim ", BackendKind.CudaSim)]
    public void Explicit_IsTaken_EvenWhenTheOtherIsAvailable(string value, BackendKind expected)
    {
        Assert.Equal(expected, CudaTestBackend.Decide(value, expectCuda: false, Probe(true, true)).Backend);
    }

    [Fact]
    public void Explicit_Unavailable_Fails_WithoutFallingBack()
    {
        var sim = CudaTestBackend.Decide("cuda-sim", expectCuda: false, Probe(true, false));
        Assert.Null(sim.Backend);
        Assert.True(sim.Fail);
        Assert.Contains("libcaprese_cudasim.so", sim.Reason);

        var cuda = CudaTestBackend.Decide("cuda", expectCuda: false, Probe(false, true));
        Assert.Null(cuda.Backend);
        Assert.True(cuda.Fail);
        Assert.Contains("no CUDA-capable device", cuda.Reason);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cpu")]
    [InlineData("cudasim")]
    public void Explicit_UnknownValue_Fails_NamingTheVariable(string value)
    {
        var r = CudaTestBackend.Decide(value, expectCuda: false, Probe(true, true));
        Assert.Null(r.Backend);
        Assert.True(r.Fail);
        Assert.Contains(CudaTestBackend.BackendVariable, r.Reason);
        Assert.Contains(value, r.Reason);
    }

    [Fact]
    public void BackendKinds_TreatTheSimulatorLikeCuda()
    {
        Assert.False(BackendKind.Cpu.UsesDeviceMemory());
        Assert.True(BackendKind.Cuda.UsesDeviceMemory());
        Assert.True(BackendKind.CudaSim.UsesDeviceMemory());
        Assert.True(BackendKind.CudaSim.IsSimulator());
        Assert.False(BackendKind.Cuda.IsSimulator());
        Assert.Equal(CopyKind.HostToHost, BackendKind.Cpu.HostToBackend());
        Assert.Equal(CopyKind.HostToDevice, BackendKind.CudaSim.HostToBackend());
        Assert.Equal(CopyKind.DeviceToHost, BackendKind.CudaSim.BackendToHost());
        Assert.Equal(CopyKind.DeviceToDevice, BackendKind.CudaSim.WithinBackend());
        Assert.Equal(CopyKind.DeviceToDevice, BackendKind.Cuda.WithinBackend());
        Assert.Equal(CopyKind.HostToHost, BackendKind.Cpu.WithinBackend());
    }
}

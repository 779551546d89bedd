using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;
using Caprese.Models.Training.EndToEnd;

namespace Caprese.Models.Tests.Training.EndToEnd;

/// <summary>
/// Stage-2 training throughput on stories260K at a realistic sequence shape (64-token prompt + 192-token continuation,
/// batch 16, GRIFFIN 50% on the first half of the layers, rank 8). Explicit: run with
/// <c>dotnet test tests/Caprese.Models.Tests -c Release --no-build --filter "FullyQualifiedName~EndToEndThroughput" -- xUnit.Explicit=only</c>.
/// </summary>
public sealed class EndToEndThroughputTests
{
    [Theory(Explicit = true)]
    [InlineData("host", BackendKind.Cpu)]
    [InlineData("native", BackendKind.Cpu)]
    [InlineData("native", BackendKind.Cuda)]
    public void StoriesStage2Throughput(string opsKind, BackendKind backend)
    {
        if (backend == BackendKind.Cuda)
            CudaTestBackend.RequireRealCuda("a throughput figure: the simulator's would say nothing about a GPU");
        using var loaded = StoriesModel.LoadStories(backend);
        var data = EndToEndTestData.Sampled(loaded, 32, promptLength: 64, length: 256, seed: 1);
        var sparsity = SparsityOptions.Default(SparsityMethod.Griffin, 0.5, loaded.Config.Layers);
        var adapters = AdapterSet.CreateInitial(loaded.Config, sparsity, rank: 8, seed: 1);
        using var ops = EndToEndTestData.Ops(opsKind, loaded);
        using var trainer = new EndToEndTrainer(ops, loaded, adapters, new EndToEndOptions { Epochs = 1, BatchSize = 16 }, maxTokens: 256);
        var result = trainer.Train(data, cancellationToken: TestContext.Current.CancellationToken);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{ops.Name}: {result.Steps} steps, {result.Tokens} tokens ({result.ContinuationTokens} in the loss) in {result.TrainingTime.TotalSeconds:F2} s = {result.TokensPerSecond:F0} tokens/s");
    }
}

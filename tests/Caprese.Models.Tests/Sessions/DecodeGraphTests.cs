using Caprese.Interop;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Sessions;

/// <summary>
/// One-row decode steps replayed from a CUDA graph (<see cref="DecodeSession.UseCudaGraphs"/>) on the CUDA kernels (a GPU or
/// the simulator): the same greedy tokens and the same logits bit for bit as the eager ops, for dense and sparse policies;
/// steps a graph cannot replay fall back to the eager ops and are counted.
/// </summary>
public sealed class DecodeGraphTests
{
    private const int Steps = 10;

    // Greedy decode from the reference prompt: each step's argmax id and logits.
    private static (int[] Tokens, float[][] Logits) Greedy(DecodeSession session, int steps = Steps)
    {
        int[] prompt = SharedFiles.ReferencePromptIds();
        var first = session.Forward(prompt, 0, ForwardKind.Prefill, new ForwardOutputs(OutputRows.Last, Argmax: true));
        int token = first.Argmax(0);
        var tokens = new int[steps];
        var logits = new float[steps][];
        for (int i = 0; i < steps; i++)
        {
            var r = session.Append([token], ForwardKind.Decode, new ForwardOutputs(OutputRows.Last, Argmax: true));
            tokens[i] = token = r.Argmax(0);
            logits[i] = r.Logits(0).ToArray();
        }
        return (tokens, logits);
    }

    [Theory]
    [InlineData("dense", 0.0)]
    [InlineData("griffin", 0.5)]
    [InlineData("cats", 0.5)]
    public void GraphDecodeEqualsEagerDecode_BitForBit(string method, double sparsity)
    {
        using var loaded = StoriesModel.LoadStories(BackendKind.Cuda);
        var policy = method == "dense" ? FfnPolicy.Dense : new FfnPolicy(SparsityArguments.Parse(method, sparsity, "all", loaded.Config.Layers));
        using var eager = loaded.Model.CreateSession(policy);
        using var graphed = loaded.Model.CreateSession(policy);
        eager.UseCudaGraphs = false;
        graphed.UseCudaGraphs = true;
        var (wantTokens, wantLogits) = Greedy(eager);
        var (gotTokens, gotLogits) = Greedy(graphed);
        Assert.Equal(wantTokens, gotTokens);
        for (int i = 0; i < Steps; i++)
            Assert.Equal(wantLogits[i], gotLogits[i]);
        // One warm-up step in the graph's form, then one capture, replayed for every later step.
        Assert.Equal(new DecodeGraphStatistics(Replayed: Steps - 1, Captured: 1, WarmUps: 1, Eager: 0), graphed.GraphStatistics);
        Assert.Equal(new DecodeGraphStatistics(0, 0, 0, 0), eager.GraphStatistics);
    }

    // A new prompt remakes GRIFFIN's selection: the graph is captured again and the tokens still match.
    [Fact]
    public void NewPromptRecapturesTheGraph()
    {
        using var loaded = StoriesModel.LoadStories(BackendKind.Cuda);
        var policy = new FfnPolicy(SparsityArguments.Parse("griffin", 0.5, "all", loaded.Config.Layers));
        using var eager = loaded.Model.CreateSession(policy);
        using var graphed = loaded.Model.CreateSession(policy);
        graphed.UseCudaGraphs = true;
        Assert.Equal(Greedy(eager, 4).Tokens, Greedy(graphed, 4).Tokens);
        Assert.Equal(Greedy(eager, 4).Tokens, Greedy(graphed, 4).Tokens);
        Assert.Equal(new DecodeGraphStatistics(Replayed: 6, Captured: 2, WarmUps: 2, Eager: 0), graphed.GraphStatistics);
    }

    // GRIFFIN re-selecting every 3rd token runs those steps densely while observing: they stay eager, and each
    // re-selection changes the policy's version (warm-up and capture again). TEAL masks through the host: all eager.
    // Multi-row decode chunks are eager too.
    [Fact]
    public void StepsAGraphCannotReplayFallBackAndAreCounted()
    {
        using var loaded = StoriesModel.LoadStories(BackendKind.Cuda);
        var reselect = new FfnPolicy(new SparsityOptions(SparsityMethod.Griffin, 0.5, GriffinReselectEvery: 3));
        using var eager = loaded.Model.CreateSession(reselect);
        using var graphed = loaded.Model.CreateSession(reselect);
        graphed.UseCudaGraphs = true;
        Assert.Equal(Greedy(eager, 9).Tokens, Greedy(graphed, 9).Tokens);
        // Steps 3, 6, 9 observe (eager) and re-select; 1, 4, 7 warm up under the new selection; 2, 5, 8 capture and replay.
        Assert.Equal(new DecodeGraphStatistics(Replayed: 3, Captured: 3, WarmUps: 3, Eager: 3), graphed.GraphStatistics);

        using var teal = loaded.Model.CreateSession(new FfnPolicy(new SparsityOptions(SparsityMethod.Teal, 0.4)));
        teal.UseCudaGraphs = true;
        Greedy(teal, 3);
        Assert.Equal(new DecodeGraphStatistics(0, 0, 0, Eager: 3), teal.GraphStatistics);

        using var chunk = loaded.Model.CreateSession();
        chunk.UseCudaGraphs = true;
        chunk.Forward(SharedFiles.ReferencePromptIds(), 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
        chunk.Append([1, 2, 3], ForwardKind.Decode, ForwardOutputs.LastLogits);
        Assert.Equal(new DecodeGraphStatistics(0, 0, 0, Eager: 1), chunk.GraphStatistics);
    }

    [Fact]
    public void CpuSessionsRefuseGraphs()
    {
        using var loaded = StoriesModel.LoadStories(BackendKind.Cpu);
        using var session = loaded.Model.CreateSession();
        Assert.False(session.UseCudaGraphs);
        var ex = Assert.Throws<NotSupportedException>(() => session.UseCudaGraphs = true);
        Assert.Contains("device backend", ex.Message, StringComparison.Ordinal);
        session.UseCudaGraphs = false;
    }
}

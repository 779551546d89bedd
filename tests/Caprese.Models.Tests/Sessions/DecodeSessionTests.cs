using Caprese.Interop;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Sessions;

public sealed class DecodeSessionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // A verification pass over k rows gives, row by row, the logits that k dense one-row decode steps give.
    // Tolerance 1e-4 absolute on logits of magnitude ~10: the multi-row matmuls may sum in another order.
    [Fact]
    public void VerifyRowsEqualDenseStepByStepLogits()
    {
        using var loaded = StoriesModel.LoadStories();
        int[] prompt = SharedFiles.ReferencePromptIds();
        int[] continuation = [.. SharedFiles.ReferenceGeneratedIds().Take(12)];
        using var stepwise = loaded.Model.CreateSession();
        using var chunked = loaded.Model.CreateSession();
        stepwise.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastLogits);
        chunked.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastLogits);

        var all = chunked.Append(continuation, ForwardKind.Verify, new ForwardOutputs(OutputRows.All, Argmax: true));
        Assert.Equal(continuation.Length, all.Rows);
        Assert.Equal(prompt.Length + continuation.Length, chunked.Length);
        for (int i = 0; i < continuation.Length; i++)
        {
            var one = stepwise.Append([continuation[i]], ForwardKind.Decode, new ForwardOutputs(OutputRows.Last, Argmax: true));
            Logits.AssertClose(one.Logits(0).ToArray(), all.Logits(i).ToArray(), 1e-4f);
            Assert.Equal(one.Argmax(0), all.Argmax(i));
        }
    }

    // The hidden state a pass returns is what the classifier reads: logits = W_cls · h, recomputed here on the host.
    [Fact]
    public void HiddenStatesAreTheClassifierInput()
    {
        using var loaded = StoriesModel.LoadStories();
        var c = loaded.Config;
        var w = new float[c.Vocab * c.Dim];
        var pin = System.Runtime.InteropServices.GCHandle.Alloc(w, System.Runtime.InteropServices.GCHandleType.Pinned);
        try
        {
            loaded.Context.Copy(pin.AddrOfPinnedObject(), loaded.Model.Weights.Classifier.Data, w.Length * sizeof(float), CopyKind.DeviceToHost);
        }
        finally
        {
            pin.Free();
        }
        using var session = loaded.Model.CreateSession();
        var r = session.Forward(SharedFiles.ReferencePromptIds(), 0, ForwardKind.Prefill, new ForwardOutputs(OutputRows.All, Hidden: true));
        Assert.Equal(SharedFiles.ReferencePromptIds().Length, r.Rows);
        for (int row = 0; row < r.Rows; row++)
        {
            var h = r.Hidden(row);
            var expected = new float[c.Vocab];
            for (int v = 0; v < c.Vocab; v++)
            {
                double sum = 0;
                for (int d = 0; d < c.Dim; d++)
                    sum += (double)w[v * c.Dim + d] * h[d];
                expected[v] = (float)sum;
            }
            Logits.AssertClose(expected, r.Logits(row).ToArray(), 1e-4f);
        }
    }

    // Rolling back and feeding other tokens gives what a fresh session fed those tokens gives.
    [Fact]
    public void RollbackThenContinueEqualsAFreshSequence()
    {
        using var loaded = StoriesModel.LoadStories();
        int[] prompt = SharedFiles.ReferencePromptIds();
        using var session = loaded.Model.CreateSession(new FfnPolicy(SparsityOptions.Default(SparsityMethod.Griffin, 0.5, loaded.Config.Layers)));
        session.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastLogits);
        session.Append([10, 20, 30, 40], ForwardKind.Decode, ForwardOutputs.Nothing);
        session.Rollback(prompt.Length + 1);
        var afterRollback = session.Append([77], ForwardKind.Decode, ForwardOutputs.LastLogits).Logits(0).ToArray();

        using var fresh = loaded.Model.CreateSession(session.Policy);
        fresh.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastLogits);
        fresh.Append([10], ForwardKind.Decode, ForwardOutputs.Nothing);
        var expected = fresh.Append([77], ForwardKind.Decode, ForwardOutputs.LastLogits).Logits(0).ToArray();
        Assert.Equal(expected, afterRollback);
    }

    // GRIFFIN with re-selection changes its selection while decoding: a plain rollback is refused, a snapshot restores it.
    [Fact]
    public void GriffinReselectionNeedsASnapshotToRollBack()
    {
        using var loaded = StoriesModel.LoadStories();
        var policy = new FfnPolicy(new SparsityOptions(SparsityMethod.Griffin, 0.5, GriffinReselectEvery: 2));
        int[] prompt = SharedFiles.ReferencePromptIds();
        using var session = loaded.Model.CreateSession(policy);
        session.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
        var before = session.SparseDecoder!.SelectedNeurons(0)!;
        var snapshot = session.Snapshot();
        var expected = session.Append([11], ForwardKind.Decode, ForwardOutputs.LastLogits).Logits(0).ToArray();
        session.Append([12, 13, 14], ForwardKind.Decode, ForwardOutputs.Nothing); // passes a re-selection
        Assert.NotEqual(before, session.SparseDecoder!.SelectedNeurons(0));

        var error = Assert.Throws<InvalidOperationException>(() => session.Rollback(prompt.Length));
        Assert.Contains("Snapshot", error.Message);
        session.Restore(snapshot);
        Assert.Equal(prompt.Length, session.Length);
        Assert.Equal(before, session.SparseDecoder!.SelectedNeurons(0));
        Assert.Equal(expected, session.Append([11], ForwardKind.Decode, ForwardOutputs.LastLogits).Logits(0).ToArray());
    }

    // Sessions with different policies share the model (and its transposed down projections) without disturbing each
    // other: interleaved, each gives exactly what it gives alone.
    [Fact]
    public void InterleavedSessionsWithDifferentPoliciesMatchRunningAlone()
    {
        using var loaded = StoriesModel.LoadStories();
        int layers = loaded.Config.Layers;
        FfnPolicy[] policies =
        [
            FfnPolicy.Dense,
            new(SparsityOptions.Default(SparsityMethod.Griffin, 0.5, layers)),
            new(new SparsityOptions(SparsityMethod.Cats, 0.7)),
            new(new SparsityOptions(SparsityMethod.Teal, 0.4)),
        ];
        int[] prompt = SharedFiles.ReferencePromptIds();
        var alone = policies.Select(p => GreedyTokens(loaded, p, prompt, 12)).ToArray();

        var sessions = policies.Select(p => loaded.Model.CreateSession(p)).ToArray();
        var next = sessions.Select(s => s.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastArgmax).Argmax(0)).ToArray();
        var tokens = policies.Select(_ => new List<int>()).ToArray();
        for (int step = 0; step < 12; step++)
            for (int i = 0; i < sessions.Length; i++)
            {
                tokens[i].Add(next[i]);
                next[i] = sessions[i].Append([next[i]], ForwardKind.Decode, ForwardOutputs.LastArgmax).Argmax(0);
            }
        foreach (var s in sessions)
            s.Dispose();
        for (int i = 0; i < policies.Length; i++)
            Assert.Equal(alone[i], tokens[i]);
        Assert.NotEqual(alone[0], alone[2]); // CATS at 70% does change the text, so the comparison can fail
    }

    [Fact]
    public void SparseSessionsShareOneTransposedDownProjection()
    {
        using var loaded = StoriesModel.LoadStories();
        var policy = new FfnPolicy(new SparsityOptions(SparsityMethod.Cats, 0.5));
        using var a = loaded.Model.CreateSession(policy);
        var downT = loaded.Model.TransposedDown(0);
        using var b = loaded.Model.CreateSession(policy);
        Assert.Same(downT, loaded.Model.TransposedDown(0));
    }

    [Fact]
    public void BadRequestsAreRefusedWithTheReason()
    {
        using var loaded = StoriesModel.LoadStories();
        using var session = loaded.Model.CreateSession();
        session.Forward([1, 2, 3], 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
        Assert.Contains("skip positions 3..4", Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward([5], 5, ForwardKind.Decode, ForwardOutputs.Nothing)).Message);
        Assert.Contains("at most 16 rows", Assert.Throws<ArgumentException>(() => session.Append(new int[17], ForwardKind.Decode, ForwardOutputs.Nothing)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Append([loaded.Config.Vocab], ForwardKind.Decode, ForwardOutputs.Nothing));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Rollback(4));
        var r = session.Append([4], ForwardKind.Decode, ForwardOutputs.LastArgmax);
        Assert.Contains("did not return logits", Assert.Throws<InvalidOperationException>(() => r.Logits(0).ToArray()).Message);
        Assert.ThrowsAny<ArgumentException>(() => loaded.Model.CreateSession(new FfnPolicy(new SparsityOptions(SparsityMethod.Griffin, 0.5, FirstLayer: 99))));
        Assert.Equal(4, session.Length); // the refused calls changed nothing
    }

    // One session is one sequence: a second thread using it while a pass runs is told so.
    [Fact]
    public void OneSessionOnTwoThreadsAtOnceIsRefused()
    {
        using var loaded = StoriesModel.LoadStories();
        using var session = loaded.Model.CreateSession();
        int[] longPrompt = [.. Enumerable.Range(0, 256).Select(i => 1 + i % 400)];
        int refused = 0, ran = 0;
        using var start = new Barrier(2);
        var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            start.SignalAndWait(Ct);
            for (int i = 0; i < 20; i++)
            {
                try
                {
                    session.Forward(longPrompt, 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
                    Interlocked.Increment(ref ran);
                }
                catch (InvalidOperationException e) when (e.Message.Contains("already in use"))
                {
                    Interlocked.Increment(ref refused);
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Equal(40, ran + refused);
        Assert.True(refused > 0, "two threads never overlapped on one session");
    }

    private static List<int> GreedyTokens(LoadedModel loaded, FfnPolicy policy, int[] prompt, int count)
    {
        using var session = loaded.Model.CreateSession(policy);
        int next = session.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastArgmax).Argmax(0);
        var tokens = new List<int>();
        for (int i = 0; i < count; i++)
        {
            tokens.Add(next);
            next = session.Append([next], ForwardKind.Decode, ForwardOutputs.LastArgmax).Argmax(0);
        }
        return tokens;
    }
}

/// <summary>Sessions and draft-verify decoding on the CUDA kernels (a GPU, else the CUDA simulator) and on the CPU.</summary>
public sealed class DecodeSessionBackendTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // A decode chunk of k rows runs the fused sparse kernel once with k rows: the same logits as k one-row sparse steps
    // (tolerance 1e-4 absolute: the batched kernel may sum in another order), for every selection mode.
    [Theory]
    [InlineData(BackendKind.Cpu, "griffin", 0.5, 8)]
    [InlineData(BackendKind.Cpu, "cats", 0.6, 16)]
    [InlineData(BackendKind.Cuda, "griffin", 0.5, 5)]
    [InlineData(BackendKind.Cuda, "cats", 0.6, 3)]
    public void SparseDecodeChunkEqualsOneRowSteps(BackendKind backend, string method, double sparsity, int rows)
    {
        using var loaded = StoriesModel.LoadStories(backend);
        var policy = new FfnPolicy(SparsityArguments.Parse(method, sparsity, "all", loaded.Config.Layers));
        int[] prompt = SharedFiles.ReferencePromptIds();
        int[] chunk = [.. SharedFiles.ReferenceGeneratedIds().Take(rows)];
        using var stepwise = loaded.Model.CreateSession(policy);
        using var chunked = loaded.Model.CreateSession(policy);
        stepwise.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
        chunked.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
        var all = chunked.Append(chunk, ForwardKind.Decode, new ForwardOutputs(OutputRows.All));
        using var dense = loaded.Model.CreateSession();
        dense.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
        var denseAll = dense.Append(chunk, ForwardKind.Verify, new ForwardOutputs(OutputRows.All));
        bool differsFromDense = false;
        for (int i = 0; i < rows; i++)
        {
            var one = stepwise.Append([chunk[i]], ForwardKind.Decode, ForwardOutputs.LastLogits).Logits(0).ToArray();
            Logits.AssertClose(one, all.Logits(i).ToArray(), 1e-4f);
            differsFromDense |= MathF.Abs(one[0] - denseAll.Logits(i)[0]) > 1e-3f;
        }
        Assert.True(differsFromDense, "the sparse chunk equals the dense one: the policy did not run");
    }

    // Greedy speculative decoding and Sirius at threshold 1 on the CUDA kernels give the dense greedy tokens there.
    [Fact]
    public void DraftVerifyOnTheCudaKernelsReturnsDenseGreedy()
    {
        using var loaded = StoriesModel.LoadStories(BackendKind.Cuda);
        var draft = new FfnPolicy(SparsityOptions.Default(SparsityMethod.Griffin, 0.5, loaded.Config.Layers));
        var dense = new Caprese.Models.Generation.TextGenerator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense);
        var sparse = new Caprese.Models.Generation.TextGenerator(loaded.Model, loaded.Tokenizer, draft);
        var options = new Caprese.Models.Generation.GenerationOptions(MaxTokens: 24);
        var reference = dense.Generate("The cat", options, Ct).GeneratedTokens;
        Assert.Equal(reference, sparse.Generate("The cat", options with { Decoding = Caprese.Models.Decoding.DraftVerifyDecoding.Speculative(6) }, Ct).GeneratedTokens);
        Assert.Equal(reference, sparse.Generate("The cat", options with { Decoding = Caprese.Models.Decoding.DraftVerifyDecoding.Sirius(8, 1.0) }, Ct).GeneratedTokens);
    }
}

using Caprese.Models.Decoding;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Decoding;

/// <summary>Speculative sampling on the real model: the tokens it emits follow the full model's distribution, not the draft's.</summary>
public sealed class SpeculativeSamplingModelTests
{
    // After "Once upon a time" the first token (drawn from the dense prefill) is almost always ","; conditioned on it,
    // the first token speculative decoding produces must follow the dense distribution p(· | prompt + ","), although
    // it was drafted by a 90%-sparse model whose own distribution q is far from p (checked: the same test on q fails).
    [Fact]
    public void FirstSpeculatedTokenFollowsTheDenseDistribution()
    {
        using var loaded = StoriesModel.LoadStories();
        int[] prompt = SharedFiles.ReferencePromptIds();
        var draft = new FfnPolicy(new SparsityOptions(SparsityMethod.Griffin, 0.9));
        const float temperature = 1f;
        const int topK = 8;
        const int runs = 6000;

        using var session = loaded.Model.CreateSession(draft);
        var method = DraftVerifyDecoding.Speculative(4);
        var counts = new Dictionary<int, long>();
        int? first = null;
        int conditioned = 0;
        for (int seed = 0; seed < runs; seed++)
        {
            var run = method.Start(session, prompt, new TokenChoice(temperature, topK, 1f, (ulong)seed));
            first ??= MostLikelyNext(loaded, prompt);
            if (run.Pending != first)
                continue;
            var tokens = new List<int>();
            run.Advance(tokens, 8);
            counts[tokens[0]] = counts.GetValueOrDefault(tokens[0]) + 1;
            conditioned++;
        }
        Assert.True(conditioned > runs / 2, $"only {conditioned} runs started with the likely first token");

        int[] context = [.. prompt, first!.Value];
        var p = Distribution(loaded, FfnPolicy.Dense, context, temperature, topK, ForwardKind.Prefill);
        var (tokensBinned, expectedP, observed) = Bin(p, counts, conditioned);
        Assert.True(ChiSquare.Fits(observed, expectedP, out string report), "speculative tokens do not follow the dense distribution: " + report);

        // Power: the draft's own distribution for the same context would fail the same test at this sample size.
        var q = Distribution(loaded, draft, context, temperature, topK, ForwardKind.Decode);
        long[] fromDraft = [.. tokensBinned.Select(t => (long)Math.Round(t.Sum(i => q[i]) * conditioned))];
        Assert.False(ChiSquare.Fits(fromDraft, expectedP, out string draftReport), "the draft's distribution is too close to the dense one for this test to see a wrong sampler: " + draftReport);
    }

    private static int MostLikelyNext(LoadedModel loaded, int[] prompt)
    {
        using var s = loaded.Model.CreateSession();
        return s.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastArgmax).Argmax(0);
    }

    // The sampling distribution after context: prefilled densely, then (Decode) its last token through the policy.
    private static float[] Distribution(LoadedModel loaded, FfnPolicy policy, int[] context, float temperature, int topK, ForwardKind lastKind)
    {
        using var s = loaded.Model.CreateSession(policy);
        var probs = new float[loaded.Config.Vocab];
        ForwardResult r;
        if (lastKind == ForwardKind.Prefill)
            r = s.Forward(context, 0, ForwardKind.Prefill, ForwardOutputs.LastLogits);
        else
        {
            s.Forward(context.AsSpan(0, context.Length - 1), 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
            r = s.Append([context[^1]], ForwardKind.Decode, ForwardOutputs.LastLogits);
        }
        TokenDistribution.FromLogits(r.Logits(0), temperature, topK, 1f, probs);
        return probs;
    }

    // Tokens expecting at least 5 draws get a bin each; the rest share one bin (dropped if it expects nothing).
    private static (List<int[]> Bins, double[] Expected, long[] Observed) Bin(float[] p, Dictionary<int, long> counts, int n)
    {
        var bins = new List<int[]>();
        var rest = new List<int>();
        for (int t = 0; t < p.Length; t++)
        {
            if (p[t] * n >= 5)
                bins.Add([t]);
            else if (p[t] > 0)
                rest.Add(t);
        }
        if (rest.Count > 0 && rest.Sum(t => p[t]) * n >= 5)
            bins.Add([.. rest]);
        else if (rest.Count > 0)
            bins[^1] = [.. bins[^1], .. rest];
        var unsupported = counts.Keys.Where(t => p[t] == 0).ToList();
        Assert.True(unsupported.Count == 0, $"tokens the dense distribution excludes were emitted: {string.Join(", ", unsupported)}");
        double[] expected = [.. bins.Select(b => b.Sum(t => (double)p[t]))];
        double total = expected.Sum();
        expected = [.. expected.Select(e => e / total)];
        long[] observed = [.. bins.Select(b => b.Sum(t => counts.GetValueOrDefault(t)))];
        return (bins, expected, observed);
    }
}

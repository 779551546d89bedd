using Caprese.Models.Decoding;

namespace Caprese.Models.Tests.Decoding;

public sealed class SpeculativeAcceptanceTests
{
    private const int Trials = 200_000;

    /// <summary>Target p and draft q over six tokens: hand-made corner cases and seeded random pairs.</summary>
    public static TheoryData<string, float[], float[]> Pairs()
    {
        var data = new TheoryData<string, float[], float[]>
        {
            { "uniform draft", [0.1f, 0.2f, 0.3f, 0.15f, 0.15f, 0.1f], [1 / 6f, 1 / 6f, 1 / 6f, 1 / 6f, 1 / 6f, 1 / 6f] },
            { "draft reversed", [0.4f, 0.3f, 0.1f, 0.1f, 0.05f, 0.05f], [0.05f, 0.05f, 0.1f, 0.1f, 0.3f, 0.4f] },
            { "draft misses tokens", [0.2f, 0.2f, 0.2f, 0.2f, 0.1f, 0.1f], [0.5f, 0.5f, 0f, 0f, 0f, 0f] },
            { "target forbids tokens", [0f, 0f, 0.5f, 0.3f, 0.2f, 0f], [0.3f, 0.3f, 0.1f, 0.1f, 0.1f, 0.1f] },
            { "equal", [0.3f, 0.1f, 0.2f, 0.1f, 0.2f, 0.1f], [0.3f, 0.1f, 0.2f, 0.1f, 0.2f, 0.1f] },
        };
        var rng = new Random(2024);
        for (int i = 0; i < 3; i++)
            data.Add($"random {i}", RandomDistribution(rng, 6), RandomDistribution(rng, 6));
        return data;
    }

    // Weights in [0.1, 1.1) normalised: every token likely enough for the chi-square approximation.
    private static float[] RandomDistribution(Random rng, int n)
    {
        var w = Enumerable.Range(0, n).Select(_ => rng.NextDouble() + 0.1).ToArray();
        double sum = w.Sum();
        return w.Select(x => (float)(x / sum)).ToArray();
    }

    private delegate int Rule(float[] p, float[] q, int x, Random rng, float[] scratch);

    private static int ExactRule(float[] p, float[] q, int x, Random rng, float[] scratch) =>
        SpeculativeAcceptance.Accept(p, q, x, rng.NextDouble()) ? x : SpeculativeAcceptance.Resample(p, q, rng.NextDouble(), scratch);

    // Wrong on purpose: after a rejection it draws from p instead of the residual, so p-likely tokens come out too often.
    private static int ResampleFromTarget(float[] p, float[] q, int x, Random rng, float[] scratch) =>
        SpeculativeAcceptance.Accept(p, q, x, rng.NextDouble()) ? x : TokenDistribution.Sample(p, rng.NextDouble());

    // Wrong on purpose: accepts with probability p[x] (ignoring q), then the right residual.
    private static int AcceptByTargetOnly(float[] p, float[] q, int x, Random rng, float[] scratch) =>
        rng.NextDouble() < p[x] ? x : SpeculativeAcceptance.Resample(p, q, rng.NextDouble(), scratch);

    private static long[] EmittedCounts(float[] p, float[] q, Rule rule, int seed)
    {
        var rng = new Random(seed);
        var scratch = new float[p.Length];
        var counts = new long[p.Length];
        for (int t = 0; t < Trials; t++)
        {
            int x = TokenDistribution.Sample(q, rng.NextDouble());
            counts[rule(p, q, x, rng, scratch)]++;
        }
        return counts;
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void EmittedTokensFollowTheTarget(string name, float[] p, float[] q)
    {
        // Chi-square at alpha = 0.001 (critical 20.515 at 5 degrees of freedom) over 200k draft-then-verify trials.
        var counts = EmittedCounts(p, q, ExactRule, seed: name.Length * 31 + 7);
        Assert.True(ChiSquare.Fits(counts, ChiSquare.ToDouble(p), out var report), $"{name}: {report}");
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void TheTestRejectsWrongRules(string name, float[] p, float[] q)
    {
        // Power: the same test must fail rules that bias the output whenever q differs from p.
        if (name == "equal")
            return; // with q = p every rule above is right
        var target = ChiSquare.ToDouble(p);
        Assert.False(ChiSquare.Fits(EmittedCounts(p, q, ResampleFromTarget, seed: 5), target, out var report), $"{name}, resample from p: {report}");
        Assert.False(ChiSquare.Fits(EmittedCounts(p, q, AcceptByTargetOnly, seed: 6), target, out report), $"{name}, accept by p alone: {report}");
    }

    [Fact]
    public void AcceptanceIsUBelowTheRatio()
    {
        float[] p = [0.25f, 0.75f, 0f], q = [0.5f, 0.25f, 0.25f];
        Assert.True(SpeculativeAcceptance.Accept(p, q, 0, 0.4999));
        Assert.False(SpeculativeAcceptance.Accept(p, q, 0, 0.5)); // strict: u < p/q
        Assert.True(SpeculativeAcceptance.Accept(p, q, 1, Math.BitDecrement(1.0))); // p ≥ q: always
        Assert.False(SpeculativeAcceptance.Accept(p, q, 2, 0.0)); // the target forbids it: never
    }

    [Fact]
    public void ADraftTokenOutsideQIsAcceptedExactlyWhenTheTargetAllowsIt()
    {
        float[] p = [0.5f, 0.5f, 0f], q = [1f, 0f, 0f];
        Assert.True(SpeculativeAcceptance.Accept(p, q, 1, Math.BitDecrement(1.0)));
        Assert.False(SpeculativeAcceptance.Accept(p, q, 2, 0.0));
    }

    [Fact]
    public void ResampleDrawsFromTheResidualOrFromPWhenThereIsNone()
    {
        var scratch = new float[3];
        float[] p = [0.5f, 0.5f, 0f], q = [0.5f, 0f, 0.5f];
        foreach (double u in new[] { 0.0, 0.5, Math.BitDecrement(1.0) })
            Assert.Equal(1, SpeculativeAcceptance.Resample(p, q, u, scratch)); // residual: token 1 only
        Assert.Equal([0f, 0.5f, 0f], scratch);

        Assert.Equal(0, SpeculativeAcceptance.Resample(p, p, 0.2, scratch)); // p = q: from p
        Assert.Equal(1, SpeculativeAcceptance.Resample(p, p, 0.7, scratch));
    }

    // Uniforms from a script, counting how many were taken.
    private sealed class ScriptedUniforms(params double[] values)
    {
        public int Taken { get; private set; }
        public double Next() => values[Taken++];
    }

    private static float[] OneHot(int vocab, int index)
    {
        var row = new float[vocab];
        row[index] = 1f;
        return row;
    }

    private static float[] Rows(params float[][] rows) => rows.SelectMany(r => r).ToArray();

    [Fact]
    public void VerifyStopsAtTheFirstRejectionAndResamples()
    {
        // Draft [1, 2]; the target agrees on 1, then wants 3 (p[2] = 0 rejects whatever u is; the residual is token 3).
        var uniforms = new ScriptedUniforms(0.9, 0.0, 0.5);
        var block = SpeculativeAcceptance.Verify([1, 2], Rows(OneHot(4, 1), OneHot(4, 2)),
            Rows(OneHot(4, 1), OneHot(4, 3), OneHot(4, 0)), uniforms.Next, new float[4]);
        Assert.Equal(new VerifiedBlock(1, 3), block);
        Assert.Equal(2, block.Emitted);
        Assert.Equal(3, uniforms.Taken); // two tests, one resample
    }

    [Fact]
    public void VerifyDrawsTheBonusTokenWhenEverythingIsAccepted()
    {
        var uniforms = new ScriptedUniforms(0.1, 0.99, 0.3);
        float[] p0 = [0.2f, 0.8f, 0f, 0f], q0 = [0.5f, 0.5f, 0f, 0f]; // token 1: p ≥ q, accepted for any u
        var block = SpeculativeAcceptance.Verify([1, 2], Rows(q0, OneHot(4, 2)),
            Rows(p0, OneHot(4, 2), [0.25f, 0f, 0.5f, 0.25f]), uniforms.Next, new float[4]);
        Assert.Equal(new VerifiedBlock(2, 2), block); // u = 0.3 on the bonus row [0.25, 0, 0.5, 0.25] → token 2
        Assert.Equal(3, uniforms.Taken);
    }

    [Fact]
    public void VerifyOfAnEmptyDraftIsOneTargetDraw()
    {
        var block = SpeculativeAcceptance.Verify([], [], [0f, 0.5f, 0.5f], new ScriptedUniforms(0.75).Next, new float[3]);
        Assert.Equal(new VerifiedBlock(0, 2), block);
    }

    [Fact]
    public void VerifyRejectsAtTheRatioThreshold()
    {
        float[] p = [0.25f, 0.75f], q = [0.5f, 0.5f];
        float[] bonus = [1f, 0f];
        Assert.Equal(new VerifiedBlock(1, 0), SpeculativeAcceptance.Verify([0], q, Rows(p, bonus), new ScriptedUniforms(0.49, 0.9).Next, new float[2]));
        // u = 0.5 is not below p/q = 0.5: rejected, and the residual [0, 0.25] gives token 1.
        Assert.Equal(new VerifiedBlock(0, 1), SpeculativeAcceptance.Verify([0], q, Rows(p, bonus), new ScriptedUniforms(0.5, 0.0).Next, new float[2]));
    }

    [Fact]
    public void VerifiedBlocksFollowTheTargetAtEveryPosition()
    {
        // Position-independent rows, so the draft's draws are independent: the token at position i, given the block
        // reached it, must follow p_i; the bonus (all accepted) must follow p_γ; the mean accepted count is
        // α0 + α0·α1 + α0·α1·α2 with α_i = Σ min(p_i, q_i).
        var rng = new Random(77);
        float[][] p = [RandomDistribution(rng, 6), RandomDistribution(rng, 6), RandomDistribution(rng, 6), RandomDistribution(rng, 6)];
        float[][] q = [RandomDistribution(rng, 6), [0.3f, 0.3f, 0.1f, 0.1f, 0.1f, 0.1f], p[2]];
        var draftRows = Rows(q);
        var targetRows = Rows(p);
        var scratch = new float[6];
        var drafted = new int[3];
        var draftRng = new Random(78);
        var verifyRng = new Random(79);
        var atPosition = new[] { new long[6], new long[6], new long[6], new long[6] };
        long acceptedTotal = 0;
        const int blocks = 100_000;
        for (int b = 0; b < blocks; b++)
        {
            for (int i = 0; i < 3; i++)
                drafted[i] = TokenDistribution.Sample(q[i], draftRng.NextDouble());
            var block = SpeculativeAcceptance.Verify(drafted, draftRows, targetRows, verifyRng, scratch);
            for (int i = 0; i < block.Accepted; i++)
                atPosition[i][drafted[i]]++;
            atPosition[block.Accepted][block.NextToken]++;
            acceptedTotal += block.Accepted;
        }
        for (int i = 0; i < 4; i++)
            Assert.True(ChiSquare.Fits(atPosition[i], ChiSquare.ToDouble(p[i]), out var report), $"position {i}: {report}");

        double[] alpha = Enumerable.Range(0, 3).Select(i => p[i].Zip(q[i], Math.Min).Sum(x => (double)x)).ToArray();
        double expected = alpha[0] + alpha[0] * alpha[1] + alpha[0] * alpha[1] * alpha[2];
        double mean = (double)acceptedTotal / blocks;
        Assert.InRange(mean, expected - 0.015, expected + 0.015); // the count's sd is < 1.5: ± 0.015 is over 3 standard errors
    }

    [Fact]
    public void GreedyAcceptsTheLongestPrefixOfTargetArgmaxes()
    {
        float[] rows = Rows([0f, 2f, 1f], [3f, 3f, 0f], [0f, 1f, 5f], [1f, 0f, 0f]); // argmaxes 1, 0 (tie), 2, 0
        Assert.Equal(new VerifiedBlock(3, 0), SpeculativeAcceptance.VerifyGreedy([1, 0, 2], rows));
        Assert.Equal(new VerifiedBlock(1, 0), SpeculativeAcceptance.VerifyGreedy([1, 1, 2], rows)); // the tie goes to 0
        Assert.Equal(new VerifiedBlock(0, 1), SpeculativeAcceptance.VerifyGreedy([2, 0, 2], rows));
        Assert.Equal(new VerifiedBlock(0, 1), SpeculativeAcceptance.VerifyGreedy([], [0f, 2f, 1f]));
    }

    [Fact]
    public void MisshapenInputsAreRejected()
    {
        var scratch = new float[3];
        float[] p = [0.5f, 0.5f, 0f];
        Assert.Throws<ArgumentException>(() => SpeculativeAcceptance.Accept(p, [1f, 0f], 0, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => SpeculativeAcceptance.Accept(p, p, 3, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => SpeculativeAcceptance.Accept(p, p, 0, 1.0));
        Assert.Throws<ArgumentException>(() => SpeculativeAcceptance.Resample(p, p, 0.5, new float[2]));
        Assert.Throws<ArgumentException>(() => SpeculativeAcceptance.Verify([0], p, p, new Random(1), scratch)); // needs γ + 1 rows
        Assert.Throws<ArgumentException>(() => SpeculativeAcceptance.Verify([0], [1f, 0f], Rows(p, p), new Random(1), scratch));
        Assert.Throws<ArgumentException>(() => SpeculativeAcceptance.VerifyGreedy([0, 1], [1f, 0f, 0f, 0f]));
        Assert.Throws<ArgumentOutOfRangeException>(() => SpeculativeAcceptance.VerifyGreedy([0, 3], Rows(p, p, p)));
        Assert.Throws<ArgumentOutOfRangeException>(() => SpeculativeAcceptance.Verify([3], p, Rows(p, p), new Random(1), scratch));
    }
}

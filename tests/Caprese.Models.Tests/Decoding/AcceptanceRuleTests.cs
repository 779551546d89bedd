using Caprese.Models.Decoding;
using Caprese.Models.Sessions;

namespace Caprese.Models.Tests.Decoding;

/// <summary>The draft-verify loop's speculative rule against the block-level reference, SpeculativeAcceptance.Verify.</summary>
public sealed class AcceptanceRuleTests
{
    // Same p and q rows, same drafted tokens, the same uniform stream: the loop keeps the same drafts and emits the same
    // next token as the reference, over 3000 random blocks (γ 0..6, 8 tokens, some zero probabilities), greedy too.
    [Fact]
    public void SpeculativeRuleDecidesLikeTheReference()
    {
        const int vocab = 8;
        var rng = new Random(11);
        int blocks = 0, allKept = 0, rejected = 0;
        for (int trial = 0; trial < 3000; trial++)
        {
            int gamma = rng.Next(0, 7);
            var q = new float[gamma][];
            var drafted = new int[gamma];
            for (int i = 0; i < gamma; i++)
            {
                q[i] = RandomDistribution(rng, vocab);
                drafted[i] = TokenDistribution.Sample(q[i], rng.NextDouble());
            }
            // Dense logits whose distribution is known: log p, and the rows the rule will see recomputed from them.
            var logits = new float[(gamma + 1) * vocab];
            var pRows = new float[(gamma + 1) * vocab];
            for (int r = 0; r <= gamma; r++)
            {
                var p = RandomDistribution(rng, vocab);
                for (int t = 0; t < vocab; t++)
                    logits[r * vocab + t] = p[t] > 0 ? MathF.Log(p[t]) : float.NegativeInfinity;
                TokenDistribution.FromLogits(logits.AsSpan(r * vocab, vocab), 1f, 0, 1f, pRows.AsSpan(r * vocab, vocab));
            }
            int seed = rng.Next();
            var choice = new TokenChoice(1f, 0, 1f, (ulong)seed);
            var dense = new ForwardResult(0, gamma + 1, vocab, 1, logits, null, null);
            var block = new VerifyBlock(choice, drafted, q, dense, new Random(seed), l =>
            {
                var probs = new float[vocab];
                TokenDistribution.FromLogits(l, 1f, 0, 1f, probs);
                return probs;
            });
            var (kept, next, byJudge) = DraftVerifyDecoding.Decide(new SpeculativeRule(), block);

            var qFlat = q.SelectMany(row => row).ToArray();
            var expected = SpeculativeAcceptance.Verify(drafted, qFlat, pRows, new Random(seed), new float[vocab]);
            Assert.Equal((expected.Accepted, expected.NextToken), (kept, next));
            Assert.Equal(0, byJudge);
            blocks++;
            allKept += kept == gamma ? 1 : 0;
            rejected += kept < gamma ? 1 : 0;

            // Greedy: the same blocks with argmax ids decide like VerifyGreedy.
            var argmax = Enumerable.Range(0, gamma + 1).Select(r => TokenDistribution.Argmax(logits.AsSpan(r * vocab, vocab))).ToArray();
            var greedyDense = new ForwardResult(0, gamma + 1, vocab, 1, logits, argmax, null);
            var greedyBlock = new VerifyBlock(TokenChoice.Greedy, drafted, null, greedyDense, null, _ => throw new InvalidOperationException("greedy needs no distribution"));
            var greedy = DraftVerifyDecoding.Decide(new SpeculativeRule(), greedyBlock);
            var greedyExpected = SpeculativeAcceptance.VerifyGreedy(drafted, logits);
            Assert.Equal((greedyExpected.Accepted, greedyExpected.NextToken), (greedy.Kept, greedy.Next));
        }
        Assert.True(allKept > 100 && rejected > 100, $"{allKept} blocks fully kept, {rejected} with a rejection: both paths must be exercised");
    }

    private static float[] RandomDistribution(Random rng, int vocab)
    {
        var p = new float[vocab];
        for (int t = 0; t < vocab; t++)
            p[t] = rng.NextDouble() < 0.2 ? 0f : (float)rng.NextDouble();
        if (p.Sum() == 0)
            p[rng.Next(vocab)] = 1f;
        float sum = p.Sum();
        for (int t = 0; t < vocab; t++)
            p[t] /= sum;
        return p;
    }
}

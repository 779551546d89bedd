using Caprese.Models.Decoding;

namespace Caprese.Models.Tests.Decoding;

/// <summary>The draft-verify cost model on numbers worked out by hand.</summary>
public sealed class DraftVerifyCostTests
{
    [Fact]
    public void TokensPerRoundIsTheGeometricSumOfTheAcceptanceRate()
    {
        // α = 0.5, γ = 4: (1 − 0.5⁵) / 0.5 = 0.96875 / 0.5 = 1.9375 = 1 + 0.5 + 0.25 + 0.125 + 0.0625.
        Assert.Equal(1.9375, DraftVerifyCost.TokensPerRound(0.5, 4), 12);
        // α = 0.8, γ = 1: one draft, kept with probability 0.8, plus the full model's token: 1.8.
        Assert.Equal(1.8, DraftVerifyCost.TokensPerRound(0.8, 1), 12);
        // α = 0.9, γ = 2: 1 + 0.9 + 0.81 = 2.71.
        Assert.Equal(2.71, DraftVerifyCost.TokensPerRound(0.9, 2), 12);
        // The ends: nothing accepted gives the one token of the dense pass; everything accepted gives γ + 1.
        Assert.Equal(1.0, DraftVerifyCost.TokensPerRound(0, 8));
        Assert.Equal(9.0, DraftVerifyCost.TokensPerRound(1, 8));
        // Just below 1 the closed form approaches γ + 1 (no cancellation blow-up).
        Assert.Equal(17.0, DraftVerifyCost.TokensPerRound(1 - 1e-12, 16), 6);
    }

    [Fact]
    public void SpeedUpIsDenseTimeOfTheRoundsTokensOverTheRoundsTime()
    {
        // γ = 4 drafts at 6 ms and a 5-row verification of 12 ms: 4·6 + 12 = 36 ms per round.
        Assert.Equal(36.0, DraftVerifyCost.RoundTime(4, 6, 12), 12);
        // 1.9375 tokens that dense decoding makes at 10 ms each: 19.375 / 36 = 0.538194… (a slow-down).
        Assert.Equal(19.375 / 36, DraftVerifyCost.SpeedUp(1.9375, 4, 10, 6, 12), 12);
        // A measured average advance of 5 at γ = 8, dense 20 ms, draft 5 ms, 9-row verification 24 ms:
        // 5·20 / (8·5 + 24) = 100 / 64 = 1.5625.
        Assert.Equal(1.5625, DraftVerifyCost.SpeedUp(5, 8, 20, 5, 24), 12);
        // A free draft and a verification as cheap as one step: the speed-up is the tokens per round.
        Assert.Equal(3.0, DraftVerifyCost.SpeedUp(3, 4, 10, 1e-12, 10), 9);
    }

    [Fact]
    public void BreakEvenDraftIsTheDraftTimeAtWhichTheSpeedUpIsOne()
    {
        // E = 5, γ = 8, dense 20 ms, verification 24 ms: (5·20 − 24) / 8 = 9.5 ms; at that draft time 100 / (76 + 24) = 1.
        Assert.Equal(9.5, DraftVerifyCost.BreakEvenDraftStep(5, 8, 20, 24), 12);
        Assert.Equal(1.0, DraftVerifyCost.SpeedUp(5, 8, 20, 9.5, 24), 12);
        // E = 1.5 at γ = 4 with a verification of 2 dense steps: (15 − 20) / 4 < 0, no draft is fast enough.
        Assert.Equal(-1.25, DraftVerifyCost.BreakEvenDraftStep(1.5, 4, 10, 20), 12);
    }

    [Fact]
    public void OutOfRangeInputsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.TokensPerRound(1.01, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.TokensPerRound(-0.1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.TokensPerRound(double.NaN, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.TokensPerRound(0.5, 0));
        // A round of γ drafts emits at most γ + 1 tokens and at least 1.
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.SpeedUp(5.5, 4, 10, 5, 12));
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.SpeedUp(0.9, 4, 10, 5, 12));
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.SpeedUp(2, 4, 0, 5, 12));
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.RoundTime(4, double.PositiveInfinity, 12));
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.RoundTime(4, 5, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.BreakEvenDraftStep(6, 4, 10, 12));
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyCost.BreakEvenDraftStep(2, 4, 10, 0));
    }
}

namespace Caprese.Models.Decoding;

/// <summary>
/// The cost model of draft-then-verify decoding (speculative decoding with a sparse draft, Sirius, judge decoding): a
/// round drafts γ tokens with γ single-row sparse steps, checks them in one dense pass over γ + 1 rows, and emits the
/// kept drafts plus the full model's own next token. Decoding pays when a round's tokens, each worth one dense step,
/// cost more than the round's time.
/// </summary>
/// <remarks>
/// With every draft accepted independently with probability α and the round stopping at the first rejection, the tokens
/// emitted per round (accepted drafts + the correction or bonus token) are
/// E = 1 + α + α² + … + α^γ = (1 − α^(γ+1)) / (1 − α) (Leviathan et al., 2023). A measured average advance length
/// (<see cref="DecodingStats.AverageAdvance"/>: tokens per dense pass) is E itself and can be used directly.
/// The speed-up over plain dense decoding is E · t_dense / (γ · t_draft + t_verify(γ + 1)).
/// </remarks>
public static class DraftVerifyCost
{
    /// <summary>
    /// Expected tokens emitted per round, E = (1 − α^(γ+1)) / (1 − α): between 1 (α = 0) and γ + 1 (α = 1).
    /// </summary>
    /// <param name="acceptance">α, the probability that a draft is accepted, in [0, 1].</param>
    /// <param name="gamma">γ, drafts per round, ≥ 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">α outside [0, 1] (or NaN), or γ &lt; 1.</exception>
    public static double TokensPerRound(double acceptance, int gamma)
    {
        if (!(acceptance >= 0 && acceptance <= 1))
            throw new ArgumentOutOfRangeException(nameof(acceptance), acceptance, "the acceptance rate must be in [0, 1]");
        ArgumentOutOfRangeException.ThrowIfLessThan(gamma, 1);
        if (acceptance == 1)
            return gamma + 1; // the limit of the geometric sum; the closed form divides 0 by 0
        return (1 - Math.Pow(acceptance, gamma + 1)) / (1 - acceptance);
    }

    /// <summary>Time of one round: γ draft steps and one verification pass over γ + 1 rows, γ·t_draft + t_verify.</summary>
    /// <param name="gamma">γ, drafts per round, ≥ 1.</param>
    /// <param name="draftStep">Time of one single-row sparse (draft) decode step, &gt; 0.</param>
    /// <param name="verifyPass">Time of one dense pass over γ + 1 rows, &gt; 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">γ &lt; 1, or a time that is not positive and finite.</exception>
    public static double RoundTime(int gamma, double draftStep, double verifyPass)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gamma, 1);
        CheckTime(draftStep, nameof(draftStep));
        CheckTime(verifyPass, nameof(verifyPass));
        return gamma * draftStep + verifyPass;
    }

    /// <summary>
    /// Speed-up over dense decoding, E · t_dense / (γ · t_draft + t_verify(γ + 1)): the time dense decoding needs for the
    /// round's E tokens over the time the round takes.
    /// </summary>
    /// <param name="tokensPerRound">E, tokens emitted per round (<see cref="TokensPerRound"/>, or a measured average
    /// advance length), in [1, γ + 1].</param>
    /// <param name="gamma">γ, drafts per round, ≥ 1.</param>
    /// <param name="denseStep">Time of one single-row dense decode step, &gt; 0.</param>
    /// <param name="draftStep">Time of one single-row draft step, &gt; 0.</param>
    /// <param name="verifyPass">Time of one dense pass over γ + 1 rows, &gt; 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">E outside [1, γ + 1], γ &lt; 1, or a time that is not positive and finite.</exception>
    public static double SpeedUp(double tokensPerRound, int gamma, double denseStep, double draftStep, double verifyPass)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gamma, 1);
        if (!(tokensPerRound >= 1 && tokensPerRound <= gamma + 1))
            throw new ArgumentOutOfRangeException(nameof(tokensPerRound), tokensPerRound,
                $"a round of {gamma} draft(s) emits between 1 and {gamma + 1} tokens");
        CheckTime(denseStep, nameof(denseStep));
        return tokensPerRound * denseStep / RoundTime(gamma, draftStep, verifyPass);
    }

    /// <summary>
    /// The draft step time at which draft-then-verify decoding only breaks even with dense decoding,
    /// (E · t_dense − t_verify(γ + 1)) / γ: a faster draft makes it pay. Zero or negative means it cannot pay at this E
    /// whatever the draft costs (the verification alone takes longer than dense decoding of the round's tokens).
    /// </summary>
    /// <param name="tokensPerRound">E, tokens emitted per round, in [1, γ + 1].</param>
    /// <param name="gamma">γ, drafts per round, ≥ 1.</param>
    /// <param name="denseStep">Time of one single-row dense decode step, &gt; 0.</param>
    /// <param name="verifyPass">Time of one dense pass over γ + 1 rows, &gt; 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">E outside [1, γ + 1], γ &lt; 1, or a time that is not positive and finite.</exception>
    public static double BreakEvenDraftStep(double tokensPerRound, int gamma, double denseStep, double verifyPass)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gamma, 1);
        if (!(tokensPerRound >= 1 && tokensPerRound <= gamma + 1))
            throw new ArgumentOutOfRangeException(nameof(tokensPerRound), tokensPerRound,
                $"a round of {gamma} draft(s) emits between 1 and {gamma + 1} tokens");
        CheckTime(denseStep, nameof(denseStep));
        CheckTime(verifyPass, nameof(verifyPass));
        return (tokensPerRound * denseStep - verifyPass) / gamma;
    }

    private static void CheckTime(double seconds, string name)
    {
        if (!(seconds > 0 && double.IsFinite(seconds)))
            throw new ArgumentOutOfRangeException(name, seconds, "a time must be positive and finite");
    }
}

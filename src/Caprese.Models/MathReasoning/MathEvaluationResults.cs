using Caprese.Models.Decoding;
using Caprese.Models.Generation;

namespace Caprese.Models.MathReasoning;

/// <summary>One problem's outcome.</summary>
/// <param name="Index">The problem's 0-based index in its file.</param>
/// <param name="Text">What the model generated (stop strings cut).</param>
/// <param name="Predicted">The answer read from <paramref name="Text"/> (<see cref="AnswerExtractor.Extract"/>); null if none.</param>
/// <param name="Reference">The number after the reference's "####".</param>
/// <param name="Correct">Whether <paramref name="Predicted"/> equals <paramref name="Reference"/> numerically.</param>
/// <param name="PromptTokens">Prompt tokens, BOS included.</param>
/// <param name="GeneratedTokens">Tokens emitted (EOS not included).</param>
/// <param name="PrefillMilliseconds">Time of the prompt's batched pass.</param>
/// <param name="DecodeMilliseconds">Time of everything after the prefill.</param>
/// <param name="StopReason">Why generation ended; <see cref="StopReason.ContextFull"/> with no tokens when the prompt
/// alone fills the context (the problem counts as wrong).</param>
/// <param name="Decoding">The decoding method's counters (tokens after the prefill, draft steps, dense passes, drafts kept).</param>
public sealed record MathProblemOutcome(int Index, string Text, decimal? Predicted, decimal Reference, bool Correct,
    int PromptTokens, int GeneratedTokens, double PrefillMilliseconds, double DecodeMilliseconds, StopReason StopReason,
    DecodingStats Decoding);

/// <summary>What an evaluation measured over its problems.</summary>
/// <param name="Problems">Problems scored (n).</param>
/// <param name="Correct">Problems answered correctly.</param>
/// <param name="Accuracy">Correct / n.</param>
/// <param name="AccuracyLower">Lower end of the 95% Wilson score interval of the accuracy (<see cref="WilsonInterval"/>).</param>
/// <param name="AccuracyUpper">Upper end of that interval.</param>
/// <param name="MeanGeneratedTokens">Mean tokens emitted per problem.</param>
/// <param name="MedianGeneratedTokens">Median tokens emitted per problem.</param>
/// <param name="ContextFull">Problems whose prompt or generation ran out of context.</param>
/// <param name="DecodeTokens">Tokens chosen after the prefills, all problems together.</param>
/// <param name="DecodeMilliseconds">Decode time, all problems together (prefills not included).</param>
/// <param name="DecodeTokensPerSecond">DecodeTokens / decode time; null without decode time.</param>
/// <param name="Decoding">The decoding method's counters summed over the problems.</param>
/// <param name="DensePassesPerToken">Full-model passes per token chosen: 1 for dense decoding, 0 for plain sparse decoding,
/// 1 / AAL for draft-verify methods; null without tokens.</param>
/// <param name="AverageAdvance">Tokens per dense pass (AAL), null without dense passes.</param>
/// <param name="ActiveFfnParametersPerToken">FFN parameters read per token chosen (<see cref="ActiveFfnParameters.PerToken"/>);
/// null without tokens.</param>
/// <param name="DenseFfnParameters">FFN parameters of one dense step (<see cref="ActiveFfnParameters.DenseStep"/>), the scale of the above.</param>
/// <param name="EffectiveDensity">All weight bytes read per token chosen relative to dense decoding
/// (<see cref="DecodingCost.EffectiveDensity"/>); null without tokens.</param>
public sealed record MathEvaluationSummary(
    int Problems, int Correct, double Accuracy, double AccuracyLower, double AccuracyUpper,
    double MeanGeneratedTokens, double MedianGeneratedTokens, int ContextFull,
    long DecodeTokens, double DecodeMilliseconds, double? DecodeTokensPerSecond,
    DecodingStats Decoding, double? DensePassesPerToken, double? AverageAdvance,
    double? ActiveFfnParametersPerToken, long DenseFfnParameters, double? EffectiveDensity);

/// <summary>An evaluation: every selected problem's outcome (ascending index) and the summary.</summary>
public sealed record MathEvaluation(IReadOnlyList<MathProblemOutcome> Outcomes, MathEvaluationSummary Summary);

/// <summary>Progress of a running evaluation, reported after each problem.</summary>
/// <param name="Done">Problems finished.</param>
/// <param name="Total">Problems selected.</param>
/// <param name="Correct">Correct answers so far.</param>
/// <param name="Last">The problem just finished.</param>
public readonly record struct MathEvaluationProgress(int Done, int Total, int Correct, MathProblemOutcome Last);

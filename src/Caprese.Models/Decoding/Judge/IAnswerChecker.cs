namespace Caprese.Models.Decoding.Judge;

/// <summary>
/// Decides whether a completion answers a prompt correctly. This is the plug point for labelling judge training data
/// automatically instead of by hand: generate completions with the draft and the target model, let a checker tell
/// good from bad, and turn the pairs into <see cref="JudgeTriple"/>s. The evaluation work supplies the concrete
/// checkers (an arithmetic checker first); implementations should be deterministic and side-effect free.
/// </summary>
public interface IAnswerChecker
{
    /// <summary>True when <paramref name="completion"/> is a correct answer to <paramref name="prompt"/>.</summary>
    bool IsCorrect(string prompt, string completion);
}

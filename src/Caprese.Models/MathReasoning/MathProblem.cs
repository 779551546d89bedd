namespace Caprese.Models.MathReasoning;

/// <summary>
/// One word problem in GSM8K's shape: the question, and a worked answer whose last line is <c>#### N</c>.
/// The project's synthetic problems and the GSM8K test set are both read and written as JSONL of these
/// (<c>{"question": ..., "answer": ...}</c>).
/// </summary>
public sealed record MathProblem(string Question, string Answer)
{
    /// <summary>The marker before the final answer on the last line of <see cref="Answer"/>.</summary>
    public const string FinalAnswerMarker = "####";

    /// <summary>The text after the last <c>####</c> of <see cref="Answer"/>, trimmed (GSM8K writes e.g. "18" or "1,000"); null if none.</summary>
    public string? FinalAnswerText
    {
        get
        {
            int at = Answer.LastIndexOf(FinalAnswerMarker, StringComparison.Ordinal);
            return at < 0 ? null : Answer[(at + FinalAnswerMarker.Length)..].Trim();
        }
    }
}

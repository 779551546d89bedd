using Caprese.Models.Decoding.Judge;

namespace Caprese.Models.MathReasoning;

/// <summary>
/// The arithmetic <see cref="IAnswerChecker"/> for judge labelling on math problems: a completion is correct when the
/// number <see cref="AnswerExtractor.Extract"/> reads from it equals the problem's reference final answer (the number
/// after <c>####</c> in its worked answer). The problem is found by its prompt, exactly as <see cref="MathPromptFormat.Prompt"/>
/// writes it, so the prompts given to <see cref="AutomaticJudgeLabeler"/> must be this checker's <see cref="Prompts"/>.
/// Deterministic and side-effect free.
/// </summary>
public sealed class ArithmeticAnswerChecker : IAnswerChecker
{
    private readonly Dictionary<string, decimal> _references = new(StringComparer.Ordinal);

    /// <param name="problems">The problems; each prompt is <paramref name="format"/>'s prompt of its question.</param>
    /// <param name="format">How a question becomes a prompt.</param>
    /// <exception cref="ArgumentException">A problem's reference answer has no number after <c>####</c>, or two problems
    /// have the same prompt but different reference answers (the prompt could not tell them apart).</exception>
    public ArithmeticAnswerChecker(IEnumerable<MathProblem> problems, MathPromptFormat format)
    {
        ArgumentNullException.ThrowIfNull(problems);
        ArgumentNullException.ThrowIfNull(format);
        var prompts = new List<string>();
        int index = 0;
        foreach (var problem in problems)
        {
            if (problem is null)
                throw new ArgumentException($"problem {index} is null", nameof(problems));
            decimal reference = AnswerExtractor.ParseNumber(problem.FinalAnswerText)
                ?? throw new ArgumentException($"problem {index}: the reference answer has no number after \"{MathProblem.FinalAnswerMarker}\"", nameof(problems));
            string prompt = format.Prompt(problem.Question);
            if (_references.TryGetValue(prompt, out decimal earlier))
            {
                if (earlier != reference)
                    throw new ArgumentException($"problem {index} has the prompt of an earlier problem but the answer {reference} instead of {earlier}", nameof(problems));
            }
            else
            {
                _references.Add(prompt, reference);
            }
            prompts.Add(prompt);
            index++;
        }
        Prompts = prompts;
    }

    /// <summary>The problems' prompts, in the order given (a repeated problem appears again).</summary>
    public IReadOnlyList<string> Prompts { get; }

    /// <summary>True when the completion's extracted number equals the reference answer of the problem whose prompt this is.</summary>
    /// <exception cref="ArgumentException"><paramref name="prompt"/> is no problem's prompt.</exception>
    public bool IsCorrect(string prompt, string completion)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(completion);
        if (!_references.TryGetValue(prompt, out decimal reference))
            throw new ArgumentException($"the prompt is not one of the checker's {_references.Count} problems' prompts: \"{Shorten(prompt)}\"", nameof(prompt));
        return AnswerExtractor.Matches(AnswerExtractor.Extract(completion), reference);
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";
}

namespace Caprese.Models.MathReasoning;

/// <summary>How a question becomes a prompt, and where the model's answer ends.</summary>
/// <param name="Name">The command-line name (<c>--prompt-format</c>).</param>
/// <param name="Summary">One line for help texts.</param>
/// <param name="Prefix">Text before "Question: ..." (an instruction), or empty.</param>
public sealed record MathPromptFormat(string Name, string Summary, string Prefix)
{
    /// <summary>
    /// Where generation stops besides EOS: the model starting the next question. A complete <c>#### N</c> line ends it
    /// too (<see cref="AnswerExtractor.HasCompleteFinalAnswer"/>), which is not a literal string.
    /// </summary>
    public static IReadOnlyList<string> StopStrings { get; } = ["\nQuestion:"];

    /// <summary>The prompt: <see cref="Prefix"/> + "Question: " + question + "\nAnswer:"; the model continues after the colon.</summary>
    public string Prompt(string question)
    {
        ArgumentNullException.ThrowIfNull(question);
        return Prefix + "Question: " + question + "\nAnswer:";
    }
}

/// <summary>The prompt formats by name: adding one is one entry here.</summary>
public static class MathPromptFormats
{
    /// <summary>The synthetic math model's own format: it continues with " " + the worked answer ending in "#### N", then EOS.</summary>
    public static MathPromptFormat Qa { get; } = new("qa", "Question: ...\\nAnswer: (the synthetic math model's training format)", "");

    /// <summary>The paper's prefix for instruction-tuned models (GSM8K, answer after "####").</summary>
    public static MathPromptFormat Instruct { get; } = new("instruct",
        "the qa format after \"Please reason step by step, and put your final answer after \\\"####\\\".\" (instruction-tuned models)",
        "Please reason step by step, and put your final answer after \"####\".\n\n");

    private static readonly MathPromptFormat[] Table = [Qa, Instruct];

    /// <summary>Every format's name.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Table.Select(f => f.Name)];

    /// <summary>One line per format for help texts.</summary>
    public static string Describe() => string.Join(Environment.NewLine, Table.Select(f => $"{f.Name}: {f.Summary}"));

    /// <summary>The format called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No such format; the message lists the names.</exception>
    public static MathPromptFormat Get(string name) =>
        Table.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown prompt format '{name}'; use one of {string.Join(", ", Names)}", nameof(name));
}

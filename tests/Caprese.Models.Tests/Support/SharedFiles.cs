using System.Text.RegularExpressions;

namespace Caprese.Models.Tests.Support;

/// <summary>Paths of the shared reference files (../shared next to the repository root) and the
/// greedy reference parsed from the model's README, so the test never carries its own copy.</summary>
internal static partial class SharedFiles
{
    private static readonly Lazy<string> Root = new(FindRepositoryRoot);

    public static string RepositoryRoot => Root.Value;
    public static string ModelDirectory => Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "models", "stories260K"));
    public static string Checkpoint => Path.Combine(ModelDirectory, "stories260K.bin");
    public static string Gguf => Path.Combine(ModelDirectory, "stories260K.gguf");
    public static string Tokenizer => Path.Combine(ModelDirectory, "tok512.bin");
    public static string Readme => Path.Combine(ModelDirectory, "README.md");

    public const string ReferencePrompt = "Once upon a time";

    /// <summary>The prompt's token ids (with BOS) as the README states them.</summary>
    public static int[] ReferencePromptIds()
    {
        var match = PromptIdsPattern().Match(File.ReadAllText(Readme));
        Assert.True(match.Success, "README does not state the prompt's token ids");
        return ParseIds(match.Groups[1].Value);
    }

    /// <summary>The indented block of ids after "The first 60 generated token ids:".</summary>
    public static int[] ReferenceGeneratedIds()
    {
        var lines = File.ReadAllLines(Readme);
        int start = Array.FindIndex(lines, l => l.Contains("generated token ids", StringComparison.Ordinal));
        Assert.True(start >= 0, "README has no generated token ids");
        var ids = new List<int>();
        foreach (var line in lines.Skip(start + 1).SkipWhile(string.IsNullOrWhiteSpace))
        {
            if (string.IsNullOrWhiteSpace(line))
                break;
            ids.AddRange(ParseIds(line));
        }
        return [.. ids];
    }

    public static string ReferenceTextStart()
    {
        var lines = File.ReadAllLines(Readme);
        int start = Array.FindIndex(lines, l => l.Contains("text of 256 steps", StringComparison.Ordinal));
        Assert.True(start >= 0, "README has no reference text");
        return string.Join(' ', lines.Skip(start + 1).SkipWhile(string.IsNullOrWhiteSpace)
            .TakeWhile(l => !string.IsNullOrWhiteSpace(l)).Select(l => l.Trim()));
    }

    private static int[] ParseIds(string text) =>
        text.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Caprese.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"no Caprese.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"encodes, with BOS, to `([0-9 ]+)`")]
    private static partial Regex PromptIdsPattern();
}

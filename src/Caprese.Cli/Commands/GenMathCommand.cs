using System.CommandLine;
using System.Globalization;
using Caprese.Models.MathReasoning;

namespace Caprese.Cli.Commands;

/// <summary>`caprese gen-math`: GSM8K-style synthetic word problems with worked answers, as JSONL.</summary>
internal static class GenMathCommand
{
    public static Command Create()
    {
        var split = new Option<string>("--split") { Description = "Which seeded split to draw: train, validation or test", DefaultValueFactory = _ => "test" };
        split.AcceptOnlyFromAmong("train", "validation", "test");
        var count = new Option<int>("--count", "-n") { Description = "Problems to write", DefaultValueFactory = _ => 1000 };
        count.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--count must be >= 1"); });
        var levels = new Option<string>("--levels") { Description = "Difficulty levels to draw from, e.g. 1,2,3 (1: 1-2 steps on numbers up to 20; 2: 2-3 steps up to 50; 3: 3-4 steps up to 99)", DefaultValueFactory = _ => "1,2,3" };
        levels.Validators.Add(r =>
        {
            string? text = r.Tokens.LastOrDefault()?.Value;
            if (text is not null && ParseLevels(text) is null)
                r.AddError($"--levels: '{text}' is not a comma-separated list of {string.Join(", ", ArithmeticDifficulty.Levels.Select(l => l.Level))}");
        });
        var seed = new Option<int>("--seed", "-s") { Description = "Base seed (each split draws from its own seed derived from it)", DefaultValueFactory = _ => 0 };
        var exclude = new Option<string?>("--exclude") { Description = "JSONL of problems whose questions must not appear (e.g. the training set when drawing a test set)" };
        var output = new Option<string>("--out", "-o") { Description = "JSONL file to write ({\"question\", \"answer\"} per line; written whole or not at all)", Required = true };

        var command = new Command("gen-math", "Write synthetic GSM8K-style word problems with step-by-step answers (<<a*b=c>> steps, a final #### N) as JSONL")
        {
            split, count, levels, seed, exclude, output,
        };
        command.SetAction(parse =>
        {
            try
            {
                var excluded = parse.GetValue(exclude) is { } file
                    ? MathProblemFile.Read(file).Select(p => p.Question).ToHashSet(StringComparer.Ordinal)
                    : null;
                var generator = new ArithmeticProblemGenerator(ArithmeticProblemGenerator.SplitSeed(parse.GetValue(split)!, parse.GetValue(seed)));
                var problems = generator.Generate(parse.GetValue(count), ParseLevels(parse.GetValue(levels)!), excluded);
                MathProblemFile.Write(parse.GetValue(output)!, problems);
                Console.Error.WriteLine($"wrote {problems.Count} problems to {parse.GetValue(output)}");
                return ExitCodes.Ok;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or InvalidOperationException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return ExitCodes.BadArguments;
            }
        });
        return command;
    }

    private static List<int>? ParseLevels(string text)
    {
        var levels = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int level)
                || ArithmeticDifficulty.Levels.All(l => l.Level != level))
                return null;
            levels.Add(level);
        }
        return levels.Count == 0 ? null : levels;
    }
}

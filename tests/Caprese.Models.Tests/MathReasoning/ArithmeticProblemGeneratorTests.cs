using System.Globalization;
using System.Text.RegularExpressions;
using Caprese.Models.MathReasoning;

namespace Caprese.Models.Tests.MathReasoning;

public sealed partial class ArithmeticProblemGeneratorTests
{
    [GeneratedRegex(@"<<(\d+)([-+*/])(\d+)=(\d+)>>(\d+)")]
    private static partial Regex Calculation();

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    [Fact]
    public void Every_calculation_is_correct_and_the_final_answer_is_the_last_result()
    {
        foreach (var level in ArithmeticDifficulty.Levels)
        {
            var problems = new ArithmeticProblemGenerator(7).Generate(400, [level.Level]);
            foreach (var p in problems)
            {
                var calcs = Calculation().Matches(p.Answer);
                Assert.InRange(calcs.Count, 1, 2 * level.MaxSteps);
                foreach (Match m in calcs)
                {
                    int a = Int(m.Groups[1].Value), b = Int(m.Groups[3].Value), c = Int(m.Groups[4].Value);
                    int expected = m.Groups[2].Value switch { "+" => a + b, "-" => a - b, "*" => a * b, _ => a / b };
                    if (m.Groups[2].Value == "/")
                        Assert.Equal(0, a % b);
                    Assert.Equal(expected, c);
                    Assert.Equal(m.Groups[4].Value, m.Groups[5].Value); // the text after >> repeats the result
                    Assert.InRange(c, 0, ArithmeticProblemGenerator.MaxValue);
                }
                // The worked text states each calculation as "a op b = <<a op b=c>>c", as GSM8K does.
                Assert.Equal(calcs[^1].Groups[4].Value, p.FinalAnswerText);
                Assert.EndsWith("?", p.Question);
                Assert.StartsWith("#### ", p.Answer.Split('\n')[^1]);
            }
        }
    }

    [Fact]
    public void The_same_seed_gives_the_same_problems_and_splits_differ()
    {
        var a = new ArithmeticProblemGenerator(ArithmeticProblemGenerator.SplitSeed("test")).Generate(50);
        var b = new ArithmeticProblemGenerator(ArithmeticProblemGenerator.SplitSeed("test")).Generate(50);
        var train = new ArithmeticProblemGenerator(ArithmeticProblemGenerator.SplitSeed("train")).Generate(50);
        Assert.Equal(a, b);
        Assert.NotEqual(a, train);
        Assert.Equal(50, a.Select(p => p.Question).Distinct().Count());
    }

    [Fact]
    public void Excluded_questions_never_appear()
    {
        var train = new ArithmeticProblemGenerator(1).Generate(2000, [1]);
        var exclude = train.Select(p => p.Question).ToHashSet();
        var test = new ArithmeticProblemGenerator(1).Generate(300, [1], exclude);
        Assert.DoesNotContain(test, p => exclude.Contains(p.Question));
    }

    [Fact]
    public void All_templates_operations_and_levels_occur()
    {
        var problems = new ArithmeticProblemGenerator(3).Generate(600);
        string all = string.Join("\n", problems.Select(p => p.Answer));
        foreach (var op in new[] { "+", "-", "*", "/" })
            Assert.Contains($"{op}", Calculation().Matches(all).Select(m => m.Groups[2].Value));
        Assert.Contains(problems, p => p.Question.Contains("change"));
        Assert.Contains(problems, p => p.Question.Contains("times as many"));
        Assert.Contains(problems, p => p.Question.Contains("equally"));
        var stepCounts = problems.Select(p => Calculation().Matches(p.Answer).Count).ToHashSet();
        Assert.Contains(1, stepCounts);
        Assert.Contains(4, stepCounts);
    }

    [Fact]
    public void Bad_arguments_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ArithmeticDifficulty.Of(9));
        Assert.Throws<ArgumentException>(() => ArithmeticProblemGenerator.SplitSeed("dev"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ArithmeticProblemGenerator(0).Generate(-1));
    }
}

using Caprese.Models.MathReasoning;

namespace Caprese.Models.Tests.MathReasoning;

public sealed class ArithmeticAnswerCheckerTests
{
    private static readonly MathProblem[] Problems =
    [
        new("Tom has 3 apples and buys 4 more. How many apples does he have?", "3 + 4 = <<3+4=7>>7\n#### 7"),
        new("A farm sells 250 eggs a day for 4 days. How many eggs?", "250 * 4 = <<250*4=1000>>1000\n#### 1,000"),
    ];

    private static ArithmeticAnswerChecker Checker(MathPromptFormat? format = null) => new(Problems, format ?? MathPromptFormats.Qa);

    private static string Prompt(int i, MathPromptFormat? format = null) => (format ?? MathPromptFormats.Qa).Prompt(Problems[i].Question);

    [Fact]
    public void ARightAnswerIsCorrect()
    {
        var checker = Checker();
        Assert.True(checker.IsCorrect(Prompt(0), " 3 + 4 = <<3+4=7>>7\n#### 7"));
        Assert.True(checker.IsCorrect(Prompt(0), " He has 7 apples."));
        Assert.True(checker.IsCorrect(Prompt(0), " The answer is 7.00"));
    }

    [Fact]
    public void AWrongAnswerIsNot()
    {
        var checker = Checker();
        Assert.False(checker.IsCorrect(Prompt(0), " 3 + 4 = <<3+4=8>>8\n#### 8"));
        Assert.False(checker.IsCorrect(Prompt(1), " #### 7"));        // another problem's answer
    }

    [Fact]
    public void ACompletionWithoutANumberIsNot()
    {
        var checker = Checker();
        Assert.False(checker.IsCorrect(Prompt(0), " Once upon a time there was a girl"));
        Assert.False(checker.IsCorrect(Prompt(0), ""));
    }

    [Fact]
    public void ReferencesWithThousandsSeparatorsCompareAsNumbers()
    {
        var checker = Checker();
        Assert.True(checker.IsCorrect(Prompt(1), " 250 * 4 = 1000\n#### 1000"));
        Assert.True(checker.IsCorrect(Prompt(1), " #### 1,000"));
        Assert.True(checker.IsCorrect(Prompt(1), " #### $1,000.00"));
        Assert.False(checker.IsCorrect(Prompt(1), " #### 100"));
    }

    [Fact]
    public void AnUnknownPromptIsAnErrorNotAVerdict()
    {
        var checker = Checker();
        var ex = Assert.Throws<ArgumentException>(() => checker.IsCorrect("Question: What is 2 + 2?\nAnswer:", "#### 4"));
        Assert.Contains("not one of the checker's 2 problems' prompts", ex.Message);
        // Exact match: the question alone, or another format's prompt, is not the prompt.
        Assert.Throws<ArgumentException>(() => checker.IsCorrect(Problems[0].Question, "#### 7"));
        Assert.Throws<ArgumentException>(() => checker.IsCorrect(Prompt(0, MathPromptFormats.Instruct), "#### 7"));
        Assert.Throws<ArgumentException>(() => checker.IsCorrect(Prompt(0) + " ", "#### 7"));
    }

    [Fact]
    public void PromptsFollowTheFormatAndTheOrderGiven()
    {
        var checker = Checker(MathPromptFormats.Instruct);
        Assert.Equal([Prompt(0, MathPromptFormats.Instruct), Prompt(1, MathPromptFormats.Instruct)], checker.Prompts);
        Assert.True(checker.IsCorrect(checker.Prompts[1], "#### 1000"));
        Assert.Throws<ArgumentException>(() => checker.IsCorrect(Prompt(1), "#### 1000"));
    }

    [Fact]
    public void TheVerdictIsDeterministic()
    {
        var a = Checker();
        var b = Checker();
        foreach (string completion in new[] { "#### 7", "#### 8", "no number", "7 then 8" })
        {
            bool first = a.IsCorrect(Prompt(0), completion);
            Assert.Equal(first, a.IsCorrect(Prompt(0), completion));
            Assert.Equal(first, b.IsCorrect(Prompt(0), completion));
        }
    }

    [Fact]
    public void ProblemsThatCannotBeToldApartAreRefused()
    {
        // The same problem twice is fine; the same question with another answer is ambiguous.
        Assert.Equal(3, new ArithmeticAnswerChecker([.. Problems, Problems[0]], MathPromptFormats.Qa).Prompts.Count);
        var ex = Assert.Throws<ArgumentException>(() => new ArithmeticAnswerChecker([.. Problems, Problems[0] with { Answer = "#### 8" }], MathPromptFormats.Qa));
        Assert.Contains("problem 2", ex.Message);
        Assert.Throws<ArgumentException>(() => new ArithmeticAnswerChecker([new MathProblem("What?", "no marker")], MathPromptFormats.Qa));
    }
}

using Caprese.Models.MathReasoning;

namespace Caprese.Models.Tests.MathReasoning;

public sealed class AnswerExtractorTests
{
    // Text, expected answer ("null" = none). Decimals cannot be attribute arguments, hence strings.
    [Theory]
    // "####" wins over everything else.
    [InlineData("She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "18")]
    [InlineData("The answer is 5.\n#### 7", "7")]
    [InlineData("#### 1,000", "1000")]
    [InlineData("#### $18.00.", "18")]
    [InlineData("#### -3", "-3")]
    [InlineData("####42", "42")]
    [InlineData("#### **72**", "72")]
    [InlineData("#### 50%", "50")]
    [InlineData("first #### 12\nthen #### 13\n", "12")]
    [InlineData("#### twelve\nso 12 in all", "12")]           // a marker without a number falls through
    // "The answer is N" / "answer: N".
    [InlineData("16 - 3 - 4 = 9 eggs, 9 * 2 = 18. The answer is 18.", "18")]
    [InlineData("So the answer is $1,250. Check: 1250 = 5 * 250", "1250")]
    [InlineData("Answer: 42\nQuestion 7 follows", "42")]
    [InlineData("the final answer is: **-7**, see step 3", "-7")]
    [InlineData("The answer is therefore 36 cookies in 4 boxes", "36")]
    [InlineData("The answer = 0.5 of 10", "0.5")]
    [InlineData("answer is 3 ... no wait, the answer is 4 (not 3)", "4")]  // the last phrase
    [InlineData("The answer is\n\n17 but 20", "20")]           // the number must be on the phrase's line
    // The last number otherwise.
    [InlineData("He has 3 apples and buys 4 more, so 7", "7")]
    [InlineData("It costs 18.", "18")]
    [InlineData("It costs 18.00 dollars", "18")]
    [InlineData("It costs $18!", "18")]
    [InlineData("She lost 12,345,678 points", "12345678")]
    [InlineData("numbers 3,4", "4")]                           // a list, not 34
    [InlineData("1,2345", "2345")]                             // not a thousands group
    [InlineData("16-3-4=9", "9")]
    [InlineData("16-3", "3")]                                  // subtraction, not -3
    [InlineData("the temperature fell to -5", "-5")]
    [InlineData("the change was \u221212", "-12")]             // Unicode minus
    [InlineData("a rise of +8", "8")]
    [InlineData("He owes -$20", "-20")]
    [InlineData("He owes $-20", "-20")]
    [InlineData("about .5 of it", "0.5")]
    [InlineData("it is 25% of the total", "25")]
    [InlineData("a 10kg bag", "10")]
    [InlineData("H2O", "null")]                                // a digit inside a word is no number
    [InlineData("no numbers here", "null")]
    [InlineData("", "null")]
    [InlineData("\u0661\u0662", "null")]                       // other scripts' digits are not read
    [InlineData("99999999999999999999999999999999 then 5", "5")] // too large for a decimal: skipped
    [InlineData("1,000.25", "1000.25")]
    public void ExtractsTheAnswer(string text, string expected)
    {
        decimal? want = expected == "null" ? null : decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(want, AnswerExtractor.Extract(text));
    }

    [Theory]
    [InlineData("18", "18")]
    [InlineData(" 1,000 ", "1000")]
    [InlineData("$18.00", "18")]
    [InlineData("-3", "-3")]
    [InlineData("50%", "50")]
    [InlineData("7.", "7")]
    [InlineData("18 apples", "null")]
    [InlineData("eighteen", "null")]
    [InlineData("3,4", "null")]
    [InlineData("", "null")]
    public void ParsesAWholeReferenceNumber(string text, string expected)
    {
        decimal? want = expected == "null" ? null : decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(want, AnswerExtractor.ParseNumber(text));
    }

    [Fact]
    public void MatchesComparesNumerically()
    {
        Assert.True(AnswerExtractor.Matches(18.00m, 18m));
        Assert.True(AnswerExtractor.Matches(AnswerExtractor.Extract("so $18.00."), AnswerExtractor.ParseNumber("18")));
        Assert.False(AnswerExtractor.Matches(18.5m, 18m));
        Assert.False(AnswerExtractor.Matches(null, 18m));
        Assert.False(AnswerExtractor.Matches(18m, null));
    }

    [Theory]
    [InlineData("... = 18\n#### 18\n", true)]
    [InlineData("#### 18", false)]          // the number may still grow
    [InlineData("#### \n", false)]
    [InlineData("18\n", false)]
    [InlineData("#### 1,000.\nQuestion", true)]
    public void SeesACompleteFinalAnswerLine(string text, bool complete) =>
        Assert.Equal(complete, AnswerExtractor.HasCompleteFinalAnswer(text));

    // Every reference answer of the GSM8K test set parses, and the worked answer extracts to it.
    [Fact]
    public void EveryGsm8kReferenceParsesAndItsWorkedAnswerExtractsToIt()
    {
        string path = Path.Combine(Support.SharedFiles.RepositoryRoot, "..", "shared", "data", "gsm8k", "test.jsonl");
        Assert.SkipUnless(File.Exists(path), $"no {path}");
        var problems = MathProblemFile.Read(path);
        Assert.True(problems.Count > 1000);
        foreach (var p in problems)
            Assert.Equal(AnswerExtractor.ParseNumber(p.FinalAnswerText), AnswerExtractor.Extract(p.Answer));
    }
}

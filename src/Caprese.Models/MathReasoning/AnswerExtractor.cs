using System.Globalization;
using System.Text.RegularExpressions;

namespace Caprese.Models.MathReasoning;

/// <summary>
/// The numeric answer in a model's text, read the way models write numbers: <c>1,000</c>, <c>-3</c>, <c>$18</c>,
/// <c>18.</c>, <c>18.00</c>, <c>50%</c>, <c>**18**</c>. Numbers compare as decimals, so 18, 18.0 and 18.00 are one answer.
/// </summary>
/// <remarks>
/// Rules, in order of preference (GSM8K's strict and flexible scoring, lm-evaluation-harness style):
/// <list type="number">
/// <item>the first number on the line after the first <c>####</c> that has one;</item>
/// <item>the number right after the last "answer is" / "answer:" / "answer =" (a few words may come between, not a line break);</item>
/// <item>the last number in the text.</item>
/// </list>
/// A comma joins digits only in groups of three (<c>12,345</c>); otherwise it separates numbers (<c>3,4</c> is 3 and 4).
/// A minus sign counts only where it cannot be subtraction: not right after a letter or digit (<c>16-3</c> is 16 and 3).
/// Numbers a decimal cannot hold (beyond about 7.9e28) are skipped. Fractions are not evaluated (<c>3/4</c> reads as 3 and 4).
/// </remarks>
public static partial class AnswerExtractor
{
    // How far after "answer is" the number may start (for "answer is therefore $18", "answer is: **18**").
    private const int MaxGapAfterPhrase = 16;

    /// <summary>The answer in <paramref name="text"/>, or null when it holds no number.</summary>
    public static decimal? Extract(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return AfterMarker(text) ?? AfterPhrase(text) ?? LastNumber(text);
    }

    /// <summary>
    /// A whole string as one number (a reference answer such as GSM8K's <c>1,000</c> after its <c>####</c>): surrounding
    /// spaces, a leading <c>$</c>, a trailing <c>%</c> or full stop are allowed, nothing else. Null if it is not one number.
    /// </summary>
    public static decimal? ParseNumber(string? text)
    {
        if (text is null)
            return null;
        var m = WholeNumberPattern().Match(text);
        return m.Success ? ToDecimal(m) : null;
    }

    /// <summary>Whether a predicted answer equals the reference numerically (false when either is missing).</summary>
    public static bool Matches(decimal? predicted, decimal? reference) =>
        predicted is { } p && reference is { } r && p == r;

    /// <summary>
    /// Whether <paramref name="text"/> has a complete final-answer line: <c>####</c>, a number, then a line break.
    /// Generation can stop there (the break shows the number is not still growing digit by digit).
    /// </summary>
    public static bool HasCompleteFinalAnswer(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return CompleteFinalAnswerPattern().IsMatch(text);
    }

    private static decimal? AfterMarker(string text)
    {
        for (int at = text.IndexOf(MathProblem.FinalAnswerMarker, StringComparison.Ordinal); at >= 0;
             at = text.IndexOf(MathProblem.FinalAnswerMarker, at + 1, StringComparison.Ordinal))
        {
            int start = at + MathProblem.FinalAnswerMarker.Length;
            int end = text.IndexOf('\n', start);
            var line = text.AsSpan(start, (end < 0 ? text.Length : end) - start).ToString();
            if (FirstNumber(line) is { } value)
                return value;
        }
        return null;
    }

    private static decimal? AfterPhrase(string text)
    {
        decimal? found = null;
        foreach (Match phrase in AnswerPhrasePattern().Matches(text))
        {
            int start = phrase.Index + phrase.Length;
            var number = NumberPattern().Match(text, start);
            while (number.Success && ToDecimal(number) is null)
                number = number.NextMatch();
            if (!number.Success || number.Index - start > MaxGapAfterPhrase || text.AsSpan(start, number.Index - start).Contains('\n'))
                continue;
            found = ToDecimal(number);
        }
        return found;
    }

    private static decimal? FirstNumber(string text)
    {
        foreach (Match m in NumberPattern().Matches(text))
            if (ToDecimal(m) is { } value)
                return value;
        return null;
    }

    private static decimal? LastNumber(string text)
    {
        decimal? last = null;
        foreach (Match m in NumberPattern().Matches(text))
            last = ToDecimal(m) ?? last;
        return last;
    }

    private static decimal? ToDecimal(Match m)
    {
        string digits = m.Groups["num"].Value.Replace(",", "", StringComparison.Ordinal);
        bool negative = m.Groups["sign"].Value is "-" or "\u2212";
        if (!decimal.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value))
            return null; // too large for a decimal
        return negative ? -value : value;
    }

    // A sign (not after a letter or digit, where '-' would be subtraction), an optional '$' either side of it, then digits:
    // thousands groups "12,345" (exactly three digits per group, none following), or plain digits, with an optional
    // decimal part; or ".5". ASCII digits only (\d would take other scripts' digits, which decimal does not parse).
    private const string Number =
        @"(?:(?<sign>[-+\u2212])\$?|\$(?<sign>[-+\u2212])?)?(?<num>[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)";

    [GeneratedRegex(@"(?<!\w)" + Number)]
    private static partial Regex NumberPattern();

    [GeneratedRegex(@"^\s*" + Number + @"\s*%?\s*\.?\s*$")]
    private static partial Regex WholeNumberPattern();

    [GeneratedRegex(@"\banswer[^\S\n]*(?:is\b|was\b|[:=])[^\S\n]*:?", RegexOptions.IgnoreCase)]
    private static partial Regex AnswerPhrasePattern();

    [GeneratedRegex(@"####[^\n]*[0-9][^\n]*\n")]
    private static partial Regex CompleteFinalAnswerPattern();
}

using Caprese.Models.Formats;
using System.Text;
using System.Text.Json;

namespace Caprese.Models.MathReasoning;

/// <summary>
/// JSONL files of <see cref="MathProblem"/>s: one <c>{"question": ..., "answer": ...}</c> object per line (other fields
/// are ignored, so GSM8K's files and the synthetic generator's read alike). Every answer must end in <c>#### N</c> with N a
/// number (<see cref="AnswerExtractor.ParseNumber"/>): a problem that cannot be scored is an error, not a silent zero.
/// </summary>
public static class MathProblemFile
{
    /// <summary>The longest line read, in characters: far beyond any model's context, short of a runaway file.</summary>
    public const int MaxLineLength = 1 << 16;

    /// <summary>The default cap on the problems of one file.</summary>
    public const int DefaultMaxProblems = 1_000_000;

    /// <summary>Reads every problem of <paramref name="path"/> (UTF-8; blank lines skipped).</summary>
    /// <param name="path">The file.</param>
    /// <param name="maxProblems">More problems than this is an error.</param>
    /// <exception cref="InvalidDataException">A line is not a problem (the message names file and line), a line is
    /// longer than <see cref="MaxLineLength"/>, or the file holds more than <paramref name="maxProblems"/> problems.</exception>
    /// <exception cref="IOException">The file cannot be read (<see cref="FileNotFoundException"/> and so on).</exception>
    public static IReadOnlyList<MathProblem> Read(string path, int maxProblems = DefaultMaxProblems)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var reader = new StreamReader(path, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), detectEncodingFromByteOrderMarks: true);
        return Read(reader, path, maxProblems);
    }

    /// <summary>Reads problems from <paramref name="reader"/>; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">As for <see cref="Read(string, int)"/>.</exception>
    public static IReadOnlyList<MathProblem> Read(TextReader reader, string source, int maxProblems = DefaultMaxProblems)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegative(maxProblems);
        var problems = new List<MathProblem>();
        var buffer = new StringBuilder();
        for (int line = 1; ReadLine(reader, buffer, source, line) is { } text; line++)
        {
            if (string.IsNullOrWhiteSpace(text))
                continue;
            if (problems.Count == maxProblems)
                throw Malformed(source, 0, $"more than {maxProblems} problems");
            problems.Add(Parse(text, source, line));
        }
        return problems;
    }

    /// <summary>
    /// Writes <paramref name="problems"/> as JSONL (UTF-8, '\n' line ends), to a temporary file beside
    /// <paramref name="path"/> that is then renamed over it: a reader never sees half a file.
    /// </summary>
    /// <exception cref="ArgumentException">A problem the reader would refuse (empty question, no numeric final answer,
    /// a line longer than <see cref="MaxLineLength"/>): what is written always reads back.</exception>
    public static void Write(string path, IEnumerable<MathProblem> problems)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(problems);
        AtomicFile.Write(path, stream =>
        {
            int index = 0;
            foreach (var p in problems)
            {
                ArgumentNullException.ThrowIfNull(p, nameof(problems));
                if (Problem(p.Question, p.Answer) is { } problem)
                    throw new ArgumentException($"problem {index}: {problem}", nameof(problems));
                byte[] line = Serialize(p);
                if (Encoding.UTF8.GetCharCount(line) > MaxLineLength)
                    throw new ArgumentException($"problem {index}: its line is longer than {MaxLineLength} characters", nameof(problems));
                stream.Write(line);
                stream.WriteByte((byte)'\n');
                index++;
            }
        });
    }

    // The one exception a malformed file raises; the message names the source and, where there is one, the line.
    private static InvalidDataException Malformed(string source, int line, string problem, Exception? inner = null) =>
        new(line > 0 ? $"{source}: line {line}: {problem}" : $"{source}: {problem}", inner);

    private static MathProblem Parse(string text, string source, int line)
    {
        string question, answer;
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Malformed(source, line, $"not a JSON object but {root.ValueKind.ToString().ToLowerInvariant()}");
            question = StringField(root, "question", source, line);
            answer = StringField(root, "answer", source, line);
        }
        catch (JsonException e)
        {
            throw Malformed(source, line, $"invalid JSON: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            // Only a TextReader that is not a decoded file can hand over a lone surrogate ("\ud800" as a char).
            throw Malformed(source, line, $"not valid UTF-16 text: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            // A string the reader cannot turn into .NET text (an escaped lone surrogate, "\ud800").
            throw Malformed(source, line, $"invalid string: {e.Message}", e);
        }
        if (Problem(question, answer) is { } problem)
            throw Malformed(source, line, problem);
        return new MathProblem(question, answer);
    }

    private static string StringField(JsonElement root, string name, string source, int line)
    {
        if (!root.TryGetProperty(name, out var value))
            throw Malformed(source, line, $"no \"{name}\" field");
        if (value.ValueKind != JsonValueKind.String)
            throw Malformed(source, line, $"\"{name}\" is {value.ValueKind.ToString().ToLowerInvariant()}, not a string");
        return value.GetString()!;
    }

    // Why a problem cannot be scored; null if it can.
    private static string? Problem(string? question, string? answer)
    {
        if (string.IsNullOrWhiteSpace(question))
            return "the question is empty";
        if (answer is null)
            return "the answer is missing";
        var final = new MathProblem(question, answer).FinalAnswerText;
        if (string.IsNullOrEmpty(final))
            return $"the answer has no final answer after \"{MathProblem.FinalAnswerMarker}\"";
        if (AnswerExtractor.ParseNumber(final) is null)
            return $"the final answer \"{Shorten(final)}\" after \"{MathProblem.FinalAnswerMarker}\" is not a number";
        return null;
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";

    // One line, without its terminator ("\n" or "\r\n"); null at the end. A line past MaxLineLength is an error as soon as
    // it is seen, so a file without line breaks is never read into memory whole.
    private static string? ReadLine(TextReader reader, StringBuilder buffer, string source, int line)
    {
        buffer.Clear();
        int c;
        while ((c = reader.Read()) >= 0 && c != '\n')
        {
            if (buffer.Length == MaxLineLength + 1) // + 1: room for the '\r' of "\r\n"
                throw Malformed(source, line, $"longer than {MaxLineLength} characters");
            buffer.Append((char)c);
        }
        if (c < 0 && buffer.Length == 0)
            return null;
        if (buffer.Length > 0 && buffer[^1] == '\r')
            buffer.Length--;
        if (buffer.Length > MaxLineLength)
            throw Malformed(source, line, $"longer than {MaxLineLength} characters");
        return buffer.ToString();
    }

    private static byte[] Serialize(MathProblem p)
    {
        using var bytes = new MemoryStream();
        using (var json = new Utf8JsonWriter(bytes))
        {
            json.WriteStartObject();
            json.WriteString("question", p.Question);
            json.WriteString("answer", p.Answer);
            json.WriteEndObject();
        }
        return bytes.ToArray();
    }
}

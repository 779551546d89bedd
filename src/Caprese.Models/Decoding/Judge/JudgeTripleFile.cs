using System.Globalization;
using System.Text.Json;

namespace Caprese.Models.Decoding.Judge;

/// <summary>A judge training triple, as in the judge-decoding paper: a prompt, a good answer and a bad answer to it.</summary>
/// <param name="Prompt">The prompt (may be empty).</param>
/// <param name="Good">A correct answer.</param>
/// <param name="Bad">A wrong answer, usually sharing a prefix with the good one before it goes wrong.</param>
public sealed record JudgeTriple(string Prompt, string Good, string Bad);

/// <summary>A judge triple file that cannot be read; names the file, the 1-based line and the problem.</summary>
public sealed class JudgeTripleFileException : Exception
{
    public JudgeTripleFileException(string filePath, long line, string problem)
        : base($"{filePath}: line {line.ToString(CultureInfo.InvariantCulture)}: {problem}")
    {
        FilePath = filePath;
        Line = line;
    }

    /// <summary>The file.</summary>
    public string FilePath { get; }

    /// <summary>The 1-based line with the problem.</summary>
    public long Line { get; }
}

/// <summary>
/// Reads judge triples from JSONL: one object per line with string fields <c>"prompt"</c>, <c>"good"</c> and
/// <c>"bad"</c> (other fields are ignored). Blank lines are skipped; a UTF-8 byte order mark and CRLF line ends are
/// accepted. Lines are limited to <see cref="MaxLineBytes"/> and files to <see cref="MaxTriples"/> triples, so a
/// hostile or mistaken file (a binary, a single-line dump) fails quickly instead of exhausting memory.
/// </summary>
public static class JudgeTripleFile
{
    /// <summary>Longest line accepted, in bytes (line end excluded).</summary>
    public const int MaxLineBytes = 1 << 20;

    /// <summary>Most triples one file may hold.</summary>
    public const int MaxTriples = 1_000_000;

    public const string PromptField = "prompt";
    public const string GoodField = "good";
    public const string BadField = "bad";

    /// <summary>Reads every triple of <paramref name="path"/>, in file order.</summary>
    /// <exception cref="JudgeTripleFileException">A line is not a valid triple or a cap is exceeded; names file, line and problem.</exception>
    public static IReadOnlyList<JudgeTriple> Read(string path) => Read(path, MaxLineBytes, MaxTriples);

    /// <summary><see cref="Read(string)"/> with other caps (tests use small ones).</summary>
    internal static IReadOnlyList<JudgeTriple> Read(string path, int maxLineBytes, int maxTriples)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        using var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream, full, maxLineBytes, maxTriples);
    }

    /// <summary>Reads triples from <paramref name="stream"/>; errors name <paramref name="sourceName"/>.</summary>
    internal static IReadOnlyList<JudgeTriple> Read(Stream stream, string sourceName, int maxLineBytes, int maxTriples)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTriples, 1);
        var triples = new List<JudgeTriple>();
        var chunk = new byte[1 << 16];
        // Bytes are split at '\n' before decoding: in UTF-8 that byte never occurs inside a multi-byte character.
        var line = new MemoryStream();
        long lineNumber = 1;
        int read;
        while ((read = stream.Read(chunk)) > 0)
        {
            int start = 0;
            while (start < read)
            {
                int end = Array.IndexOf(chunk, (byte)'\n', start, read - start);
                int take = (end < 0 ? read : end) - start;
                if (line.Length + take > maxLineBytes)
                    throw new JudgeTripleFileException(sourceName, lineNumber, $"line longer than {maxLineBytes} bytes");
                line.Write(chunk, start, take);
                if (end < 0)
                    break;
                ParseLine(line, sourceName, lineNumber, triples, maxTriples);
                line.SetLength(0);
                lineNumber++;
                start = end + 1;
            }
        }
        ParseLine(line, sourceName, lineNumber, triples, maxTriples);
        return triples;
    }

    private static void ParseLine(MemoryStream line, string sourceName, long lineNumber, List<JudgeTriple> triples, int maxTriples)
    {
        var bytes = line.GetBuffer().AsMemory(0, (int)line.Length);
        if (lineNumber == 1 && bytes.Span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
            bytes = bytes[3..];
        if (IsBlank(bytes.Span))
            return;
        JudgeTripleFileException Error(string problem) => new(sourceName, lineNumber, problem);
        if (triples.Count >= maxTriples)
            throw Error($"more than {maxTriples.ToString("N0", CultureInfo.InvariantCulture)} triples");

        string? prompt = null, good = null, bad = null;
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Error($"a {doc.RootElement.ValueKind} instead of a JSON object with \"{PromptField}\", \"{GoodField}\" and \"{BadField}\"");
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                ref string? target = ref prompt;
                if (property.NameEquals(GoodField))
                    target = ref good;
                else if (property.NameEquals(BadField))
                    target = ref bad;
                else if (!property.NameEquals(PromptField))
                    continue;
                if (target is not null)
                    throw Error($"field \"{property.Name}\" appears twice");
                if (property.Value.ValueKind != JsonValueKind.String)
                    throw Error($"field \"{property.Name}\" is a {property.Value.ValueKind}, not a string");
                target = property.Value.GetString()!;
            }
        }
        catch (JsonException e)
        {
            throw Error($"invalid JSON: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            // JsonElement.GetString throws this for escapes that are not valid UTF-16 (a lone surrogate).
            throw Error($"invalid string: {e.Message}");
        }
        if (prompt is null || good is null || bad is null)
            throw Error($"missing field \"{(prompt is null ? PromptField : good is null ? GoodField : BadField)}\"");
        if (good.Length == 0)
            throw Error($"field \"{GoodField}\" is empty");
        if (bad.Length == 0)
            throw Error($"field \"{BadField}\" is empty");
        if (good == bad)
            throw Error($"fields \"{GoodField}\" and \"{BadField}\" are identical (no wrong token to learn from)");
        triples.Add(new JudgeTriple(prompt, good, bad));
    }

    private static bool IsBlank(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r'))
                return false;
        return true;
    }
}

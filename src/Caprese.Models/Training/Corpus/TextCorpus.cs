using System.Text.Json;
using Caprese.Models.Tokenization;

namespace Caprese.Models.Training.Corpus;

/// <summary>How a text or JSONL file becomes teacher-forced sequences.</summary>
/// <param name="PromptTokens">The first this many tokens (BOS included) are the prompt; the rest is the continuation.</param>
/// <param name="MaxTokens">Longer samples are cut to this many tokens (keep it within the model's context).</param>
/// <param name="Prefix">Put before every sample, followed by a newline (e.g. "Please reason step by step."); null = none.</param>
/// <param name="MinContinuationTokens">Samples with fewer continuation tokens are skipped.</param>
/// <param name="Fields">JSONL: the string fields tried in order.</param>
public sealed record TextCorpusOptions(
    int PromptTokens = 16,
    int MaxTokens = 256,
    string? Prefix = null,
    int MinContinuationTokens = 1,
    IReadOnlyList<string>? Fields = null)
{
    public IReadOnlyList<string> JsonFields => Fields ?? ["question", "text"];
}

/// <summary>
/// Corpora from user files. A <c>.jsonl</c> file holds one JSON object per line with a string field "question" or
/// "text" (see <see cref="TextCorpusOptions.Fields"/>); any other file is plain text with one sample per paragraph
/// (blocks separated by blank lines; a file of single-line samples separated by blank lines works the same way).
/// </summary>
public static class TextCorpus
{
    /// <exception cref="InvalidDataException">A JSONL line is not an object with one of the fields; names the file and line.</exception>
    public static DistillationCorpus FromFile(string path, ITokenizer tokenizer, TextCorpusOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        var lines = File.ReadAllLines(full);
        var samples = full.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)
            ? JsonSamples(full, lines, (options ?? new()).JsonFields)
            : Paragraphs(lines);
        return FromTexts(samples, tokenizer, options);
    }

    /// <summary>Tokenizes each text (with BOS, after the prefix), cuts it and splits it into prompt and continuation.</summary>
    public static DistillationCorpus FromTexts(IEnumerable<string> texts, ITokenizer tokenizer, TextCorpusOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(tokenizer);
        options ??= new();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PromptTokens, 1, nameof(options.PromptTokens));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MinContinuationTokens, 1, nameof(options.MinContinuationTokens));
        if (options.MaxTokens < options.PromptTokens + options.MinContinuationTokens)
            throw new ArgumentException($"MaxTokens {options.MaxTokens} leaves no room for {options.MinContinuationTokens} continuation token(s) after {options.PromptTokens}");
        var sequences = new List<DistillationSequence>();
        foreach (var text in texts)
        {
            string sample = string.IsNullOrEmpty(options.Prefix) ? text : options.Prefix + "\n" + text;
            var ids = tokenizer.Encode(sample, addBos: true);
            if (ids.Length > options.MaxTokens)
                ids = ids[..options.MaxTokens];
            if (ids.Length - options.PromptTokens >= options.MinContinuationTokens)
                sequences.Add(new DistillationSequence(ids[..options.PromptTokens], ids[options.PromptTokens..]));
        }
        return new DistillationCorpus(sequences);
    }

    private static IEnumerable<string> JsonSamples(string path, string[] lines, IReadOnlyList<string> fields)
    {
        var samples = new List<string>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i]))
                continue;
            string where = $"{path}: line {i + 1}";
            try
            {
                using var doc = JsonDocument.Parse(lines[i]);
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{where}: not a JSON object");
                string? text = null;
                foreach (var f in fields)
                    if (doc.RootElement.TryGetProperty(f, out var v) && v.ValueKind == JsonValueKind.String)
                    {
                        text = v.GetString();
                        break;
                    }
                samples.Add(text ?? throw new InvalidDataException($"{where}: no string field {string.Join(" or ", fields.Select(f => $"\"{f}\""))}"));
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{where}: invalid JSON: {e.Message}", e);
            }
        }
        return samples;
    }

    private static IEnumerable<string> Paragraphs(string[] lines)
    {
        var current = new List<string>();
        foreach (var line in lines.Append(""))
        {
            if (!string.IsNullOrWhiteSpace(line))
            {
                current.Add(line.Trim());
                continue;
            }
            if (current.Count > 0)
                yield return string.Join(' ', current);
            current.Clear();
        }
    }
}

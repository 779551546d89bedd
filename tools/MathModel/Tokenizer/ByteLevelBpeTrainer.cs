using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Caprese.MathModel.Tokenizer;

/// <summary>
/// Trains a byte-level BPE tokenizer (GPT-2's scheme, what Llama 3 and Qwen2 ship) and writes it as a Hugging Face
/// tokenizer.json that Caprese's loader and the `tokenizers` library both read. The pre-tokenizer splits every digit
/// into its own piece, so no merge ever joins digits: numbers are always spelled one digit per token, which is what
/// lets a small model learn column arithmetic.
/// </summary>
public static class ByteLevelBpeTrainer
{
    /// <summary>Words with an optional leading space, runs of punctuation, single digits, whitespace.</summary>
    public const string SplitPattern = @" ?\p{L}+| ?[^\s\p{L}\p{N}]+|\p{N}|\s+(?!\S)|\s+";

    public const string Bos = "<s>";
    public const string Eos = "</s>";

    /// <summary>The merges that bring the vocabulary to <paramref name="vocabSize"/> (256 bytes + 2 specials + merges).</summary>
    public static List<(string A, string B)> Train(IEnumerable<string> texts, int vocabSize)
    {
        var regex = new Regex(SplitPattern, RegexOptions.Compiled);
        var wordCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var text in texts)
            foreach (Match m in regex.Matches(text))
            {
                var mapped = ToByteSymbols(m.Value);
                wordCounts[mapped] = wordCounts.GetValueOrDefault(mapped) + 1;
            }

        // Each distinct word as its current list of symbols; merging is done on distinct words only.
        var words = wordCounts.Select(kv => (Symbols: kv.Key.Select(c => c.ToString()).ToList(), Count: kv.Value)).ToList();
        var merges = new List<(string, string)>();
        int target = vocabSize - 256 - 2;
        while (merges.Count < target)
        {
            var pairs = new Dictionary<(string, string), long>();
            foreach (var (symbols, count) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    var key = (symbols[i], symbols[i + 1]);
                    pairs[key] = pairs.GetValueOrDefault(key) + count;
                }
            if (pairs.Count == 0)
                break;
            // Ties broken by the pair's text so the result does not depend on dictionary order.
            var best = pairs.OrderByDescending(p => p.Value).ThenBy(p => p.Key.Item1, StringComparer.Ordinal)
                .ThenBy(p => p.Key.Item2, StringComparer.Ordinal).First();
            if (best.Value < 2)
                break;
            merges.Add(best.Key);
            string joined = best.Key.Item1 + best.Key.Item2;
            foreach (var (symbols, _) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == best.Key.Item1 && symbols[i + 1] == best.Key.Item2)
                    {
                        symbols[i] = joined;
                        symbols.RemoveAt(i + 1);
                    }
        }
        return merges;
    }

    /// <summary>tokenizer.json: ids 0/1 are &lt;s&gt; and &lt;/s&gt;, then the 256 byte symbols, then one id per merge.</summary>
    public static JsonObject ToTokenizerJson(IReadOnlyList<(string A, string B)> merges)
    {
        var vocab = new JsonObject { [Bos] = 0, [Eos] = 1 };
        int next = 2;
        foreach (char c in ByteSymbols())
            vocab[c.ToString()] = next++;
        foreach (var (a, b) in merges)
            if (!vocab.ContainsKey(a + b))
                vocab[a + b] = next++;
        var mergeArray = new JsonArray(merges.Select(m => (JsonNode)$"{m.A} {m.B}").ToArray());
        JsonObject Special(string content, int id) => new()
        {
            ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        };
        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(Special(Bos, 0), Special(Eos, 1)),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = SplitPattern },
                        ["behavior"] = "Isolated", ["invert"] = false,
                    },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
            },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = Bos, ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["pair"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = Bos, ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "B", ["type_id"] = 1 } }),
                ["special_tokens"] = new JsonObject
                {
                    [Bos] = new JsonObject { ["id"] = Bos, ["ids"] = new JsonArray(0), ["tokens"] = new JsonArray(Bos) },
                },
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocab, ["merges"] = mergeArray,
            },
        };
    }

    /// <summary>The text's UTF-8 bytes as GPT-2's printable stand-ins (space → 'Ġ', newline → 'Ċ').</summary>
    public static string ToByteSymbols(string text)
    {
        var table = ByteSymbols();
        var sb = new StringBuilder();
        foreach (byte b in Encoding.UTF8.GetBytes(text))
            sb.Append(table[b]);
        return sb.ToString();
    }

    // GPT-2's byte → character table: printable Latin-1 bytes map to themselves, the rest to 256 + n in order.
    private static char[] ByteSymbols()
    {
        var table = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)(256 + extra++);
        }
        return table;
    }
}

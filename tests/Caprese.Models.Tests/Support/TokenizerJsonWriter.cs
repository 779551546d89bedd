using System.Text.Json;
using Caprese.Models.Tokenization;

namespace Caprese.Models.Tests.Support;

/// <summary>Writes minimal tokenizer.json files (BPE model, optional pre- and post-processor).</summary>
internal static class TokenizerJsonWriter
{
    /// <summary>A byte-level tokenizer for "hello world": ids 0 and 1 are &lt;|bos|&gt; and &lt;|eos|&gt;, "hello" is 13, " world" 17.</summary>
    public static Dictionary<string, int> HelloWorld(string dir, object? postProcessor = null)
    {
        // 'Ġ' is the byte-level stand-in for a space.
        string[] pieces = ["<|bos|>", "<|eos|>", "h", "e", "l", "o", "w", "r", "d", "Ġ", "he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "Ġworld", "ld"];
        var vocab = pieces.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i);
        string[] merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"];
        Write(dir, vocab, merges, byteFallback: false,
            preTokenizer: new
            {
                type = "Sequence",
                pretokenizers = new object[]
                {
                    new { type = "Split", pattern = new { Regex = @"[^\s\p{L}\p{N}]?\p{L}+| ?\p{L}+|\s+" }, behavior = "Isolated", invert = false },
                    new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = false },
                },
            },
            postProcessor: postProcessor);
        return vocab;
    }

    public static void Write(string dir, Dictionary<string, int> vocab, string[] merges, bool byteFallback, object? preTokenizer, object? postProcessor = null, object? normalizer = null)
    {
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = vocab.Where(kv => kv.Key.StartsWith('<') && kv.Key.EndsWith('>') && !kv.Key.StartsWith("<0x"))
                .Select(kv => new { id = kv.Value, content = kv.Key, special = true }).ToArray(),
            ["normalizer"] = normalizer,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = postProcessor,
            ["model"] = new Dictionary<string, object>
            {
                ["type"] = "BPE", ["byte_fallback"] = byteFallback, ["vocab"] = vocab, ["merges"] = merges,
            },
        };
        File.WriteAllText(Path.Combine(dir, HfTokenizerLoader.TokenizerJson), JsonSerializer.Serialize(json));
    }
}

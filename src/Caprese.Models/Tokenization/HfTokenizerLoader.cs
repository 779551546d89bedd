using System.Text.Json;
using System.Text.RegularExpressions;
using Caprese.Models.Loading;
using Microsoft.ML.Tokenizers;

namespace Caprese.Models.Tokenization;

/// <summary>
/// The tokenizer of a Hugging Face checkpoint directory:
/// tokenizer.json with a byte-level BPE model (Llama 3, Qwen2) through Microsoft.ML.Tokenizers' BpeTokenizer;
/// tokenizer.json with a SentencePiece-style BPE (byte_fallback, U+2581 word marks: Llama 2, Gemma) through
/// <see cref="SentencePieceBpeTokenizer"/>, merge rank standing in for the piece score;
/// otherwise tokenizer.model through Microsoft.ML.Tokenizers' LlamaTokenizer.
/// </summary>
public static class HfTokenizerLoader
{
    public const string TokenizerJson = "tokenizer.json";
    public const string SentencePieceModel = "tokenizer.model";

    /// <summary>The tokenizer, or null when the directory has none.</summary>
    /// <exception cref="ModelFormatException">tokenizer.json is malformed or of an unsupported kind.</exception>
    public static ITokenizer? Load(string directory, int? bosId, IReadOnlyCollection<int> eosIds)
    {
        var json = Path.Combine(directory, TokenizerJson);
        if (File.Exists(json))
            return FromTokenizerJson(json, bosId, eosIds);
        var model = Path.Combine(directory, SentencePieceModel);
        if (File.Exists(model))
        {
            using var stream = File.OpenRead(model);
            var inner = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
            return new MlTokenizerAdapter(inner, inner.Vocabulary.Count, bosId, eosIds);
        }
        return null;
    }

    private static ITokenizer FromTokenizerJson(string path, int? bosId, IReadOnlyCollection<int> eosIds)
    {
        using var doc = ParseJson(path);
        var root = doc.RootElement;
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(path, "model", "missing");
        string type = model.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
        if (type != "BPE")
            throw new ModelFormatException(path, "model.type", $"'{type}' is not supported (only BPE)");

        var vocab = ReadVocab(path, model);
        var added = ReadAddedTokens(root);
        foreach (var (piece, id) in added)
            vocab.TryAdd(piece, id);
        var merges = ReadMerges(path, model);
        bool byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;

        return byteFallback
            ? SentencePieceStyle(vocab, merges, added, bosId, eosIds, AddsDummyPrefix(root))
            : ByteLevel(path, root, vocab, merges, added, TemplateBos(root, vocab) ?? bosId, eosIds);
    }

    private static ITokenizer ByteLevel(string path, JsonElement root, Dictionary<string, int> vocab, List<string> merges,
        Dictionary<string, int> added, int? bosId, IReadOnlyCollection<int> eosIds)
    {
        var pattern = FindSplitPattern(root)
            ?? throw new ModelFormatException(path, "pre_tokenizer", "no Split regex found for the byte-level BPE");
        Regex regex;
        try { regex = new Regex(pattern, RegexOptions.Compiled); }
        catch (ArgumentException e) { throw new ModelFormatException(path, "pre_tokenizer", $"regex not usable by .NET: {e.Message}"); }
        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(regex, added.Count > 0 ? added : null),
            SpecialTokens = added.Count > 0 ? added : null,
        };
        var inner = BpeTokenizer.Create(options);
        return new MlTokenizerAdapter(inner, vocab.Values.Max() + 1, bosId >= 0 ? bosId : null, eosIds);
    }

    private static SentencePieceBpeTokenizer SentencePieceStyle(Dictionary<string, int> vocab, List<string> merges,
        Dictionary<string, int> added, int? bosId, IReadOnlyCollection<int> eosIds, bool addDummyPrefix)
    {
        int n = vocab.Values.Max() + 1;
        var pieces = new string[n];
        var scores = new float[n];
        var control = new bool[n];
        Array.Fill(pieces, "");
        foreach (var (piece, id) in vocab)
            pieces[id] = piece.Replace('\u2581', ' ');
        // Earlier merges win: a merged piece's score is minus its merge rank.
        for (int rank = 0; rank < merges.Count; rank++)
        {
            string merged = merges[rank].Replace(" ", "", StringComparison.Ordinal);
            if (vocab.TryGetValue(merged, out int id) && scores[id] == 0)
                scores[id] = -1 - rank;
        }
        foreach (var id in added.Values)
            control[id] = true;
        int unk = vocab.TryGetValue("<unk>", out int u) ? u : 0;
        return SentencePieceBpeTokenizer.FromVocabulary(pieces, scores, control, unk, bosId ?? 1, eosIds.Count > 0 ? eosIds.First() : 2, addDummyPrefix);
    }

    /// <summary>
    /// Whether a SentencePiece-style tokenizer.json prepends U+2581 to the text: a Prepend normalizer
    /// (Llama 2) or a Metaspace pre-tokenizer that prepends (newer exports). Gemma's has neither.
    /// </summary>
    private static bool AddsDummyPrefix(JsonElement root)
    {
        static string Compact(string json) => string.Concat(json.Where(c => !char.IsWhiteSpace(c)));
        string normalizer = root.TryGetProperty("normalizer", out var n) ? Compact(n.GetRawText()) : "";
        string pre = root.TryGetProperty("pre_tokenizer", out var p) ? Compact(p.GetRawText()) : "";
        return normalizer.Contains("\"Prepend\"", StringComparison.Ordinal)
            || (pre.Contains("\"Metaspace\"", StringComparison.Ordinal) && !pre.Contains("\"never\"", StringComparison.Ordinal)
                && !pre.Contains("\"add_prefix_space\":false", StringComparison.Ordinal));
    }

    /// <summary>
    /// The BOS a byte-level tokenizer prepends: the special token opening the post-processor's
    /// single-sequence template (Llama 3: &lt;|begin_of_text|&gt;). A post-processor without one means
    /// no BOS (Qwen2), so -1 is returned; null when there is no post-processor and the config decides.
    /// </summary>
    private static int? TemplateBos(JsonElement root, Dictionary<string, int> vocab)
    {
        if (!root.TryGetProperty("post_processor", out var post) || post.ValueKind != JsonValueKind.Object)
            return null;
        IEnumerable<JsonElement> processors = post.TryGetProperty("processors", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray() : [post];
        foreach (var p in processors)
        {
            if (!p.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array || single.GetArrayLength() == 0)
                continue;
            if (single[0].TryGetProperty("SpecialToken", out var st) && st.TryGetProperty("id", out var id)
                && vocab.TryGetValue(id.GetString() ?? "", out int bos))
                return bos;
        }
        return -1;
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, "tokenizer", $"invalid JSON: {e.Message}");
        }
    }

    private static Dictionary<string, int> ReadVocab(string path, JsonElement model)
    {
        if (!model.TryGetProperty("vocab", out var v) || v.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(path, "model.vocab", "missing or not an object");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
            vocab[p.Name] = p.Value.GetInt32();
        if (vocab.Count == 0)
            throw new ModelFormatException(path, "model.vocab", "empty");
        return vocab;
    }

    // Merges are "a b" strings in older files and ["a", "b"] pairs in newer ones.
    private static List<string> ReadMerges(string path, JsonElement model)
    {
        var merges = new List<string>();
        if (!model.TryGetProperty("merges", out var m) || m.ValueKind != JsonValueKind.Array)
            return merges;
        foreach (var e in m.EnumerateArray())
        {
            merges.Add(e.ValueKind switch
            {
                JsonValueKind.String => e.GetString()!,
                JsonValueKind.Array when e.GetArrayLength() == 2 => $"{e[0].GetString()} {e[1].GetString()}",
                _ => throw new ModelFormatException(path, "model.merges", $"entry {merges.Count} is neither \"a b\" nor [a, b]"),
            });
        }
        return merges;
    }

    private static Dictionary<string, int> ReadAddedTokens(JsonElement root)
    {
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var a) && a.ValueKind == JsonValueKind.Array)
            foreach (var e in a.EnumerateArray())
                if (e.TryGetProperty("content", out var c) && e.TryGetProperty("id", out var id))
                    added[c.GetString()!] = id.GetInt32();
        return added;
    }

    // The first Split pre-tokenizer's regex, looked for at the top level or inside a Sequence.
    private static string? FindSplitPattern(JsonElement root)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object)
            return null;
        IEnumerable<JsonElement> candidates = pre.TryGetProperty("pretokenizers", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray() : [pre];
        foreach (var c in candidates)
            if (c.TryGetProperty("type", out var ty) && ty.GetString() == "Split"
                && c.TryGetProperty("pattern", out var p) && p.TryGetProperty("Regex", out var r))
                return r.GetString();
        return null;
    }
}

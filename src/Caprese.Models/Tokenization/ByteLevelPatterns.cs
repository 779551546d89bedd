namespace Caprese.Models.Tokenization;

/// <summary>Pre-tokenizer regexes of byte-level BPE models, by llama.cpp's tokenizer.ggml.pre name.</summary>
internal static class ByteLevelPatterns
{
    // Contractions, letter runs with one leading non-letter, digit groups, punctuation runs, whitespace.
    private const string Llama3 =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // Qwen2 splits digits one by one.
    private const string Qwen2 =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static string For(string pre) => pre == "qwen2" ? Qwen2 : Llama3;
}

namespace Caprese.Models.Tokenization;

/// <summary>Text to token ids and back, with the special ids generation needs.</summary>
public interface ITokenizer
{
    int VocabSize { get; }

    /// <summary>The beginning-of-sequence id prepended by <see cref="Encode"/>, or null when the model uses none.</summary>
    int? BosId { get; }

    /// <summary>Ids that end generation (Llama 3.1 has several).</summary>
    IReadOnlyCollection<int> EosIds { get; }

    int[] Encode(string text, bool addBos = true, bool addEos = false);

    string Decode(ReadOnlySpan<int> ids);

    /// <summary>A decoder for streaming generated ids; <paramref name="previousToken"/> is the last prompt id (-1: none).</summary>
    ITextStreamDecoder CreateDecoder(int previousToken = -1);
}

/// <summary>Turns ids into text one at a time, holding back incomplete characters.</summary>
public interface ITextStreamDecoder
{
    /// <summary>The text token <paramref name="id"/> completes (possibly empty).</summary>
    string Append(int id);

    /// <summary>Whatever is still held back.</summary>
    string Flush();
}

using System.Globalization;
using Caprese.Models.Sessions;
using Caprese.Models.Tokenization;

namespace Caprese.Models.Decoding.Judge;

/// <summary>
/// A judge triple as token ids: the prompt, then a good and a bad answer that each follow it. This is what
/// <see cref="JudgeLabeler.FromTriple"/> reads; <see cref="DraftTripleSource"/> makes them straight from a model.
/// </summary>
/// <param name="Prompt">The prompt's ids (with BOS when the model uses one; may be empty).</param>
/// <param name="Good">The good answer's ids (not empty).</param>
/// <param name="Bad">The bad answer's ids (not empty).</param>
public sealed record JudgeTokenTriple(int[] Prompt, int[] Good, int[] Bad);

/// <summary>
/// Judge training examples from a real model: the hidden rows <see cref="JudgeLabeler.FromTriple"/> asks for come from a
/// dense <see cref="DecodeSession"/> (one prefill pass over prompt + answer returning every row's final hidden state),
/// and text triples are tokenized with the model's tokenizer.
/// </summary>
public static class JudgeDataset
{
    /// <summary>
    /// A hidden-rows function for <see cref="JudgeLabeler.FromTriple"/>: one <see cref="ForwardKind.Prefill"/> pass of
    /// <paramref name="session"/> over the tokens from position 0, every row's final hidden state (after the final
    /// norm), flattened to <c>[tokens × Dim]</c>. The session's keys are overwritten on every call.
    /// </summary>
    /// <exception cref="ArgumentException">The session's policy is not dense: its hidden states would not be the full model's.</exception>
    public static Func<int[], float[]> HiddenRows(DecodeSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        // Prefill runs every FFN dense anyway, but a TEAL policy masks linear inputs; a dense session rules that out.
        if (!session.Policy.IsDense)
            throw new ArgumentException($"judge examples need the dense model's hidden states; the session decodes with {session.Policy.Describe(session.Config.Layers)}", nameof(session));
        return tokens =>
        {
            ArgumentNullException.ThrowIfNull(tokens);
            return session.Forward(tokens, 0, ForwardKind.Prefill, new ForwardOutputs(OutputRows.All, Logits: false, Hidden: true)).AllHidden.ToArray();
        };
    }

    /// <summary>
    /// Tokenizes a text triple: the prompt with BOS (as <see cref="Generation.TextGenerator"/> feeds prompts), each
    /// answer without BOS and on its own, then placed after the prompt. Answers are therefore tokenized independently of
    /// the prompt's last word: write them as they continue the prompt (with a SentencePiece tokenizer the answer's first
    /// piece starts a new word, so "Once upon a" + "time" reads as two words either way).
    /// </summary>
    public static JudgeTokenTriple Tokenize(JudgeTriple triple, ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(triple);
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new JudgeTokenTriple(
            tokenizer.Encode(triple.Prompt, addBos: true),
            tokenizer.Encode(triple.Good, addBos: false),
            tokenizer.Encode(triple.Bad, addBos: false));
    }

    /// <summary>
    /// Labelled examples of every triple (<see cref="JudgeLabeler.FromTriple"/>), in order, with hidden states from
    /// <paramref name="session"/> (dense). <paramref name="progress"/> gets the number of triples done.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A triple has an empty answer or is longer than the model's context (the message gives its 0-based index), or
    /// the session is not dense.
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (between triples).</exception>
    public static List<JudgeExample> Examples(IEnumerable<JudgeTokenTriple> triples, DecodeSession session,
        IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(triples);
        var hiddenRows = HiddenRows(session);
        int context = session.Config.MaxSeqLen;
        var examples = new List<JudgeExample>();
        int index = 0;
        foreach (var triple in triples)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ArgumentNullException.ThrowIfNull(triple);
            string which = index.ToString(CultureInfo.InvariantCulture);
            int longest = triple.Prompt.Length + Math.Max(triple.Good.Length, triple.Bad.Length);
            if (longest > context)
                throw new ArgumentException($"triple {which}: prompt and answer take {longest} tokens; the model's context holds {context}", nameof(triples));
            if (triple.Good.Length == 0 || triple.Bad.Length == 0)
                throw new ArgumentException($"triple {which}: the {(triple.Good.Length == 0 ? "good" : "bad")} answer has no tokens", nameof(triples));
            examples.AddRange(JudgeLabeler.FromTriple(triple.Prompt, triple.Good, triple.Bad, hiddenRows));
            index++;
            progress?.Report(index); // not inside ?.(): the increment would be skipped without a progress
        }
        return examples;
    }
}

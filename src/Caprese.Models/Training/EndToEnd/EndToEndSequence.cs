using Caprese.Models.Sparsity;

namespace Caprese.Models.Training.EndToEnd;

/// <summary>
/// One stage-2 training sequence: <see cref="Tokens"/>[0 .. PromptLength) is the prompt (dense prefill, no adapter,
/// the source of the sparsity statistics), the rest the continuation (sparse FFN + adapter, teacher forced; the
/// loss is taken over these rows).
/// </summary>
public sealed record EndToEndSequence
{
    public EndToEndSequence(int[] tokens, int promptLength)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (promptLength < 1 || promptLength >= tokens.Length)
            throw new ArgumentOutOfRangeException(nameof(promptLength), promptLength,
                $"the prompt needs at least one token and the continuation at least one (sequence of {tokens.Length})");
        Tokens = tokens;
        PromptLength = promptLength;
    }

    public int[] Tokens { get; }
    public int PromptLength { get; }
    public int Length => Tokens.Length;

    /// <summary>Rows the loss covers: Length - PromptLength.</summary>
    public int ContinuationLength => Tokens.Length - PromptLength;
}

/// <summary>
/// The neuron masks of one sequence, as inference computes them from the dense prompt prefill: per sparsified
/// layer the GRIFFIN selection (fixed for the whole continuation) or the CATS threshold τ (the mask of a
/// continuation row is |act(x·Wg)| ≥ τ on that row's own FFN input). <see cref="RowMasks"/> optionally pins the
/// CATS row masks ([C, H] of 0/1 per layer), so a finite-difference check does not see a mask flip.
/// </summary>
public sealed class SequenceMasks
{
    internal SequenceMasks(SparsityMethod method, int layers)
    {
        Method = method;
        Kept = new int[]?[layers];
        Thresholds = new float[layers];
        RowMasks = new float[]?[layers];
    }

    public SparsityMethod Method { get; }

    /// <summary>GRIFFIN: the kept neurons of each sparsified layer (ascending); null elsewhere.</summary>
    public int[]?[] Kept { get; }

    /// <summary>CATS: τ of each sparsified layer (0 elsewhere).</summary>
    public float[] Thresholds { get; }

    /// <summary>CATS: pinned row masks [C·H] per sparsified layer, or null to threshold every forward.</summary>
    public float[]?[] RowMasks { get; }
}

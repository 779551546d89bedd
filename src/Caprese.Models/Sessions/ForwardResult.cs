namespace Caprese.Models.Sessions;

/// <summary>
/// The host copies a forward pass returned: for each returned row (the last, or all) its logits, greedy token and final
/// hidden state, as far as <see cref="ForwardOutputs"/> asked for them. Row r here is the pass's row
/// <see cref="FirstRow"/> + r, i.e. the prediction after feeding that row's token.
/// </summary>
public sealed class ForwardResult
{
    private readonly float[]? _logits;
    private readonly float[]? _hidden;
    private readonly int[]? _argmax;

    internal ForwardResult(int firstRow, int rows, int vocab, int dim, float[]? logits, int[]? argmax, float[]? hidden)
    {
        FirstRow = firstRow;
        Rows = rows;
        Vocab = vocab;
        Dim = dim;
        _logits = logits;
        _argmax = argmax;
        _hidden = hidden;
    }

    /// <summary>The pass row the first returned row is (0 for all rows, tokens − 1 for the last).</summary>
    public int FirstRow { get; }

    /// <summary>Rows returned.</summary>
    public int Rows { get; }

    public int Vocab { get; }
    public int Dim { get; }

    /// <summary>Logits of returned row <paramref name="row"/>.</summary>
    /// <exception cref="InvalidOperationException">Logits were not asked for.</exception>
    public ReadOnlySpan<float> Logits(int row) =>
        (_logits ?? throw new InvalidOperationException("this forward pass did not return logits (ForwardOutputs.Logits)"))
            .AsSpan(checked(Check(row) * Vocab), Vocab);

    /// <summary>The greedy token of returned row <paramref name="row"/>.</summary>
    /// <exception cref="InvalidOperationException">Argmax ids were not asked for.</exception>
    public int Argmax(int row) =>
        (_argmax ?? throw new InvalidOperationException("this forward pass did not compute argmax ids (ForwardOutputs.Argmax)"))[Check(row)];

    /// <summary>The final hidden state of returned row <paramref name="row"/>.</summary>
    /// <exception cref="InvalidOperationException">Hidden states were not asked for.</exception>
    public ReadOnlySpan<float> Hidden(int row) =>
        (_hidden ?? throw new InvalidOperationException("this forward pass did not return hidden states (ForwardOutputs.Hidden)"))
            .AsSpan(checked(Check(row) * Dim), Dim);

    /// <summary>All returned logits, [Rows, Vocab] row-major.</summary>
    public ReadOnlySpan<float> AllLogits => _logits ?? throw new InvalidOperationException("this forward pass did not return logits");

    /// <summary>All returned hidden states, [Rows, Dim] row-major.</summary>
    public ReadOnlySpan<float> AllHidden => _hidden ?? throw new InvalidOperationException("this forward pass did not return hidden states");

    private int Check(int row) =>
        (uint)row < (uint)Rows ? row : throw new ArgumentOutOfRangeException(nameof(row), row, $"the pass returned {Rows} row(s)");
}

namespace Caprese.Models.Sessions;

/// <summary>What a forward pass of a <see cref="DecodeSession"/> is, which decides how its FFNs run.</summary>
public enum ForwardKind
{
    /// <summary>
    /// Prompt rows: every FFN dense, and the rows feed the policy's statistics (GRIFFIN's scores, CATS's and TEAL's
    /// thresholds) unless they were calibrated on text. At position 0 it starts a new prompt; later prefills add to it.
    /// </summary>
    Prefill = 0,

    /// <summary>
    /// Generated rows (1 to <see cref="DecodeSession.MaxDecodeRows"/>): the session's policy runs the sparsified
    /// layers (the fused sparse FFN kernel, adapters included); GRIFFIN's every ρ-th token runs dense and re-selects.
    /// </summary>
    Decode = 1,

    /// <summary>
    /// Rows checked by the full model (speculative verification, Sirius correction): every FFN dense, the keys and
    /// values of those positions rewritten, and the policy's statistics left alone.
    /// </summary>
    Verify = 2,
}

/// <summary>Which rows of a forward pass are classified and returned.</summary>
public enum OutputRows
{
    /// <summary>None: only the keys and values are written (e.g. catching up on tokens whose logits are known).</summary>
    None = 0,

    /// <summary>The last row only (next-token prediction).</summary>
    Last = 1,

    /// <summary>Every row (verification of drafted tokens).</summary>
    All = 2,
}

/// <summary>What a forward pass returns for its <see cref="Rows"/>.</summary>
/// <param name="Rows">Which rows.</param>
/// <param name="Logits">Copy each row's logits to the host ([rows, Vocab]).</param>
/// <param name="Argmax">Each row's greedy token, computed on the backend (4 bytes a row reach the host).</param>
/// <param name="Hidden">Each row's final hidden state (after the final norm, the classifier's input; [rows, Dim]).</param>
public readonly record struct ForwardOutputs(OutputRows Rows = OutputRows.Last, bool Logits = true, bool Argmax = false, bool Hidden = false)
{
    /// <summary>The last row's logits.</summary>
    public static ForwardOutputs LastLogits => new(OutputRows.Last);

    /// <summary>The last row's greedy token only.</summary>
    public static ForwardOutputs LastArgmax => new(OutputRows.Last, Logits: false, Argmax: true);

    /// <summary>Nothing: keys and values only.</summary>
    public static ForwardOutputs Nothing => new(OutputRows.None, Logits: false);
}

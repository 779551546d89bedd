namespace Caprese.Models.Adapters;

/// <summary>How decode runs a layer's low-rank adapter next to its sparse FFN.</summary>
public enum AdapterForm
{
    /// <summary>
    /// Caprese's merged form: Lᵀ and R become r always-active extra neurons (gate 1) of the sparse FFN, so one
    /// wider <c>caprese_sparse_ffn</c> call does both (no extra kernel launch).
    /// </summary>
    Merged = 0,

    /// <summary>The sparse FFN, then t = x·L and y += t·R as two separate matrix products (a plain LoRA branch).</summary>
    Unmerged = 1,
}

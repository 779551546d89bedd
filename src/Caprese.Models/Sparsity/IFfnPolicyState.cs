using Caprese.Interop;

namespace Caprese.Models.Sparsity;

/// <summary>
/// One session's per-prompt state of an FFN method (GRIFFIN's selection, CATS's τ, TEAL's thresholds) and the hooks the
/// forward pass calls. A new method is one implementation plus one <see cref="FfnMethods"/> entry; the forward pass
/// (<see cref="Sessions.DecodeSession"/>) knows no method by name.
/// </summary>
internal interface IFfnPolicyState : IDisposable
{
    /// <summary>A prefill at position 0: the statistics of the previous prompt are dropped.</summary>
    void BeginPrompt();

    /// <summary>Whether a dense prefill feeds the statistics (false when thresholds were calibrated on text).</summary>
    bool ObservesPrefill { get; }

    /// <summary>Starts a decode chunk of <paramref name="rows"/> rows; true when it must run densely and observe (GRIFFIN's every ρ-th token).</summary>
    bool BeginDecode(int rows);

    /// <summary>Whether <paramref name="layer"/>'s FFN is sparsified.</summary>
    bool IsSparse(int layer);

    /// <summary>Whether observed FFN rows are wanted before the activation (CATS) rather than after it (GRIFFIN).</summary>
    bool ObservesPreActivation { get; }

    /// <summary>Adds the first <paramref name="rows"/> rows of a dense FFN's activations ([rows, H]) to the layer's statistics.</summary>
    void ObserveFfn(int layer, DeviceBuffer activations, int rows);

    /// <summary>Runs the layer's sparse FFN into <paramref name="y"/>; false (nothing written) when it has no selection yet.</summary>
    bool TryRunFfn(int layer, TensorDesc x, TensorDesc y);

    /// <summary>
    /// A linear projection's input ([rows, width of <paramref name="site"/>]) before it is used: a decode chunk may mask
    /// it in place (TEAL), a prefill may observe it.
    /// </summary>
    void OnLinearInput(int layer, TealSite site, DeviceBuffer input, int rows, bool decode);

    /// <summary>After a pass: <paramref name="observed"/> when its rows fed the statistics (then the selection is remade).</summary>
    void EndPass(bool prefill, bool observed);

    /// <summary>Whether decode steps change the state (GRIFFIN with ρ &gt; 0), so a rollback needs <see cref="CaptureState"/>.</summary>
    bool ChangesDuringDecode { get; }

    /// <summary>A copy of everything decode steps may change; null when nothing does.</summary>
    object? CaptureState();

    /// <summary>Puts back a state from <see cref="CaptureState"/>.</summary>
    void RestoreState(object? state);

    /// <summary>
    /// Whether a one-row sparse decode step (<see cref="TryRunFfn"/> on every layer) may be replayed from a CUDA graph:
    /// true with a <paramref name="version"/> that changes whenever the kernel arguments of those calls may change
    /// (selection made or dropped, thresholds, adapters); false when the step needs the host (TEAL's masks), which then
    /// runs eagerly.
    /// </summary>
    bool TryGetDecodeGraphVersion(out long version);
}

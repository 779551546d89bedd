using Caprese.Interop;

namespace Caprese.Models.Sparsity;

/// <summary>
/// Receives the activations of a dense prefill run by <see cref="Sessions.DecodeSession.PrefillObserving"/>
/// (calibration from text). Each batch of rows is announced by <see cref="BeginRows"/>; the buffers hold that many
/// rows and are valid only during the call.
/// </summary>
internal interface IPrefillObserver
{
    /// <summary>The next calls cover positions <paramref name="pos0"/> .. <paramref name="pos0"/> + <paramref name="rows"/> - 1.</summary>
    void BeginRows(int pos0, int rows);

    /// <summary>The FFN gate x·Wg of <paramref name="layer"/> before the activation, [rows, HiddenDim].</summary>
    void ObserveGate(int layer, DeviceBuffer gate);

    /// <summary>The input of one of the layer's linear projections, [rows, width of <paramref name="site"/>].</summary>
    void ObserveInput(int layer, TealSite site, DeviceBuffer input);
}

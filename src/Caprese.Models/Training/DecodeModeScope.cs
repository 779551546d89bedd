using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;

namespace Caprese.Models.Training;

/// <summary>
/// Switches a model to a given sparsity (dense by default) without adapters, and on disposal puts back the sparsity,
/// adapters and adapter form it had, so helpers that need a particular decode mode leave the caller's model as it was.
/// </summary>
internal sealed class DecodeModeScope : IDisposable
{
    private readonly TransformerModel _model;
    private readonly SparsityOptions _sparsity;
    private readonly AdapterSet? _adapters;
    private readonly AdapterForm _form;

    public DecodeModeScope(TransformerModel model, SparsityOptions? use = null)
    {
        _model = model;
        _sparsity = model.Sparsity;
        _adapters = model.Adapters;
        _form = model.AdapterForm;
        model.SetSparsity(use);
        model.SetAdapters(null);
    }

    public void Dispose()
    {
        _model.SetSparsity(_sparsity);
        if (_adapters is not null)
            _model.SetAdapters(_adapters, _form);
    }
}

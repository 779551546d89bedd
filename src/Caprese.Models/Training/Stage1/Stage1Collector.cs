using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;
using Caprese.Models.Training.Corpus;
using Caprese.Models.Transformer;

namespace Caprese.Models.Training.Stage1;

/// <summary>
/// Collects stage-1 data from the dense model. Per sequence: a dense prefill of the prompt under the target
/// sparsity (which computes GRIFFIN's selection or CATS's τ exactly as inference does), then the continuation
/// teacher-forced through dense decode steps. At each step every sparsified layer reports its FFN input x, the dense
/// FF(x) and the plain sparse FF̂(x) of the same x (the sparse kernel with that prompt's selection), and
/// T = FF(x) − FF̂(x) is what the adapter must add. Inputs come from the dense residual stream, as the paper
/// prescribes for stage 1 (stage 2 trains on the sparse model's own stream).
/// </summary>
public static class Stage1Collector
{
    /// <param name="model">The base model (its own decode settings are not used).</param>
    /// <param name="corpus">Sequences whose continuations give the rows (one per continuation token and layer).</param>
    /// <param name="sparsity">GRIFFIN or CATS; GRIFFIN's ρ is ignored (the prompt's selection is used throughout).</param>
    /// <param name="progress">Sequences done.</param>
    /// <param name="cancellationToken">Checked between sequences.</param>
    public static Stage1Dataset Collect(TransformerModel model, DistillationCorpus corpus, SparsityOptions sparsity,
        IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(sparsity);
        if (sparsity.Method is not (SparsityMethod.Griffin or SparsityMethod.Cats))
            throw new ArgumentException($"stage 1 trains adapters for GRIFFIN or CATS, not {sparsity.Method}", nameof(sparsity));
        if (corpus.Count == 0)
            throw new ArgumentException("the corpus is empty", nameof(corpus));
        if (corpus.MaxLength > model.Config.MaxSeqLen)
            throw new ArgumentException($"a sequence of {corpus.MaxLength} tokens exceeds the context of {model.Config.MaxSeqLen}", nameof(corpus));

        int d = model.Config.Dim, rows = corpus.ContinuationTokens;
        var (first, end) = sparsity.LayerRange(model.Config.Layers);
        var inputs = new float[end - first][];
        var targets = new float[end - first][];
        for (int i = 0; i < inputs.Length; i++)
        {
            inputs[i] = new float[(long)rows * d];
            targets[i] = new float[(long)rows * d];
        }

        int row = 0;
        void Capture(int layer, ReadOnlySpan<float> x, ReadOnlySpan<float> dense, ReadOnlySpan<float> sparse)
        {
            int li = layer - first;
            x.CopyTo(inputs[li].AsSpan(row * d, d));
            var t = targets[li].AsSpan(row * d, d);
            for (int k = 0; k < d; k++)
                t[k] = dense[k] - sparse[k];
        }

        // A session of its own with the target sparsity and no adapters: the model's own settings do not matter.
        using (var session = model.CreateSession(new FfnPolicy(sparsity)))
        {
            for (int s = 0; s < corpus.Count; s++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var seq = corpus[s];
                session.Forward(seq.Prompt, 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
                for (int i = 0; i < seq.Continuation.Length; i++, row++)
                    session.DecodeCapturingFfn(seq.Continuation[i], seq.Prompt.Length + i, Capture);
                progress?.Report(s + 1);
            }
        }
        var layers = Enumerable.Range(first, end - first).Select(l => new LayerSamples(l, d, inputs[l - first], targets[l - first])).ToList();
        return new Stage1Dataset(sparsity, model.Config.Layers, layers);
    }
}

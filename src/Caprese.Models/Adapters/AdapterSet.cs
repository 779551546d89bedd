using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;

namespace Caprese.Models.Adapters;

/// <summary>
/// The adapters of every sparsified layer of one model for one sparsity setting (method, level, layer range):
/// what training produces, what an adapter file holds and what decode applies.
/// </summary>
public sealed class AdapterSet
{
    private readonly LowRankAdapter?[] _byLayer;

    /// <param name="layers">Model layer count.</param>
    /// <param name="sparsity">The sparsity the adapters repair; one adapter per sparsified layer.</param>
    /// <param name="adapters">One per sparsified layer, all of the same rank and dimension.</param>
    public AdapterSet(int layers, SparsityOptions sparsity, IEnumerable<LowRankAdapter> adapters)
    {
        ArgumentNullException.ThrowIfNull(sparsity);
        ArgumentNullException.ThrowIfNull(adapters);
        var (first, end) = sparsity.LayerRange(layers);
        _byLayer = new LowRankAdapter?[layers];
        var list = adapters.ToList();
        foreach (var a in list)
        {
            if (a.Layer < first || a.Layer >= end)
                throw new ArgumentException($"adapter for layer {a.Layer} outside the sparsified layers {first}..{end - 1}");
            if (_byLayer[a.Layer] is not null)
                throw new ArgumentException($"two adapters for layer {a.Layer}");
            if (a.Rank != list[0].Rank || a.Dim != list[0].Dim)
                throw new ArgumentException($"adapter for layer {a.Layer} is {a.Dim}x{a.Rank}, layer {list[0].Layer}'s {list[0].Dim}x{list[0].Rank}");
            _byLayer[a.Layer] = a;
        }
        for (int l = first; l < end; l++)
            if (_byLayer[l] is null)
                throw new ArgumentException($"no adapter for sparsified layer {l}");
        Sparsity = sparsity;
        Adapters = list.OrderBy(a => a.Layer).ToList();
        Rank = list[0].Rank;
        Dim = list[0].Dim;
    }

    public SparsityOptions Sparsity { get; }
    public IReadOnlyList<LowRankAdapter> Adapters { get; }
    public int Rank { get; }
    public int Dim { get; }
    public int LayerCount => _byLayer.Length;

    /// <summary>The adapter of <paramref name="layer"/>, or null when that layer is not sparsified.</summary>
    public LowRankAdapter? ForLayer(int layer) => (uint)layer < (uint)_byLayer.Length ? _byLayer[layer] : null;

    public long ParameterCount => Adapters.Sum(a => a.ParameterCount);

    /// <summary>
    /// Why these adapters cannot decode a model of <paramref name="config"/> under <paramref name="active"/>
    /// sparsity, or null when they fit: an adapter repairs one sparse FFN (method, level, layers), so all three must
    /// be the ones it was trained for. GRIFFIN's ρ and path do not change what the sparse FFN computes and are not compared.
    /// </summary>
    public string? MismatchWith(ModelConfig config, SparsityOptions active)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(active);
        if (Dim != config.Dim)
            return $"adapters are for model dimension {Dim}, the model has {config.Dim}";
        if (LayerCount != config.Layers)
            return $"adapters are for a {LayerCount}-layer model, the model has {config.Layers}";
        if (active.Method is not (SparsityMethod.Griffin or SparsityMethod.Cats))
            return $"adapters repair GRIFFIN or CATS decode, the model's sparsity is {active.Method} (call SetSparsity first)";
        if (active.Method != Sparsity.Method || active.Sparsity != Sparsity.Sparsity)
            return $"adapters were trained for {Sparsity.Method} at {Sparsity.Sparsity}, the model runs {active.Method} at {active.Sparsity}";
        var (first, end) = Sparsity.LayerRange(LayerCount);
        var (activeFirst, activeEnd) = active.LayerRange(config.Layers);
        if (first != activeFirst || end != activeEnd)
            return $"adapters cover sparsified layers {first}..{end - 1}, the model sparsifies {activeFirst}..{activeEnd - 1}";
        return null;
    }

    /// <summary>Fresh adapters (R = 0, L random) for every layer <paramref name="sparsity"/> sparsifies.</summary>
    public static AdapterSet CreateInitial(ModelConfig config, SparsityOptions sparsity, int rank, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        var rng = new Random(seed);
        var (first, end) = sparsity.LayerRange(config.Layers);
        var adapters = new List<LowRankAdapter>();
        for (int l = first; l < end; l++)
            adapters.Add(LowRankAdapter.CreateInitial(l, config.Dim, rank, rng));
        return new AdapterSet(config.Layers, sparsity, adapters);
    }

    /// <summary>
    /// The rank that adds about <paramref name="fraction"/> (default 1%, the paper's budget: r = 256 at 7-9B) of the
    /// model's parameters over the sparsified layers, at least 1 and at most D.
    /// </summary>
    public static int DefaultRank(ModelConfig config, SparsityOptions sparsity, double fraction = 0.01)
    {
        ArgumentNullException.ThrowIfNull(config);
        var (first, end) = sparsity.LayerRange(config.Layers);
        double perLayer = 2.0 * config.Dim;
        double rank = fraction * ModelParameterCount(config) / (perLayer * (end - first));
        return (int)Math.Clamp(Math.Round(rank), 1, config.Dim);
    }

    /// <summary>Parameters of the base model (embeddings, attention, FFN, norms; the classifier once when tied).</summary>
    // Named apart from the instance ParameterCount (the adapters' own), which C# cannot overload with a static member.
    public static long ModelParameterCount(ModelConfig c)
    {
        long d = c.Dim, h = c.HiddenDim;
        long attention = d * c.QueryDim * 2 + d * c.KvDim * 2;
        long perLayer = attention + 3 * d * h + 2 * d;
        long embeddings = (long)c.Vocab * d * (c.TiedEmbeddings ? 1 : 2);
        return embeddings + c.Layers * perLayer + d;
    }
}

using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Training.EndToEnd;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Training.EndToEnd;

/// <summary>Sequences, adapters and finite differences shared by the stage-2 tests.</summary>
internal static class EndToEndTestData
{
    /// <summary>
    /// Sequences the dense model writes itself (the paper's honest substitute for a distillation set): a BOS-led
    /// prompt of random tokens, then a sampled continuation (temperature 1, seeded).
    /// </summary>
    public static List<EndToEndSequence> Sampled(LoadedModel loaded, int count, int promptLength, int length, int seed, int bos = 1)
    {
        var model = loaded.Model;
        model.SetSparsity(null);
        var rng = new Random(seed);
        var result = new List<EndToEndSequence>();
        for (int n = 0; n < count; n++)
        {
            var tokens = new int[length];
            tokens[0] = bos;
            for (int i = 1; i < promptLength; i++)
                tokens[i] = rng.Next(3, loaded.Config.Vocab);
            var sampling = new SamplingParams(1f, Seed: (ulong)rng.Next());
            tokens[promptLength] = model.PrefillSample(tokens.AsSpan(0, promptLength), 0, sampling);
            for (int i = promptLength + 1; i < length; i++)
                tokens[i] = model.DecodeStepSample(tokens[i - 1], i - 1, sampling with { Offset = (ulong)i });
            result.Add(new EndToEndSequence(tokens, promptLength));
        }
        return result;
    }

    /// <summary>The ops a test runs on: "host" (<see cref="HostTrainingOps"/>) or "native" (<see cref="NativeTrainingOps"/> on the model's context).</summary>
    public static ITrainingOps Ops(string kind, LoadedModel loaded) => kind switch
    {
        "host" => new HostTrainingOps(),
        "native" => new NativeTrainingOps(loaded.Context),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>Random token ids (synthetic models have no meaningful text).</summary>
    public static EndToEndSequence Random(ModelConfig config, int promptLength, int length, int seed)
    {
        var rng = new Random(seed);
        return new EndToEndSequence([.. Enumerable.Range(0, length).Select(_ => rng.Next(config.Vocab))], promptLength);
    }

    /// <summary>Adapters with both L and R random (R = 0 would make dL vanish).</summary>
    public static AdapterSet RandomAdapters(ModelConfig config, SparsityOptions sparsity, int rank, int seed, float rScale = 0.3f)
    {
        var set = AdapterSet.CreateInitial(config, sparsity, rank, seed);
        var rng = new Random(seed + 1);
        foreach (var a in set.Adapters)
            for (int i = 0; i < a.R.Length; i++)
                a.R[i] = rScale * (float)(2 * rng.NextDouble() - 1) / MathF.Sqrt(rank);
        return set;
    }

    /// <summary>Masks of the sequence, with CATS's row masks pinned at the current adapters.</summary>
    public static SequenceMasks PinnedMasks(EndToEndGraph graph, EndToEndSequence sequence)
    {
        var masks = graph.ComputeMasks(sequence);
        if (masks.Method == SparsityMethod.Cats)
        {
            graph.Loss(sequence, masks);
            graph.FreezeRowMasks(masks);
        }
        return masks;
    }

    /// <summary>Analytic gradients of every adapter (layer → (dL, dR)).</summary>
    public static Dictionary<int, (float[] L, float[] R)> Gradients(EndToEndGraph graph, EndToEndSequence sequence, SequenceMasks masks)
    {
        graph.ZeroGradients();
        graph.AccumulateGradients(sequence, 1f, masks);
        var result = new Dictionary<int, (float[], float[])>();
        for (int l = graph.FirstLayer; l < graph.EndLayer; l++)
            result[l] = graph.DownloadGradients(l);
        return result;
    }

    /// <summary>Central difference of the loss along <paramref name="direction"/> (layer → (uL, uR)), step h.</summary>
    public static double DirectionalDifference(EndToEndGraph graph, AdapterSet adapters, EndToEndSequence sequence, SequenceMasks masks,
        Dictionary<int, (float[] L, float[] R)> direction, double h)
    {
        var original = adapters.Adapters.Select(a => (L: (float[])a.L.Clone(), R: (float[])a.R.Clone())).ToList();
        double Eval(double sign)
        {
            for (int i = 0; i < adapters.Adapters.Count; i++)
            {
                var a = adapters.Adapters[i];
                var (ul, ur) = direction[a.Layer];
                for (int j = 0; j < a.L.Length; j++)
                    a.L[j] = (float)(original[i].L[j] + sign * h * ul[j]);
                for (int j = 0; j < a.R.Length; j++)
                    a.R[j] = (float)(original[i].R[j] + sign * h * ur[j]);
            }
            graph.LoadAdapters(adapters);
            return graph.Loss(sequence, masks);
        }
        double fd = (Eval(+1) - Eval(-1)) / (2 * h);
        for (int i = 0; i < adapters.Adapters.Count; i++)
        {
            original[i].L.CopyTo(adapters.Adapters[i].L, 0);
            original[i].R.CopyTo(adapters.Adapters[i].R, 0);
        }
        graph.LoadAdapters(adapters);
        return fd;
    }

    /// <summary>Central difference of the loss in one entry of L or R of one layer; the step is the f32 difference actually applied.</summary>
    public static double EntryDifference(EndToEndGraph graph, AdapterSet adapters, EndToEndSequence sequence, SequenceMasks masks,
        int layer, bool inR, int index, float h)
    {
        var a = adapters.ForLayer(layer)!;
        var array = inR ? a.R : a.L;
        float original = array[index];
        float plus = original + h, minus = original - h;
        array[index] = plus;
        graph.LoadAdapters(adapters);
        double lp = graph.Loss(sequence, masks);
        array[index] = minus;
        graph.LoadAdapters(adapters);
        double lm = graph.Loss(sequence, masks);
        array[index] = original;
        graph.LoadAdapters(adapters);
        return (lp - lm) / ((double)plus - minus);
    }

    /// <summary>A random direction of unit norm over all adapter parameters.</summary>
    public static Dictionary<int, (float[] L, float[] R)> RandomDirection(AdapterSet adapters, int seed)
    {
        var rng = new Random(seed);
        var d = adapters.Adapters.ToDictionary(a => a.Layer, a => (L: new float[a.L.Length], R: new float[a.R.Length]));
        double norm2 = 0;
        foreach (var (l, r) in d.Values)
            foreach (var arr in new[] { l, r })
                for (int i = 0; i < arr.Length; i++)
                {
                    arr[i] = (float)(2 * rng.NextDouble() - 1);
                    norm2 += arr[i] * arr[i];
                }
        float inv = (float)(1 / Math.Sqrt(norm2));
        foreach (var (l, r) in d.Values)
            foreach (var arr in new[] { l, r })
                for (int i = 0; i < arr.Length; i++)
                    arr[i] *= inv;
        return d;
    }

    public static double Dot(Dictionary<int, (float[] L, float[] R)> a, Dictionary<int, (float[] L, float[] R)> b) =>
        a.Keys.Sum(k => a[k].L.Zip(b[k].L).Sum(p => (double)p.First * p.Second) + a[k].R.Zip(b[k].R).Sum(p => (double)p.First * p.Second));

    /// <summary>Indices of the largest |g| entries (most informative for a finite-difference check).</summary>
    public static int[] Largest(float[] g, int count) =>
        [.. Enumerable.Range(0, g.Length).OrderByDescending(i => Math.Abs(g[i])).Take(count)];
}

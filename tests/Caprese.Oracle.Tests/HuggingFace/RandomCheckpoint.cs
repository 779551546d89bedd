using System.Text.Json.Nodes;
using Caprese.Models.Formats.Safetensors;
using Caprese.Oracle.Tests.Reference;

namespace Caprese.Oracle.Tests.HuggingFace;

/// <summary>
/// Random weights for a <see cref="FamilyCase"/>, written as a sharded Hugging Face checkpoint:
/// config.json, model-0000k-of-0000n.safetensors and model.safetensors.index.json.
/// </summary>
internal static class RandomCheckpoint
{
    public const int Shards = 3;

    /// <summary>
    /// Values are scaled so activations stay O(1) through the layers (matrices ~ U(±√(3/fan_in)),
    /// i.e. unit variance out for unit variance in), which keeps softmax and soft-caps in their
    /// non-trivial ranges. Norm weights vary around their neutral value (1, or 0 for Gemma's 1+w).
    /// </summary>
    public static Dictionary<string, float[]> Weights(OracleConfig config, int seed, bool gemmaNorms)
    {
        var rng = new Random(seed);
        var weights = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, shape) in TorchDecoder.ExpectedShapes(config))
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            var data = new float[count];
            bool isNorm = shape.Length == 1 && name.EndsWith("norm.weight", StringComparison.Ordinal);
            bool isBias = name.EndsWith(".bias", StringComparison.Ordinal);
            double amplitude = isNorm ? 0.3 : isBias ? 0.5 : name == "model.embed_tokens.weight" ? 1.0 : Math.Sqrt(3.0 / shape[^1]);
            double center = isNorm && !gemmaNorms ? 1.0 : 0.0;
            for (long i = 0; i < count; i++)
                data[i] = (float)(center + amplitude * (2 * rng.NextDouble() - 1));
            weights[name] = data;
        }
        return weights;
    }

    public static void Write(string directory, FamilyCase c, IReadOnlyDictionary<string, float[]> weights)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), c.ConfigJson());

        // Round-robin over the shards in name order, so every shard holds several tensors of
        // different layers, the way real checkpoints spread them.
        var names = weights.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();
        var shapes = TorchDecoder.ExpectedShapes(c.ToOracle()).ToDictionary(s => s.Name, s => s.Shape);
        var weightMap = new JsonObject();
        long totalBytes = 0;
        for (int s = 0; s < Shards; s++)
        {
            string file = $"model-{s + 1:D5}-of-{Shards:D5}.safetensors";
            var tensors = names.Where((_, i) => i % Shards == s)
                .Select(n => SafetensorsTensorData.FromFloats(n, shapes[n], weights[n]))
                .ToList();
            SafetensorsWriter.Write(Path.Combine(directory, file), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var t in tensors)
            {
                weightMap[t.Name] = file;
                totalBytes += t.Data.Length;
            }
        }
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = totalBytes },
            ["weight_map"] = weightMap,
        };
        File.WriteAllText(Path.Combine(directory, SafetensorsCheckpoint.IndexFileName), index.ToJsonString());
    }
}

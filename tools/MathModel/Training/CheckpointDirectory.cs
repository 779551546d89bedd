using Caprese.Models.Formats;
using System.Text.Json;
using System.Text.Json.Nodes;
using Caprese.MathModel.Model;
using Caprese.Models.Formats.Safetensors;
using static TorchSharp.torch;

namespace Caprese.MathModel.Training;

/// <summary>
/// A Hugging Face style model directory: config.json, model.safetensors (f16), tokenizer.json, and training_state.json
/// (the step it was written at). Files go in under temporary names and are renamed, so a directory never holds a
/// half-written model.
/// </summary>
public static class CheckpointDirectory
{
    public const string StateFile = "training_state.json";

    public static void Write(string directory, ArithLlama model, JsonObject tokenizerJson, int step, IReadOnlyDictionary<string, string>? extra = null)
    {
        Directory.CreateDirectory(directory);
        var tensors = model.Parameters.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => SafetensorsTensorData.FromFloats(kv.Key, kv.Value.shape, Values(kv.Value), SafetensorsDType.F16))
            .ToList();
        SafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        WriteText(directory, "config.json", model.Config.ToHfConfig(0, 1).ToJsonString(Indented));
        WriteText(directory, "tokenizer.json", tokenizerJson.ToJsonString(Indented));
        var state = new JsonObject { ["step"] = step };
        foreach (var (k, v) in extra ?? new Dictionary<string, string>())
            state[k] = v;
        WriteText(directory, StateFile, state.ToJsonString(Indented));
    }

    /// <summary>The step a checkpoint was written at, and its weights as f32 (f16-rounded, as saved).</summary>
    public static (int Step, Dictionary<string, float[]> Weights) Read(string directory)
    {
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(directory, StateFile)))!;
        using var file = SafetensorsFile.Open(Path.Combine(directory, "model.safetensors"));
        var weights = file.Tensors.ToDictionary(t => t.Name, t => t.DequantizeToF32(), StringComparer.Ordinal);
        return (state["step"]!.GetValue<int>(), weights);
    }

    private static float[] Values(Tensor t)
    {
        using var _ = no_grad();
        return t.detach().contiguous().data<float>().ToArray();
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static void WriteText(string directory, string name, string text) =>
        AtomicFile.WriteAllText(Path.Combine(directory, name), text + "\n");
}

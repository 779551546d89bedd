using System.Globalization;
using System.Text.Json;
using Caprese.Models.Adapters;
using Caprese.Models.Transformer;

namespace Caprese.Models.Training.Pipeline;

/// <summary>
/// A distillation checkpoint: one adapter file (written atomically by <see cref="AdapterFile.Save"/>, so an
/// interruption leaves the previous checkpoint whole) whose metadata also records how far the run got: the stage-1
/// layers done, the stage-2 epochs done, the settings fingerprint and the loss history.
/// </summary>
public sealed class DistillationCheckpoint
{
    private const string Prefix = "checkpoint.";

    public DistillationCheckpoint(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    public string Path { get; }

    public bool Exists => File.Exists(Path);

    /// <summary>A saved state: the adapters so far and the progress markers.</summary>
    public sealed record State(AdapterSet Adapters, string Settings, IReadOnlySet<int> Stage1LayersDone, int Stage2EpochsDone,
        DistillationHistory History);

    public void Save(AdapterSet adapters, ModelFingerprint baseModel, State state)
    {
        var training = new Dictionary<string, string>
        {
            [Prefix + "settings"] = state.Settings,
            [Prefix + "stage1_layers_done"] = string.Join(",", state.Stage1LayersDone.Order()),
            [Prefix + "stage2_epochs_done"] = state.Stage2EpochsDone.ToString(CultureInfo.InvariantCulture),
            [Prefix + "history"] = HistoryJson.Serialize(state.History),
        };
        string? dir = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(dir))
            Directory.CreateDirectory(dir);
        AdapterFile.Save(Path, adapters, new AdapterMetadata(baseModel, training));
    }

    /// <summary>
    /// Loads the checkpoint for <paramref name="model"/>; null when there is none.
    /// </summary>
    /// <exception cref="InvalidDataException">The checkpoint belongs to other settings (or another model: the adapter
    /// file's own checks), or its progress markers are unreadable.</exception>
    public State? TryLoad(TransformerModel model, string settings)
    {
        if (!Exists)
            return null;
        var content = AdapterFile.Load(Path, model);
        var t = content.Metadata.TrainingSettings;
        if (!t.TryGetValue(Prefix + "settings", out var saved))
            throw new InvalidDataException($"{Path}: an adapter file but not a distillation checkpoint (no {Prefix}settings)");
        if (saved != settings)
            throw new InvalidDataException($"{Path}: checkpoint of other settings ({saved}); this run is ({settings}). " +
                "Run with the same settings to resume, or delete the checkpoint to start over.");
        try
        {
            var layers = t.GetValueOrDefault(Prefix + "stage1_layers_done", "")
                .Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToHashSet();
            int epochs = int.Parse(t.GetValueOrDefault(Prefix + "stage2_epochs_done", "0"), CultureInfo.InvariantCulture);
            var history = t.TryGetValue(Prefix + "history", out var h) ? HistoryJson.Deserialize(h) : new DistillationHistory();
            return new State(content.Adapters, saved, layers, epochs, history);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or JsonException)
        {
            throw new InvalidDataException($"{Path}: unreadable checkpoint progress: {ex.Message}", ex);
        }
    }

    public void Delete()
    {
        if (Exists)
            File.Delete(Path);
    }

    // Tuples do not serialise by name; a flat DTO keeps the JSON readable.
    private static class HistoryJson
    {
        private sealed record Dto(
            Dictionary<int, List<double>> Stage1EpochLoss, Dictionary<int, double> Stage1OptimumLoss, Dictionary<int, double> Stage1SparseLoss,
            List<double> Stage2StepLoss, List<int> Stage2HeldOutSteps, List<double> Stage2HeldOutLoss,
            double Stage1TokensPerSecond, double Stage2TokensPerSecond);

        public static string Serialize(DistillationHistory h) => JsonSerializer.Serialize(new Dto(
            new(h.Stage1EpochLoss), new(h.Stage1OptimumLoss), new(h.Stage1SparseLoss), h.Stage2StepLoss,
            h.Stage2HeldOutLoss.Select(p => p.Step).ToList(), h.Stage2HeldOutLoss.Select(p => p.Loss).ToList(),
            h.Stage1TokensPerSecond, h.Stage2TokensPerSecond));

        public static DistillationHistory Deserialize(string json)
        {
            var d = JsonSerializer.Deserialize<Dto>(json) ?? throw new JsonException("empty history");
            if (d.Stage2HeldOutSteps.Count != d.Stage2HeldOutLoss.Count)
                throw new JsonException("held-out steps and losses differ in length");
            return new DistillationHistory
            {
                Stage1EpochLoss = new(d.Stage1EpochLoss),
                Stage1OptimumLoss = new(d.Stage1OptimumLoss),
                Stage1SparseLoss = new(d.Stage1SparseLoss),
                Stage2StepLoss = d.Stage2StepLoss,
                Stage2HeldOutLoss = d.Stage2HeldOutSteps.Zip(d.Stage2HeldOutLoss).ToList(),
                Stage1TokensPerSecond = d.Stage1TokensPerSecond,
                Stage2TokensPerSecond = d.Stage2TokensPerSecond,
            };
        }
    }
}

using Caprese.Models.Training.Pipeline;
using Caprese.Plotting;

namespace Caprese.Cli.Training;

/// <summary>The loss curves of a distillation run as one PNG: stage 1 per layer (with the closed-form optimum), stage 2.</summary>
internal static class LossPlots
{
    public static void Save(string path, DistillationHistory history)
    {
        var panels = new List<LinePlot>();
        if (history.Stage1EpochLoss.Values.Any(v => v.Count > 0))
        {
            var stage1 = new LinePlot("Stage 1: layer-wise MSE ||FF(x) - FF^(x) - xLR||^2", "epoch", "mean squared error");
            foreach (var (layer, losses) in history.Stage1EpochLoss.Where(p => p.Value.Count > 0))
            {
                var epochs = Enumerable.Range(1, losses.Count).Select(e => (double)e).ToArray();
                stage1.Add($"layer {layer}", epochs, losses);
                if (history.Stage1OptimumLoss.TryGetValue(layer, out double optimum))
                    stage1.Add($"layer {layer} optimum", [1, losses.Count], [optimum, optimum], markers: false, dashed: true);
            }
            panels.Add(stage1);
        }
        if (history.Stage2StepLoss.Count > 0)
        {
            var stage2 = new LinePlot("Stage 2: end-to-end MSE of the final hidden states", "optimiser step", "loss");
            // Checkpoints keep whole epochs of step losses, so entry i is step i + 1 even across a resume.
            var steps = Enumerable.Range(1, history.Stage2StepLoss.Count).Select(s => (double)s).ToArray();
            stage2.Add("training batch", steps, history.Stage2StepLoss, markers: false);
            if (history.Stage2HeldOutLoss.Count > 0)
                stage2.Add("held-out", history.Stage2HeldOutLoss.Select(p => (double)p.Step).ToArray(), history.Stage2HeldOutLoss.Select(p => p.Loss).ToArray());
            panels.Add(stage2);
        }
        if (panels.Count > 0)
            LinePlot.SaveGridPng(path, panels, columns: panels.Count);
    }
}

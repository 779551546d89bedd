using System.CommandLine;

namespace Caprese.Cli.Commands;

/// <summary>How the next token is chosen, as generate and eval-math take it: <c>--temperature</c>, <c>--top-k</c>, <c>--top-p</c>, <c>--seed</c>.</summary>
internal sealed class SamplingArguments
{
    public SamplingArguments()
    {
        Temperature.Validators.Add(r => { float t = r.GetValueOrDefault<float>(); if (!(t >= 0) || float.IsInfinity(t)) r.AddError("--temperature must be a finite value >= 0"); });
        TopK.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--top-k must be >= 0"); });
        TopP.Validators.Add(r => { float p = r.GetValueOrDefault<float>(); if (!(p > 0 && p <= 1)) r.AddError("--top-p must be in (0, 1]"); });
    }

    public Option<float> Temperature { get; } = new("--temperature", "-t") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
    public Option<int> TopK { get; } = new("--top-k") { Description = "Sample among the K most likely tokens (0 = off)", DefaultValueFactory = _ => 0 };
    public Option<float> TopP { get; } = new("--top-p") { Description = "Sample among the most likely tokens holding probability P (1 = off)", DefaultValueFactory = _ => 1f };
    public Option<int?> Seed { get; } = new("--seed", "-s") { Description = "Random seed for sampling" };

    public IEnumerable<Option> All => [Temperature, TopK, TopP, Seed];
}

using System.CommandLine;
using Caprese.Interop;
using Caprese.Models;

namespace Caprese.Cli.Commands;

/// <summary>Where a command runs its model: <c>--backend</c>, <c>--device</c>, <c>--threads</c>, checked alike everywhere.</summary>
internal sealed class BackendArguments
{
    public BackendArguments(string backendDescription = "cpu or cuda (cuda never falls back to the CPU)")
    {
        Backend.Description = backendDescription;
        Backend.AcceptOnlyFromAmong("cpu", "cuda");
        Threads.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--threads must be >= 0"); });
        Device.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--device must be >= 0"); });
    }

    public Option<string> Backend { get; } = new("--backend", "-b") { DefaultValueFactory = _ => "cpu" };
    public Option<int> Device { get; } = new("--device", "-d") { Description = "CUDA device ordinal", DefaultValueFactory = _ => 0 };
    public Option<int> Threads { get; } = new("--threads") { Description = "CPU worker threads (0 = one per hardware thread)", DefaultValueFactory = _ => 0 };

    public IEnumerable<Option> All => [Backend, Device, Threads];

    /// <summary>The load options these flags ask for (weights f32, model's own context: adjust with <c>with</c>).</summary>
    public ModelLoadOptions LoadOptions(ParseResult parse) =>
        new(parse.GetValue(Backend) == "cuda" ? BackendKind.Cuda : BackendKind.Cpu, parse.GetValue(Device), NumThreads: parse.GetValue(Threads));
}
